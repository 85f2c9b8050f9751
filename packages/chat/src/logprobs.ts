// Log-probabilities of the chosen tokens (and the most likely alternatives) from the raw logits of each decoding step.
import type * as tf from '@tensorflow/tfjs';

/** One row's token at one step: its log-probability under the model, and the `top` most likely [id, logprob]. */
export interface TokenLogprob {
  logprob: number;
  top: [number, number][];
}

/** log_softmax of one row's scores, in place. */
export function logSoftmaxInPlace(row: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < row.length; i++) row[i] -= lse;
}

/** The k largest entries as [index, value], largest first (ties: lower index first). */
export function topEntries(row: Float32Array, k: number): [number, number][] {
  const out: [number, number][] = [];
  if (k <= 0) return out;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (out.length === k && v <= out[k - 1][1]) continue;
    let j = out.length < k ? out.length : k - 1;
    while (j > 0 && out[j - 1][1] < v) j--;
    out.splice(j, 0, [i, v]);
    if (out.length > k) out.pop();
  }
  return out;
}

/**
 * Keeps the log-softmax of the latest step's raw logits (before penalties and sampling warpers, vLLM's default) on
 * the host until the step's tokens are known, then reports each row's chosen token and its top alternatives.
 */
export class LogprobCapture {
  private latest: Float32Array | null = null;

  constructor(private readonly top: number, private readonly vocab: number) {}

  /** Reads logits [rows, vocab] of the step just computed (the tensor is left to the caller). */
  capture(logits: tf.Tensor2D): void {
    const host = new Float32Array(logits.dataSync());
    for (let r = 0; r * this.vocab < host.length; r++) logSoftmaxInPlace(host.subarray(r * this.vocab, (r + 1) * this.vocab));
    this.latest = host;
  }

  /** The chosen tokens of that step -> one TokenLogprob per row. */
  take(tokens: readonly number[]): TokenLogprob[] {
    const host = this.latest;
    this.latest = null;
    if (!host) return tokens.map(() => ({ logprob: Number.NaN, top: [] }));
    return tokens.map((id, r) => {
      const row = host.subarray(r * this.vocab, (r + 1) * this.vocab);
      return { logprob: row[id] ?? -Infinity, top: topEntries(row, this.top) };
    });
  }
}
