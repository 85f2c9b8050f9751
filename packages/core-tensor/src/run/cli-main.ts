// One entry point for every rlhfkit command line (the `rlhfkit` app and the per-step nx targets): strict flags, one-line errors.
import yargs, { type Argv, type CommandModule, type MiddlewareFunction } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkFlagTokens, explainUsage, repeatedFlagValues } from './cli-checks';
import { prepareRankProcess } from '../dist/rank-output';
import { UsageError } from './cli-errors';
import { withHandlerHook } from './cli-hook';
import { describeCommands, findCommand, flagsOf, optionsView, type CommandInfo, type FlagInfo } from './cli-introspect';

export { UsageError } from './cli-errors';

// The command tree is built (every builder run on a fresh yargs) only for an error message, once per command list.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const trees = new WeakMap<CommandModule<any, any>[], CommandInfo[]>();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function treeOf(commands: CommandModule<any, any>[]): CommandInfo[] {
  let t = trees.get(commands);
  if (!t) trees.set(commands, (t = describeCommands(commands)));
  return t;
}

/**
 * argparse semantics (DeepSpeed-Chat's): a single-value flag given twice keeps its last value, as typed (see
 * repeatedFlagValues); list flags (`--prompt a --prompt b`) still gather every value.
 */
function keepLastValues(args: Record<string, unknown>, tokens: readonly string[], flags: readonly FlagInfo[]): void {
  for (const [f, raw] of repeatedFlagValues(tokens, flags)) {
    const last = f.type === 'number' ? Number(raw) : raw;
    for (const k of [f.name, ...f.aliases]) {
      for (const key of [k, k.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase())]) if (key in args) args[key] = last;
    }
  }
}

export interface RunCliOptions {
  /**
   * Called with the parsed flags once every check passed, just before the command's handler runs (a test that
   * only wants to know whether a command line is accepted throws here).
   */
  beforeHandler?: (argv: Record<string, unknown>) => void;
  /** Exit the process after --help / --version (default true). */
  exitProcess?: boolean;
  /** Where the error line goes (default: stderr). */
  writeError?: (text: string) => void;
}

/**
 * Parses argv with the given commands and runs the chosen one. Every command is strict: an unknown flag or command
 * is an error with a "did you mean"; a number flag needs a finite number (>= 0 unless allowNegativeFlags says
 * otherwise), a value flag a value, a switch no `=value`; all before the handler runs. Any failure (a bad flag, a
 * missing file, a handler that throws) prints one line, `<scriptName>: <message>`, and exits 1: never the whole
 * --help text or a stack trace (RLHFKIT_DEBUG=1 shows the stack).
 */
export async function runCli(
  scriptName: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  commands: CommandModule<any, any>[],
  argv: string[] = hideBin(process.argv),
  options: RunCliOptions = {},
): Promise<void> {
  const names = commands.map((c) => String(c.command ?? '').split(' ')[0]).filter(Boolean);
  // Under mpirun: rank 0 alone prints, and the ranks of a host share its CPUs (see prepareRankProcess).
  const rankIo = prepareRankProcess();
  const writeError = options.writeError ?? rankIo.writeError;
  try {
    // yargs throws validation failures synchronously and handler failures asynchronously: one catch for both.
    const before = options.beforeHandler;
    await yargs(argv)
      .scriptName(scriptName)
      .command(before ? commands.map((c) => withHandlerHook(c, before)) : commands)
      .demandCommand(1, `Name a subcommand (${names.join(', ')}); \`${scriptName} --help\` lists them.`)
      .strict()
      .strictCommands()
      .recommendCommands()
      // Before yargs validates: yargs passes the current command's Argv as a second argument its types leave out.
      .middleware(((args: Record<string, unknown>, cur: Argv) => {
        const flags = flagsOf(optionsView(cur));
        checkFlagTokens(argv, flags);
        keepLastValues(args, argv, flags);
      }) as unknown as MiddlewareFunction, true)
      .fail((msg, err) => {
        throw err ?? new UsageError(explainUsage(msg, argv, treeOf(commands), scriptName));
      })
      .help()
      .wrap(Math.min(120, process.stdout.columns || 100))
      .exitProcess(options.exitProcess ?? true)
      .parseAsync();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    let message = err.message.replace(/\s*\n\s*/g, ' ').trim();
    while (message.startsWith(`${scriptName}: `)) message = message.slice(scriptName.length + 2);
    let hint = '';
    if (err instanceof UsageError) {
      const firstFlag = argv.findIndex((t) => t.startsWith('-'));
      const words = firstFlag < 0 ? argv : argv.slice(0, firstFlag);
      const { command, depth } = findCommand(treeOf(commands), words);
      hint = ` (\`${[scriptName, ...words.slice(0, depth)].join(' ')} --help\` lists the ${command && !command.subcommands.length ? 'flags' : 'commands'})`;
    }
    writeError(`${scriptName}: ${message}${hint}\n`);
    if (process.env.RLHFKIT_DEBUG) writeError(`${err.stack ?? ''}\n`);
    if (!process.exitCode) process.exitCode = 1;
  }
}
