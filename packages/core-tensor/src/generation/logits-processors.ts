// Host-side logits processing for one row (HF semantics): repetition penalty, min-new-tokens, temperature, top-k, top-p, sampling.
import type { Rng } from '../rng';

/** HF RepetitionPenaltyLogitsProcessor: each id present in the row has its score divided by p if positive, multiplied if negative. In place. */
export function applyRepetitionPenalty(scores: Float32Array, rowIds: ArrayLike<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (let i = 0; i < rowIds.length; i++) {
    const id = rowIds[i];
    if (seen.has(id) || id < 0 || id >= scores.length) continue;
    seen.add(id);
    const s = scores[id];
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** Forbids the EOS ids (HF MinNewTokensLengthLogitsProcessor while too few tokens exist). In place. */
export function forbidTokens(scores: Float32Array, ids: number[]): void {
  for (const id of ids) if (id >= 0 && id < scores.length) scores[id] = -Infinity;
}

/** HF TemperatureLogitsWarper. In place. */
export function applyTemperature(scores: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < scores.length; i++) scores[i] /= temperature;
}

/** HF TopKLogitsWarper: scores below the k-th largest become -inf (ties with it stay). In place. */
export function applyTopK(scores: Float32Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const sorted = Float32Array.from(scores).sort(); // ascending; NaN-free logits assumed
  const kth = sorted[sorted.length - k];
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/**
 * HF TopPLogitsWarper: sort ascending, softmax, cumulative sum; drop tokens whose cumulative probability is
 * <= 1 - topP, always keeping the most likely one. In place.
 */
export function applyTopP(scores: Float32Array, topP: number): void {
  if (topP >= 1) return;
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] !== -Infinity) idx.push(i);
  idx.sort((a, b) => scores[a] - scores[b] || a - b);
  const max = scores[idx[idx.length - 1]];
  let total = 0;
  const p = idx.map((i) => {
    const e = Math.exp(scores[i] - max);
    total += e;
    return e;
  });
  let cum = 0;
  for (let j = 0; j < idx.length - 1; j++) {
    cum += p[j] / total;
    if (cum <= 1 - topP) scores[idx[j]] = -Infinity;
  }
}

/** Index of the largest score (first one on ties, as torch.argmax). */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] > bestV) {
      bestV = scores[i];
      best = i;
    }
  }
  return best;
}

/** Draws an index from softmax(scores) with the seeded RNG. */
export function sampleFromScores(scores: Float32Array, rng: Rng): number {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  const w = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) w[i] = scores[i] === -Infinity ? 0 : Math.exp(scores[i] - max);
  return rng.categorical(w);
}
