// Bad command lines for every flag of every registered command (a wrong type, a negative, a typo'd name), and how to judge the answer.
import { SIGNED_FLAGS, type CommandInfo, type FlagInfo } from '@rlhfkit/core-tensor/cli';

export type FuzzKind = 'wrong type' | 'negative' | 'typo';

export interface FuzzCase {
  command: string;
  flag: string;
  kind: FuzzKind;
  argv: string[];
  /** The flag as the case types it; the error line must contain it. */
  typed: string;
  /** For a typo: the names a "did you mean" may suggest. */
  suggest?: string[];
}

/** A value every check accepts, for flags a command requires while another flag is being fuzzed. */
function dummy(f: FlagInfo): string[] {
  if (f.type === 'boolean') return [`--${f.name}`];
  if (f.choices?.length) return [`--${f.name}`, String(f.choices[0])];
  return [`--${f.name}`, f.type === 'number' ? '1' : 'x'];
}

/** The command line that reaches the handler: its words, a value per positional, the required flags (but `skip`). */
export function baseArgv(c: CommandInfo, skip?: string): string[] {
  return [...c.path, ...c.positionals.map(() => 'x'), ...c.flags.filter((f) => f.required && f.name !== skip).flatMap(dummy)];
}

/** A misspelling of `name` that no flag of the command has: a middle letter dropped, else two swapped. */
function typoOf(name: string, taken: ReadonlySet<string>): string | null {
  const mid = Math.floor(name.length / 2);
  const options = [name.slice(0, mid) + name.slice(mid + 1), name.slice(0, mid - 1) + name[mid] + name[mid - 1] + name.slice(mid + 1), `${name}s`];
  return options.find((o) => o.length > 1 && o !== name && !taken.has(o)) ?? null;
}

/** Every case for one command: per flag, a wrong type and a negative where they apply, and a typo'd name. */
export function casesFor(c: CommandInfo): { cases: FuzzCase[]; notApplicable: number } {
  const cases: FuzzCase[] = [];
  let notApplicable = 0;
  const taken = new Set(c.flags.flatMap((f) => [f.name, ...f.aliases]));
  const command = c.path.join(' ');
  for (const f of c.flags) {
    const base = baseArgv(c, f.name);
    const typed = `--${f.name}`;
    const add = (kind: FuzzKind, tail: string[], t = typed, suggest?: string[]): void => void cases.push({ command, flag: f.name, kind, argv: [...base, ...tail], typed: t, suggest });
    // wrong type: text for a number, =maybe for a switch, no such choice, or no value at all
    if (f.type === 'number') add('wrong type', [typed, 'abc']);
    else if (f.type === 'boolean') add('wrong type', [`${typed}=maybe`]);
    else if (f.choices?.length) add('wrong type', [typed, 'no-such-choice']);
    else add('wrong type', [typed]);
    // negative: numbers (signed ones far below any floor), and choices
    if (f.type === 'number') add('negative', [typed, SIGNED_FLAGS.has(f.name) ? '-1000000000' : '-1']);
    else if (f.choices?.length) add('negative', [typed, '-1']);
    else notApplicable++;
    const typo = typoOf(f.name, taken);
    if (typo) add('typo', [`--${typo}`, ...(f.type === 'boolean' ? [] : [f.type === 'number' ? '1' : 'x'])], `--${typo}`, [f.name, ...f.aliases]);
  }
  return { cases, notApplicable };
}

export interface FuzzAnswer {
  /** The handler was reached: the command line was accepted. */
  accepted: boolean;
  exitCode: number;
  stderr: string;
}

/** null when the answer is a clear error (exit 1, one line, naming the flag as typed, suggesting the right one for a typo), else why not. */
export function judge(c: FuzzCase, a: FuzzAnswer): string | null {
  if (a.accepted) return 'accepted (the handler ran)';
  if (a.exitCode === 0) return 'exit code 0';
  const lines = a.stderr.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) return `${lines.length} lines: ${JSON.stringify(a.stderr)}`;
  const line = lines[0];
  if (!line.startsWith('rlhfkit: ')) return `not an rlhfkit line: ${line}`;
  if (!line.includes(c.typed)) return `does not name ${c.typed}: ${line}`;
  if (c.suggest && !c.suggest.some((s) => line.includes(`did you mean --${s}?`))) return `no "did you mean --${c.suggest[0]}?": ${line}`;
  return null;
}
