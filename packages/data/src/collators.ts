// Batch collators for the three steps: flat Int32Array batches plus shapes, in DeepSpeed-Chat's layouts.
import type { Phase1Item, Phase2Item, Phase3Item } from './tokenize';

/** Labels ignored by the loss (PyTorch's CrossEntropyLoss ignore_index). */
export const IGNORE_INDEX = -100;

/** A [rows, cols] int32 matrix in row-major order; `tf.tensor2d(data, shape, 'int32')` takes it as is. */
export interface IntMatrix {
  readonly data: Int32Array;
  readonly shape: [number, number];
}

export interface Phase1Batch {
  readonly inputIds: IntMatrix;
  readonly attentionMask: IntMatrix;
  /** inputIds where attended (and, with maskPrompt, past the prompt), IGNORE_INDEX elsewhere. */
  readonly labels: IntMatrix;
}

export interface Phase2Batch {
  /** [2B, T]: the B chosen rows first, then the B rejected rows (DataCollatorReward's order). */
  readonly inputIds: IntMatrix;
  readonly attentionMask: IntMatrix;
}

export interface Phase3Batch {
  /** [B, max_prompt_seq_len], left-padded: pads, then the prompt in reading order. */
  readonly prompt: IntMatrix;
  readonly promptAttentionMask: IntMatrix;
}

/** Rows as plain arrays, for code that prefers number[][]. */
export function toRows(m: IntMatrix): number[][] {
  const [r, c] = m.shape;
  return Array.from({ length: r }, (_, i) => Array.from(m.data.subarray(i * c, (i + 1) * c)));
}

/** Tokens a batch trains on: the attended positions (for tokens/s). */
export function attendedTokens(batch: { readonly attentionMask: IntMatrix }): number {
  let n = 0;
  for (const m of batch.attentionMask.data) n += m;
  return n;
}

function requirePad(padTokenId: number | undefined): number {
  if (padTokenId === undefined || !Number.isInteger(padTokenId)) {
    throw new Error('the collator needs a pad token id; DeepSpeed-Chat uses the eos token (tokenizer.padToken = tokenizer.eosToken)');
  }
  return padTokenId;
}

export interface CollateOptions {
  padTokenId: number | undefined;
  /** Pad to this length (DeepSpeed-Chat pads every row to max_seq_len); rows are already truncated to it. */
  maxSeqLen: number;
  /** 'max_length' (default, DeepSpeed-Chat) or 'longest' in the batch (less compute, same loss). */
  padTo?: 'max_length' | 'longest';
}

function width(lengths: readonly number[], o: CollateOptions): number {
  const longest = Math.max(0, ...lengths);
  if (longest > o.maxSeqLen) throw new Error(`a row has ${longest} tokens, more than maxSeqLen ${o.maxSeqLen}; tokenize with the same max_seq_len`);
  return o.padTo === 'longest' ? longest : o.maxSeqLen;
}

/** Right-pad rows into a matrix and its attention mask. */
function rightPad(rows: readonly (readonly number[])[], cols: number, pad: number): { ids: IntMatrix; mask: IntMatrix } {
  const ids = new Int32Array(rows.length * cols).fill(pad);
  const mask = new Int32Array(rows.length * cols);
  rows.forEach((r, i) => {
    ids.set(r, i * cols);
    mask.fill(1, i * cols, i * cols + r.length);
  });
  return { ids: { data: ids, shape: [rows.length, cols] }, mask: { data: mask, shape: [rows.length, cols] } };
}

/**
 * Step 1 (default_data_collator over DeepSpeed-Chat's PromptDataset): right-padded ids, mask, and labels =
 * ids where the mask is 1, -100 at padding. With `maskPrompt`, prompt tokens are -100 too.
 */
export function collatePhase1(items: readonly Phase1Item[], o: CollateOptions & { maskPrompt?: boolean }): Phase1Batch {
  const pad = requirePad(o.padTokenId);
  const cols = width(items.map((x) => x.inputIds.length), o);
  const { ids, mask } = rightPad(items.map((x) => x.inputIds), cols, pad);
  const labels = new Int32Array(ids.data.length);
  items.forEach((x, i) => {
    const masked = o.maskPrompt ? x.promptLength : 0;
    for (let j = 0; j < cols; j++) {
      const k = i * cols + j;
      labels[k] = mask.data[k] === 1 && j >= masked ? ids.data[k] : IGNORE_INDEX;
    }
  });
  return { inputIds: ids, attentionMask: mask, labels: { data: labels, shape: ids.shape } };
}

/** Step 2 (DataCollatorReward): chosen rows, then rejected rows, each right-padded. */
export function collatePhase2(items: readonly Phase2Item[], o: CollateOptions): Phase2Batch {
  const pad = requirePad(o.padTokenId);
  const rows = [...items.map((x) => x.chosenIds), ...items.map((x) => x.rejectedIds)];
  const { ids, mask } = rightPad(rows, width(rows.map((r) => r.length), o), pad);
  return { inputIds: ids, attentionMask: mask };
}

/**
 * Step 3 (DataCollatorRLHF): prompts left-padded to max_prompt_seq_len. DeepSpeed-Chat stores prompts
 * reversed, right-pads, then flips the batch; the result is this layout: pads first, prompt in order.
 */
export function collatePhase3(items: readonly Phase3Item[], o: { padTokenId: number | undefined; maxPromptSeqLen: number }): Phase3Batch {
  const pad = requirePad(o.padTokenId);
  const longest = Math.max(0, ...items.map((x) => x.promptIds.length));
  // DataCollatorRLHF only pads up to max_token_len; a longer prompt (never produced by phase 3's filter) keeps its length.
  const cols = Math.max(o.maxPromptSeqLen, longest);
  const ids = new Int32Array(items.length * cols).fill(pad);
  const mask = new Int32Array(items.length * cols);
  items.forEach((x, i) => {
    const start = i * cols + cols - x.promptIds.length;
    ids.set(x.promptIds, start);
    mask.fill(1, start, (i + 1) * cols);
  });
  return { prompt: { data: ids, shape: [items.length, cols] }, promptAttentionMask: { data: mask, shape: [items.length, cols] } };
}
