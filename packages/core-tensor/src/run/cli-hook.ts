// Runs a hook just before whichever command handler yargs picks (after every check and middleware), for tests that stop there.
import type { Argv, CommandModule } from 'yargs';

type Hook = (argv: Record<string, unknown>) => void;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<any, any>;

const WRAPPED = Symbol('rlhfkit.cli-hook');

/** `command`: the hook runs first, then the real handler; subcommands registered by its builder get the same. */
export function withHandlerHook(command: AnyCommand, hook: Hook): AnyCommand {
  if ((command as { [WRAPPED]?: boolean })[WRAPPED]) return command;
  const builder = command.builder;
  const handler = command.handler;
  return Object.assign({}, command, {
    [WRAPPED]: true,
    builder: typeof builder === 'function' ? (y: Argv) => builder(hookSubcommands(y, hook)) : builder,
    handler: (argv: Record<string, unknown>) => {
      hook(argv);
      return handler(argv as never);
    },
  }) as AnyCommand;
}

/** Patches `y.command` so that the modules a builder registers are wrapped too (yargs reuses one instance per level). */
function hookSubcommands(y: Argv, hook: Hook): Argv {
  const inst = y as Argv & { [WRAPPED]?: boolean; command: (...args: unknown[]) => Argv };
  if (inst[WRAPPED]) return y;
  const original = inst.command.bind(inst);
  inst.command = (...args: unknown[]): Argv => {
    const [first] = args;
    if (Array.isArray(first)) return original(first.map((c: AnyCommand) => withHandlerHook(c, hook)), ...args.slice(1));
    if (first && typeof first === 'object') return original(withHandlerHook(first as AnyCommand, hook), ...args.slice(1));
    // (cmd, description, builder, handler, ...): wrap the builder and the handler in place
    const [cmd, describe, b, h, ...rest] = args;
    const wrapped = withHandlerHook({ command: cmd as string, describe: describe as string, builder: b as AnyCommand['builder'], handler: (h ?? (() => undefined)) as AnyCommand['handler'] }, hook);
    return original(cmd, describe, wrapped.builder, wrapped.handler, ...rest);
  };
  inst[WRAPPED] = true;
  return y;
}
