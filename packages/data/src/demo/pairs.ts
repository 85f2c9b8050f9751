// Builds the demo preference pairs: prompts from real sentences' opening words or topic words, answers ranked by AFINN valence.
import { randomInterval, RandomState } from '../np-random';
import { afinnScore, isAfinnWord, words } from './afinn';
import type { SourceSentence } from './sentences';

/** A topic word is taken from a sentence's words [from, to) (0-based): its second or third word. */
export const TOPIC_WINDOW: readonly [number, number] = [1, 3];

/** Chosen answers score at least +2 and rejected at most -2, so every pair differs by 4 or more. */
export const CHOSEN_MIN_SCORE = 2;
export const REJECTED_MAX_SCORE = -2;

export interface DemoPair {
  /** rm-static form: "\n\nHuman: <request>\n\nAssistant:". */
  readonly prompt: string;
  /** The request alone, for the local/jsonfile copy. */
  readonly request: string;
  /** A real sentence (no leading space here; the writers add rm-static's). */
  readonly chosen: string;
  readonly rejected: string;
  readonly chosenScore: number;
  readonly rejectedScore: number;
  readonly chosenSource: string;
  readonly rejectedSource: string;
}

interface Scored extends SourceSentence {
  readonly score: number;
}

const STOPWORDS = new Set(
  ('a about above after again against all also am an and any are as at be because been before being below between both but by can ' +
    'could did do does doing down during each few for from further had has have having he her here hers herself him himself his how ' +
    'i if in into is it its itself just may me might more most must my myself no nor not now of off on once only or other ought our ' +
    'ours ourselves out over own same shall she should so some such than that the their theirs them themselves then there these they ' +
    'this those through thus to too under until up upon very was we were what when where which while who whom why will with would yet ' +
    'you your yours yourself one two three every many much made make upon unto said shall whose within without whether therefore ' +
    'however great year years time times last first new present state states united congress government people country nation')
    .split(' '),
);

/** 32-bit FNV-1a: a stable, platform-independent way to send a sentence to the train or the test pool. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Every tenth sentence (by hash) is reserved for the test split, so test answers never appear in training. */
export function isTestSentence(text: string): boolean {
  return fnv1a(text) % 10 === 0;
}

type Keyed = Map<string, { pos: Scored[]; neg: Scored[] }>;

function bucket(map: Keyed, key: string, s: Scored): void {
  let b = map.get(key);
  if (!b) map.set(key, (b = { pos: [], neg: [] }));
  if (s.score >= CHOSEN_MIN_SCORE) b.pos.push(s);
  else if (s.score <= REJECTED_MAX_SCORE) b.neg.push(s);
}

/** Keys with both a positive and a negative sentence, in a fixed order. */
function usable(map: Keyed): [string, { pos: Scored[]; neg: Scored[] }][] {
  return [...map.entries()].filter(([, b]) => b.pos.length > 0 && b.neg.length > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

// No quotes around the word or the opening: GPT-2's BPE gives `"whale` and ` whale` different tokens, so a quoted word
// would have to be translated, not copied, into the answer; unquoted, the prompt holds the very tokens the answer uses.
const TOPIC_TEMPLATES = [
  (w: string) => `Write a sentence that uses the word ${w}.`,
  (w: string) => `Give me one sentence containing the word ${w}.`,
  (w: string) => `Use the word ${w} in a sentence.`,
  (w: string) => `Say something with the word ${w} in it.`,
];
const OPENING_TEMPLATES = [
  (o: string) => `Continue the sentence that begins with ${o}.`,
  (o: string) => `Finish this sentence: ${o} ...`,
  (o: string) => `Complete the line that starts with ${o}.`,
];

/**
 * Deterministic pairs from one pool of sentences. Half the prompts ask to continue a sentence's opening
 * two words (both answers really start with them); half ask for a sentence using a topic word (both answers
 * contain it). For each prompt a chosen sentence (AFINN >= +2) and a rejected one (<= -2) are drawn.
 */
export function buildPairs(sentences: readonly SourceSentence[], count: number, seed: number): DemoPair[] {
  const scored: Scored[] = sentences.map((s) => ({ ...s, score: afinnScore(s.text) }));
  const openings: Keyed = new Map();
  const topics: Keyed = new Map();
  for (const s of scored) {
    if (s.score > REJECTED_MAX_SCORE && s.score < CHOSEN_MIN_SCORE) continue;
    bucket(openings, s.text.split(' ').slice(0, 2).join(' '), s);
    // Topic words are the sentence's second or third word, so a small model answering "use the word X" says X right after
    // an opener instead of having to plan it somewhere in a long sentence (a sentence's first word is capitalised, which
    // GPT-2's BPE spells with other tokens than the prompt's lower-case word).
    for (const w of new Set(words(s.text).slice(TOPIC_WINDOW[0], TOPIC_WINDOW[1]))) {
      if (w.length >= 4 && !STOPWORDS.has(w) && !isAfinnWord(w) && /^[a-z]+$/.test(w)) bucket(topics, w, s);
    }
  }
  const kinds = [usable(openings), usable(topics)];
  if (!kinds[0].length || !kinds[1].length) throw new Error('demo dataset: the source texts yielded no usable prompt keys');
  const rng = new RandomState(seed).rng;
  const pick = <T>(xs: readonly T[]): T => xs[randomInterval(rng, xs.length - 1)];
  const out: DemoPair[] = [];
  const seen = new Set<string>();
  // A bounded number of draws: duplicates are redrawn, a tiny pool simply yields fewer pairs.
  for (let draw = 0; out.length < count && draw < count * 20; draw++) {
    const kind = out.length % 2;
    const [key, b] = pick(kinds[kind]);
    const chosen = pick(b.pos);
    const rejected = pick(b.neg);
    const request = kind === 0 ? pick(OPENING_TEMPLATES)(key) : pick(TOPIC_TEMPLATES)(key);
    const id = `${request}\u0000${chosen.text}\u0000${rejected.text}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({
      prompt: `\n\nHuman: ${request}\n\nAssistant:`,
      request,
      chosen: chosen.text,
      rejected: rejected.text,
      chosenScore: chosen.score,
      rejectedScore: rejected.score,
      chosenSource: chosen.source,
      rejectedSource: rejected.source,
    });
  }
  return out;
}
