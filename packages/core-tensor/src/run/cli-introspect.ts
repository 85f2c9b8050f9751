// The command tree as yargs itself reports it: every (sub)command with its flags (type, aliases, choices, required) and positionals.
import yargs, { type Argv, type CommandModule } from 'yargs';

/** One flag of a command, under its canonical (first) name. */
export interface FlagInfo {
  name: string;
  type: 'string' | 'number' | 'boolean';
  array: boolean;
  aliases: string[];
  choices: readonly unknown[] | null;
  required: boolean;
}

/** One command: `path` is the words a user types (`['sft', 'train']`). */
export interface CommandInfo {
  path: string[];
  describe: string;
  /** Positionals it demands, in order (`plot <metrics>`). */
  positionals: string[];
  flags: FlagInfo[];
  subcommands: CommandInfo[];
}

/** What yargs keeps about a command; its internals are untyped in @types/yargs. */
interface HandlerEntry {
  original: string;
  description?: string | false;
  builder?: unknown;
  demanded?: { cmd: string[] }[];
}

interface YargsOptionsView {
  key: Record<string, unknown>;
  alias: Record<string, string[]>;
  array: string[];
  boolean: string[];
  number: string[];
  string: string[];
  choices: Record<string, unknown[]>;
  demandedOptions: Record<string, unknown>;
}

interface YargsInternals {
  getOptions(): YargsOptionsView;
  getInternalMethods(): { getCommandInstance(): { getCommandHandlers(): Record<string, HandlerEntry> } };
}

/** yargs' view of the options of an Argv (the current command's, inside a builder or middleware). */
export function optionsView(y: Argv): YargsOptionsView {
  return (y as unknown as YargsInternals).getOptions();
}

/** The flags of an options view: canonical names (aliases folded in), without help/version and positionals. */
export function flagsOf(view: YargsOptionsView, positionals: readonly string[] = []): FlagInfo[] {
  const aliasOf = new Set(Object.values(view.alias).flat());
  const out: FlagInfo[] = [];
  for (const name of Object.keys(view.key)) {
    if (aliasOf.has(name) || name === 'help' || name === 'version' || positionals.includes(name)) continue;
    const type = view.boolean.includes(name) ? 'boolean' : view.number.includes(name) ? 'number' : 'string';
    out.push({
      name,
      type,
      array: view.array.includes(name),
      aliases: view.alias[name] ?? [],
      choices: view.choices[name] ?? null,
      required: name in view.demandedOptions,
    });
  }
  return out;
}

function build(builder: unknown): Argv {
  const y = yargs([]);
  if (typeof builder === 'function') (builder as (y: Argv) => unknown)(y);
  else if (builder && typeof builder === 'object') y.options(builder as Record<string, never>);
  return y;
}

function describeOne(cmd: HandlerEntry, parent: string[]): CommandInfo {
  const words = String(cmd.original).split(' ');
  const path = [...parent, words[0]];
  const y = build(cmd.builder);
  const handlers = (y as unknown as YargsInternals).getInternalMethods().getCommandInstance().getCommandHandlers();
  const positionals = words.slice(1).filter((w) => w.startsWith('<')).map((w) => w.replace(/[<>.]/g, ''));
  const subcommands = Object.values(handlers).map((h) => describeOne(h, path));
  // `data <command>` names its subcommand as a positional; with subcommands it is a group, not an argument.
  return {
    path,
    describe: typeof cmd.description === 'string' ? cmd.description : '',
    positionals: subcommands.length ? [] : positionals,
    flags: flagsOf(optionsView(y), positionals),
    subcommands,
  };
}

/** Every command and subcommand of `commands` with its flags, by running each builder on a fresh yargs. */
export function describeCommands(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  commands: readonly CommandModule<any, any>[],
): CommandInfo[] {
  return commands.map((c) => describeOne({ original: String(c.command ?? ''), description: c.describe, builder: c.builder }, []));
}

/** The leaf commands (those that run something), depth first. */
export function leafCommands(tree: readonly CommandInfo[]): CommandInfo[] {
  return tree.flatMap((c) => (c.subcommands.length ? leafCommands(c.subcommands) : [c]));
}

/** The command a user's words reach (`['data', 'info', '--x']` -> data info), or null for none. */
export function findCommand(tree: readonly CommandInfo[], words: readonly string[]): { command: CommandInfo | null; depth: number } {
  let level = tree;
  let found: CommandInfo | null = null;
  let depth = 0;
  for (const w of words) {
    const next = level.find((c) => c.path[c.path.length - 1] === w);
    if (!next) break;
    found = next;
    depth++;
    level = next.subcommands;
  }
  return { command: found, depth };
}
