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

// Per-row scratch reused across rows and steps: sampling allocates nothing vocabulary-sized per row.
let scratch32 = new Float32Array(0);
let scratch64 = new Float64Array(0);

function scratchF32(n: number): Float32Array {
  if (scratch32.length < n) scratch32 = new Float32Array(n);
  return scratch32.subarray(0, n);
}

/** The k-th largest of `a` (1-based), reordering `a` (Hoare quickselect, median-of-three pivots). */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const want = a.length - k; // its index in ascending order
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want];
  }
  return a[want];
}

/** HF TopKLogitsWarper: scores below the k-th largest become -inf (ties with it stay). In place. */
export function applyTopK(scores: Float32Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const work = scratchF32(scores.length);
  work.set(scores);
  const kth = kthLargest(work, k); // NaN-free logits assumed (generate checks them first)
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
  if (scratch64.length < scores.length) scratch64 = new Float64Array(scores.length);
  const w = scratch64.subarray(0, scores.length);
  for (let i = 0; i < scores.length; i++) w[i] = scores[i] === -Infinity ? 0 : Math.exp(scores[i] - max);
  return rng.categorical(w);
}
