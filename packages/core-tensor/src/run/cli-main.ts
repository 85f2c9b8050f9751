// One entry point for every rlhfkit command line (the `rlhfkit` app and the per-step nx targets): one-line errors.
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';

/**
 * Parses argv with the given commands and runs the chosen one. A user error (bad flag, missing file, a handler
 * that throws) prints `<scriptName>: <message>` and exits 1 — never the whole --help text or a stack trace.
 * Set RLHFKIT_DEBUG=1 to see the stack.
 */
export async function runCli(
  scriptName: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  commands: CommandModule<any, any>[],
  argv: string[] = hideBin(process.argv),
): Promise<void> {
  const names = commands.map((c) => String(c.command ?? '').split(' ')[0]).filter(Boolean);
  try {
    // yargs throws validation failures synchronously and handler failures asynchronously: one catch for both.
    await yargs(argv)
      .scriptName(scriptName)
      .command(commands)
      .demandCommand(1, `Name a subcommand (${names.join(', ')}); \`${scriptName} --help\` lists them.`)
      .strictCommands()
      .recommendCommands()
      .fail((msg, err) => {
        throw err ?? new UsageError(msg);
      })
      .help()
      .wrap(Math.min(120, process.stdout.columns || 100))
      .parseAsync();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const hint = err instanceof UsageError ? ` (run \`${scriptName} --help\` for the flags)` : '';
    process.stderr.write(`${scriptName}: ${err.message}${hint}\n`);
    if (process.env.RLHFKIT_DEBUG) process.stderr.write(`${err.stack ?? ''}\n`);
    if (!process.exitCode) process.exitCode = 1;
  }
}

/** A command-line usage problem reported by yargs (unknown command, missing or invalid flag). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
