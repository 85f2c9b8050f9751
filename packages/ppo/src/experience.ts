// The typed Experience batch of step 3 (DeepSpeed-Chat's generate_experience dict) and MiniDataset's buffering into micro-batches.
import { concatRows, pickRows, type FloatMatrix, type IntMatrix } from './matrix';

/**
 * One generated batch, as DeepSpeed-Chat's generate_experience returns it. L = prompt length P + answer length;
 * every per-token array covers positions 0..L-2 (the log-prob or value of predicting token t+1).
 */
export interface Experience {
  /** [B, P] the left-padded prompts (only P matters to the maths). */
  prompts: IntMatrix;
  /** [B, L] prompt + generated answer, padded after EOS with the pad id (DeepSpeed-Chat's `input_ids`). */
  inputIds: IntMatrix;
  /** [B, L] `input_ids != pad` (so OPT's BOS, equal to its pad, is masked too, as in DeepSpeed-Chat). */
  attentionMask: IntMatrix;
  /** [B, L-1] the actor's log-probs of each next token when the batch was generated (`logprobs`). */
  logprobs: FloatMatrix;
  /** [B, L-1] the frozen reference's log-probs (`ref_logprobs`). */
  refLogprobs: FloatMatrix;
  /** [B, L-1] the critic's values (`value`); null when no critic is trained (critic-free estimators). */
  values: FloatMatrix | null;
  /** [B] the reward model's end scores (DeepSpeed-Chat's `rewards` key), after any rlhfkit penalty. */
  rewards: Float32Array;
  /** [B] the reward model's scores as it gave them (before an EOS penalty or whitening); equal to rewards by default. */
  rawScores: Float32Array;
  /** [B] index of each row's prompt within its generation batch (rows of one prompt share it; for group estimators). */
  promptIndex: number[];
  /**
   * [B] per-answer advantages of a critic-free estimator, computed over the whole generation batch (a micro-batch may
   * split a prompt's group); null for GAE.
   */
  rowAdvantages: Float32Array | null;
}

/** Rows of an experience batch, by index (a copy). */
export function pickExperience(e: Experience, rows: readonly number[]): Experience {
  return {
    prompts: pickRows(e.prompts, rows),
    inputIds: pickRows(e.inputIds, rows),
    attentionMask: pickRows(e.attentionMask, rows),
    logprobs: pickRows(e.logprobs, rows),
    refLogprobs: pickRows(e.refLogprobs, rows),
    values: e.values ? pickRows(e.values, rows) : null,
    rewards: Float32Array.from(rows, (r) => e.rewards[r]),
    rawScores: Float32Array.from(rows, (r) => e.rawScores[r]),
    promptIndex: rows.map((r) => e.promptIndex[r]),
    rowAdvantages: e.rowAdvantages ? Float32Array.from(rows, (r) => (e.rowAdvantages as Float32Array)[r]) : null,
  };
}

/** Rows [start, end) of an experience batch. */
export function sliceExperience(e: Experience, start: number, end: number): Experience {
  const n = e.inputIds.shape[0];
  const rows = Array.from({ length: Math.max(0, Math.min(end, n) - start) }, (_, i) => start + i);
  return pickExperience(e, rows);
}

/** Number of rows. */
export function experienceSize(e: Experience): number {
  return e.inputIds.shape[0];
}

/**
 * DeepSpeed-Chat's MiniDataset: collects `maxSize` generated batches, then hands them back split into micro-batches of
 * `microBatchSize` rows (each micro-batch comes from one generated batch, whose length it keeps).
 */
export class MiniDataset<T> {
  private items: T[] = [];

  constructor(
    readonly maxSize: number,
    readonly microBatchSize: number,
    private readonly split: (item: T, start: number, end: number) => T,
    private readonly size: (item: T) => number,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError(`MiniDataset: maxSize must be an integer >= 1, got ${maxSize}`);
    if (!Number.isInteger(microBatchSize) || microBatchSize < 1) throw new RangeError(`MiniDataset: microBatchSize must be an integer >= 1, got ${microBatchSize}`);
  }

  /** How many batches are buffered. */
  get length(): number {
    return this.items.length;
  }

  /** Adds a batch; returns the micro-batches once `maxSize` batches are in (and empties the buffer), else null. */
  add(item: T): T[] | null {
    this.items.push(item);
    if (this.items.length < this.maxSize) return null;
    const out: T[] = [];
    for (const it of this.items) {
      const n = this.size(it);
      for (let i = 0; i < n; i += this.microBatchSize) out.push(this.split(it, i, i + this.microBatchSize));
    }
    this.items = [];
    return out;
  }

  /** The buffered batches (for a checkpoint between generation batches). */
  pending(): readonly T[] {
    return this.items;
  }

  clear(): void {
    this.items = [];
  }
}

/** An experience MiniDataset. */
export function experienceBuffer(generationBatches: number, microBatchSize: number): MiniDataset<Experience> {
  return new MiniDataset<Experience>(generationBatches, microBatchSize, sliceExperience, experienceSize);
}

/** Row-wise concatenation of experience batches of the same length L (used to group samples of one prompt). */
export function concatExperience(parts: readonly Experience[]): Experience {
  let offset = 0;
  const promptIndex: number[] = [];
  for (const p of parts) {
    const top = Math.max(-1, ...p.promptIndex);
    promptIndex.push(...p.promptIndex.map((i) => i + offset));
    offset += top + 1;
  }
  return {
    prompts: concatRows(parts.map((p) => p.prompts)),
    inputIds: concatRows(parts.map((p) => p.inputIds)),
    attentionMask: concatRows(parts.map((p) => p.attentionMask)),
    logprobs: concatRows(parts.map((p) => p.logprobs)),
    refLogprobs: concatRows(parts.map((p) => p.refLogprobs)),
    values: parts.every((p) => p.values) ? concatRows(parts.map((p) => p.values as FloatMatrix)) : null,
    rewards: Float32Array.from(parts.flatMap((p) => Array.from(p.rewards))),
    rawScores: Float32Array.from(parts.flatMap((p) => Array.from(p.rawScores))),
    promptIndex,
    rowAdvantages: parts.every((p) => p.rowAdvantages) ? Float32Array.from(parts.flatMap((p) => Array.from(p.rowAdvantages as Float32Array))) : null,
  };
}
