// OpenAI's presence/frequency penalties and logit_bias as a logits processor that generate() runs on every step.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '@rlhfkit/core-tensor';

/** Per-row adjustments (OpenAI semantics: counts are over the generated tokens only, not the prompt). */
export interface RowPenalties {
  /** Subtracted once from every token that already appeared in the answer (-2..2). */
  presence?: number;
  /** Subtracted per occurrence of a token in the answer (-2..2). */
  frequency?: number;
  /** [token id, bias] pairs added to the logits (-100..100). */
  logitBias?: ReadonlyArray<readonly [number, number]>;
}

/** Whether any row asks for an adjustment (otherwise generate() runs the model as it is). */
export function needsPenalties(rows: readonly (RowPenalties | undefined)[]): boolean {
  return rows.some((p) => !!p && ((p.presence ?? 0) !== 0 || (p.frequency ?? 0) !== 0 || (p.logitBias?.length ?? 0) > 0));
}

/**
 * logits[j] + bias[j] - frequency * count[j] - presence * (count[j] > 0), per row, as OpenAI documents it. The
 * host keeps one [rows, vocab] offset table that each observed token updates in O(1).
 */
export class PenaltyProcessor {
  private readonly offset: Float32Array;
  private readonly counts: Map<number, number>[];

  constructor(private readonly rows: readonly (RowPenalties | undefined)[], private readonly vocab: number) {
    this.offset = new Float32Array(rows.length * vocab);
    this.counts = rows.map(() => new Map());
    rows.forEach((p, r) => {
      for (const [id, b] of p?.logitBias ?? []) if (id >= 0 && id < vocab) this.offset[r * vocab + id] += b;
    });
  }

  /** Records the token each row just produced. */
  observe(tokens: readonly number[]): void {
    tokens.forEach((id, r) => {
      const p = this.rows[r];
      if (!p || id < 0 || id >= this.vocab) return;
      const n = (this.counts[r].get(id) ?? 0) + 1;
      this.counts[r].set(id, n);
      this.offset[r * this.vocab + id] -= (p.frequency ?? 0) + (n === 1 ? (p.presence ?? 0) : 0);
    });
  }

  /** The offsets of each row (for tests and host-side use). */
  rowOffsets(row: number): Float32Array {
    return this.offset.subarray(row * this.vocab, (row + 1) * this.vocab);
  }

  /** logits [rows, vocab] -> adjusted logits (a new tensor; the input is left to the caller). */
  apply(logits: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(logits, tf.tensor2d(this.offset, [this.rows.length, this.vocab])) as tf.Tensor2D);
  }
}

/**
 * The model as generate() sees it, with `process` applied to the logits of every decoding step. generate() has no
 * hook for extra processors, and its greedy fast path takes the argmax of whatever forwardStep returns, so this
 * is where an adjustment reaches both greedy and sampled decoding.
 */
export function withLogitsProcessor(model: CausalLM, process: (logits: tf.Tensor2D) => tf.Tensor2D): CausalLM {
  const wrapped = Object.create(model) as CausalLM;
  wrapped.forwardStep = (ids, positionIds, paddingBias, cache, headT) => {
    const logits = model.forwardStep(ids, positionIds, paddingBias, cache, headT);
    try {
      return process(logits);
    } finally {
      logits.dispose();
    }
  };
  return wrapped;
}
