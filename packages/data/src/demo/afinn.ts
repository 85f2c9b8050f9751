// AFINN-165 valence scoring of English text: the preference signal of the demo dataset.
import { loadAfinn165 } from '../esm';

let lexicon: Map<string, number> | undefined;

function afinn(): Map<string, number> {
  return (lexicon ??= new Map(Object.entries(loadAfinn165())));
}

/** Lower-cased word tokens (letters and inner apostrophes/hyphens). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:['-][a-z]+)*/g) ?? [];
}

/**
 * The AFINN-165 valence of a text: the sum of its words' scores, where a listed phrase of up to three
 * words ("does not work", "cool stuff") is matched first and counted once.
 */
export function afinnScore(text: string): number {
  const lex = afinn();
  const w = words(text);
  let score = 0;
  for (let i = 0; i < w.length; ) {
    let matched = false;
    for (const n of [3, 2]) {
      if (i + n > w.length) continue;
      const v = lex.get(w.slice(i, i + n).join(' '));
      if (v !== undefined) {
        score += v;
        i += n;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    score += lex.get(w[i]) ?? 0;
    i++;
  }
  return score;
}

/** Whether a word carries AFINN valence on its own (such words make poor prompt topics). */
export function isAfinnWord(word: string): boolean {
  return afinn().has(word.toLowerCase());
}

export function afinnSize(): number {
  return afinn().size;
}
