// Command-line checks every rlhfkit command gets: flag values as typed (numbers, missing values, switches), ranges, and yargs' messages as one line with "did you mean".
import { UsageError } from './cli-errors';
import { findCommand, type CommandInfo, type FlagInfo } from './cli-introspect';

/** A number flag's allowed values, checked when the command line is parsed (before any work starts). */
export interface FlagRule {
  int?: boolean;
  min?: number;
  minExclusive?: boolean;
  max?: number;
  maxExclusive?: boolean;
}

/** Flags whose value may be negative (`--local_rank -1`); every other number flag must be >= 0. */
export const SIGNED_FLAGS = new Set<string>(['local_rank']);

/** Lets these number flags take negative values (their own FlagRule then says how low). */
export function allowNegativeFlags(...names: string[]): void {
  for (const n of names) SIGNED_FLAGS.add(n);
}

/** `an integer >= 1`, `a number in (0, 1]`, `a number > 0` (the wording of checkFlag's messages). */
export function ruleText(r: FlagRule): string {
  const what = r.int ? 'an integer' : 'a number';
  if (r.min !== undefined && r.max !== undefined) return `${what} in ${r.minExclusive ? '(' : '['}${r.min}, ${r.max}${r.maxExclusive ? ')' : ']'}`;
  if (r.min !== undefined) return `${what} ${r.minExclusive ? '>' : '>='} ${r.min}`;
  if (r.max !== undefined) return `${what} ${r.maxExclusive ? '<' : '<='} ${r.max}`;
  return what;
}

/** Whether `v` satisfies the rule (a finite number within its bounds). */
export function meetsRule(v: number, r: FlagRule): boolean {
  if (!Number.isFinite(v) || (r.int && !Number.isInteger(v))) return false;
  if (r.min !== undefined && (r.minExclusive ? v <= r.min : v < r.min)) return false;
  if (r.max !== undefined && (r.maxExclusive ? v >= r.max : v > r.max)) return false;
  return true;
}

/** A yargs `.check()` applying rules to the flags given (flags left out are not checked). */
export function flagRules(rules: Record<string, FlagRule>): (argv: Record<string, unknown>) => true {
  return (argv) => {
    for (const [name, rule] of Object.entries(rules)) {
      const raw = argv[name];
      if (raw === undefined || raw === null) continue;
      const v = Array.isArray(raw) ? raw[raw.length - 1] : raw;
      if (typeof v !== 'number' || !meetsRule(v, rule)) {
        const got = typeof v === 'number' && Number.isNaN(v) ? 'a value that is not a number' : String(v);
        throw new UsageError(`--${name} must be ${ruleText(rule)}, got ${got}`);
      }
    }
    return true;
  };
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

/**
 * The known name a mistyped one most likely meant: a small edit distance (up to a third of its length, at least 2),
 * or every word of it found in one name (`max_tokens` -> `max_new_tokens`). Dashes and underscores count the same.
 */
export function suggestName(typo: string, known: readonly string[]): string | null {
  const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');
  const t = norm(typo);
  let best: { name: string; d: number } | null = null;
  for (const k of known) {
    const d = levenshtein(t, norm(k));
    if (!best || d < best.d) best = { name: k, d };
  }
  if (best && best.d <= Math.max(2, Math.floor(t.length / 3))) return best.name;
  const words = t.split('_').filter(Boolean);
  const holding = known.filter((k) => words.length > 1 && words.every((w) => norm(k).split('_').includes(w)));
  return holding.length ? holding.sort((a, b) => a.length - b.length)[0] : null;
}

function isNegativeNumber(t: string): boolean {
  return /^-(\d|\.\d)/.test(t);
}

function isFlagToken(t: string): boolean {
  return t.startsWith('-') && t !== '-' && !isNegativeNumber(t);
}

function camel(s: string): string {
  return s.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Every spelling yargs accepts for each flag (name, aliases, their camelCase) -> the flag. */
function flagIndex(flags: readonly FlagInfo[]): Map<string, FlagInfo> {
  const m = new Map<string, FlagInfo>();
  for (const f of flags) for (const n of [f.name, ...f.aliases]) for (const v of [n, camel(n)]) if (!m.has(v)) m.set(v, f);
  return m;
}

/** A flag token split into its name, the spelling typed, and an `=value` part. */
function parseFlagToken(t: string): { name: string; typed: string; inline?: string } | null {
  if (!isFlagToken(t)) return null;
  const body = t.replace(/^--?/, '');
  const eq = body.indexOf('=');
  const name = eq < 0 ? body : body.slice(0, eq);
  return { name, typed: t.slice(0, t.length - body.length) + name, inline: eq < 0 ? undefined : body.slice(eq + 1) };
}

/**
 * Checks the flags as typed against the command's flags (before yargs validates): a number flag needs a finite
 * number (>= 0 unless in SIGNED_FLAGS), a value flag needs a value, a switch takes no `=value` but true/false.
 * Throws a UsageError naming the flag as the user typed it. Unknown flags are left to yargs' strict mode.
 */
export function checkFlagTokens(tokens: readonly string[], flags: readonly FlagInfo[]): void {
  const index = flagIndex(flags);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '--') break;
    const tok = parseFlagToken(tokens[i]);
    if (!tok) continue;
    let f = index.get(tok.name);
    if (!f && tok.name.startsWith('no-') && index.get(tok.name.slice(3))?.type === 'boolean') f = index.get(tok.name.slice(3));
    if (!f) continue;
    if (f.type === 'boolean') {
      if (tok.inline !== undefined && !['true', 'false'].includes(tok.inline)) {
        throw new UsageError(`${tok.typed} is a switch: write ${tok.typed} or --no-${f.name}, not ${tok.typed}=${tok.inline}`);
      }
      continue;
    }
    const values: string[] = [];
    if (tok.inline !== undefined) values.push(tok.inline);
    else {
      for (let j = i + 1; j < tokens.length && !isFlagToken(tokens[j]) && tokens[j] !== '--'; j++) {
        values.push(tokens[j]);
        if (!f.array) break;
      }
    }
    const kind = f.type === 'number' ? 'a number' : 'a value';
    if (values.length === 0) throw new UsageError(`${tok.typed} needs ${f.array ? 'at least one value' : kind}${f.choices ? ` (one of ${f.choices.join(', ')})` : ''}`);
    if (f.type !== 'number') continue;
    for (const v of values) {
      const n = v.trim() === '' ? NaN : Number(v);
      if (Number.isNaN(n)) throw new UsageError(`${tok.typed} must be a number, got '${v}'`);
      if (!Number.isFinite(n)) throw new UsageError(`${tok.typed} must be a finite number, got ${v}`);
      if (n < 0 && !SIGNED_FLAGS.has(f.name)) throw new UsageError(`${tok.typed} must be >= 0, got ${v}`);
    }
  }
}

/**
 * The last value typed for each single-value flag given more than once (argparse semantics: the last one wins).
 * yargs makes such a flag a list, or, when a later value is 1, adds one to the earlier value (yargs-parser takes 1
 * for a count increment: `--save_steps 5 --save_steps 1` parses as 6), so the value is taken from the tokens.
 */
export function repeatedFlagValues(tokens: readonly string[], flags: readonly FlagInfo[]): Map<FlagInfo, string> {
  const index = flagIndex(flags);
  const seen = new Map<FlagInfo, { count: number; last: string }>();
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === '--') break;
    const tok = parseFlagToken(tokens[i]);
    const f = tok ? index.get(tok.name) : undefined;
    if (!tok || !f || f.array || f.type === 'boolean') continue;
    const value = tok.inline ?? (i + 1 < tokens.length && !isFlagToken(tokens[i + 1]) ? tokens[i + 1] : undefined);
    if (value === undefined) continue;
    const s = seen.get(f) ?? { count: 0, last: value };
    seen.set(f, { count: s.count + 1, last: value });
  }
  return new Map([...seen].filter(([, s]) => s.count > 1).map(([f, s]) => [f, s.last]));
}

/** The words before the first flag: the command path, then positionals (`sft train`, `plot m.jsonl`). */
function leadingWords(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of argv) {
    if (t.startsWith('-')) break;
    out.push(t);
  }
  return out;
}

/** Why a bare word is on the command line: the value of a switch typed before it, or a stray argument. */
function explainStray(word: string, argv: readonly string[], cmd: CommandInfo | null, where: string): string {
  const at = argv.indexOf(word);
  const prev = at > 0 ? parseFlagToken(argv[at - 1]) : null;
  const f = prev && cmd ? flagIndex(cmd.flags).get(prev.name) : undefined;
  if (prev && f?.type === 'boolean') return `${prev.typed} is a switch and takes no value, got '${word}' (write ${prev.typed}, or --no-${f.name})`;
  return `unexpected argument '${word}' for ${where}${cmd?.positionals.length ? ` (it takes ${cmd.positionals.map((p) => `<${p}>`).join(' ')})` : ' (it takes only --flags)'}`;
}

/**
 * yargs' own failure message as one line a user can act on, naming the flag or command as typed: unknown flags
 * and commands with a "did you mean", wrong choices, missing values, subcommands and positionals.
 */
export function explainUsage(msg: string, argv: readonly string[], tree: readonly CommandInfo[], script: string): string {
  const words = leadingWords(argv);
  const { command: cmd, depth } = findCommand(tree, words);
  const where = `\`${[script, ...words.slice(0, depth)].join(' ')}\``;
  const oneLine = msg.replace(/\s*\n\s*/g, '; ').trim();

  // An unknown flag is named first, whatever yargs tripped on (a mistyped required flag also reads as "missing").
  if (cmd) {
    const known = cmd.flags.flatMap((f) => [f.name, ...f.aliases]);
    const index = flagIndex(cmd.flags);
    for (const t of argv) {
      if (t === '--') break;
      const tok = parseFlagToken(t);
      if (!tok || index.has(tok.name) || ['help', 'version', 'h'].includes(tok.name)) continue;
      if (tok.name.startsWith('no-') && index.get(tok.name.slice(3))?.type === 'boolean') continue;
      const s = suggestName(tok.name, known);
      return `unknown flag ${tok.typed} for ${where}${s ? `; did you mean --${s}?` : ''}`;
    }
  }
  if (/^Unknown arguments?:/.test(msg) || /^Unknown command:/.test(msg)) {
    const first = /^Unknown (?:arguments?|command): ([^,\n]+)/.exec(msg)?.[1].trim() ?? '';
    return explainStray(first, argv, cmd, where);
  }
  const didYouMean = /^Did you mean (.+)\?$/.exec(oneLine);
  if (didYouMean) {
    const s = didYouMean[1];
    const typo = words.slice(depth).sort((a, b) => levenshtein(a, s) - levenshtein(b, s))[0] ?? words[depth] ?? '';
    return `unknown command '${typo}' for ${where}; did you mean ${s}?`;
  }
  const invalid = /^Invalid values:\s*Argument: (\S+), Given: (.+?), Choices: (.+)$/s.exec(msg);
  if (invalid) {
    const choices = invalid[3].replace(/"/g, '').trim();
    return `--${invalid[1]} must be one of ${choices}, got ${invalid[2].replace(/^"|"$/g, "'")}`;
  }
  const missing = /^Missing required arguments?: (.+)$/.exec(oneLine);
  if (missing) {
    const names = missing[1].split(/,\s*/).map((n) => (cmd?.positionals.includes(n) ? `<${n}>` : `--${n}`));
    return `${where} needs ${names.join(' and ')}`;
  }
  if (/^Not enough non-option arguments/.test(msg)) {
    if (cmd?.subcommands.length) return `${where} needs a subcommand: ${cmd.subcommands.map((c) => c.path[c.path.length - 1]).join(', ')}`;
    if (cmd?.positionals.length) return `${where} needs ${cmd.positionals.map((p) => `<${p}>`).join(' ')}`;
  }
  return oneLine;
}
