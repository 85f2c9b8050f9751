// DeepSpeed-Chat's DPO maths: the label mask from the chosen/rejected divergence, get_batch_logps, and the (label-smoothed) sigmoid loss.
import * as tf from '@tensorflow/tfjs';
import { gatherLogProbs, type CausalLM } from '@rlhfkit/core-tensor';
import type { IntMatrix } from '@rlhfkit/data';

/** Token ids or a mask: plain rows, or a collator matrix ({ data: Int32Array, shape: [rows, cols] }). */
export type DpoIds = number[][] | IntMatrix;

/** A DPO batch: [2B, T], the B chosen rows first, then the B rejected rows (DataCollatorReward's order). */
export interface DpoInputs {
  inputIds: DpoIds;
  attentionMask: DpoIds;
}

export interface DpoSettings {
  /** DPO temperature (--beta, DeepSpeed-Chat's default 0.1). */
  beta: number;
  /** Assumed preference-flip rate (--label_smoothing, default 0). */
  labelSmoothing: number;
}

/** `number[][]` or a matrix -> a matrix (copied from rows, shared otherwise); rows must be equally long. */
export function toIntMatrix(x: DpoIds, what: string): IntMatrix {
  if (!Array.isArray(x)) return x;
  const rows = x.length;
  const cols = rows ? x[0].length : 0;
  const data = new Int32Array(rows * cols);
  x.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`${what}: row ${i} has ${r.length} entries but row 0 has ${cols}; pad the rows to one length`);
    data.set(r, i * cols);
  });
  return { data, shape: [rows, cols] };
}

function pairsOf(ids: IntMatrix): number {
  const [rows] = ids.shape;
  if (rows === 0 || rows % 2 !== 0) {
    throw new Error(`a DPO batch needs an even number of rows (B chosen, then B rejected), got ${rows}`);
  }
  return rows / 2;
}

/** The label mask and where each pair starts to differ. */
export interface LabelMask {
  /** [2B, T]: 1 = the token counts in the sequence log-prob. */
  mask: IntMatrix;
  /** Per pair: the first position where the chosen and rejected rows differ (0 when they never do). */
  divergence: number[];
}

/**
 * DeepSpeed-Chat's DPO label mask: 1 where the id is not the pad id, then 0 before the pair's first divergence, in
 * both rows of the pair. The divergence is searched over the whole padded rows; identical rows have none, which
 * DeepSpeed-Chat turns into index 0 (nothing is cut: the whole non-pad rows count, and their log-probs cancel).
 * With pad = eos (DeepSpeed-Chat's choice for every non-LLaMA model) every eos-id token is masked too; for OPT that
 * includes its BOS `</s>`.
 */
export function dpoLabelMask(inputIds: DpoIds, padTokenId: number): LabelMask {
  const ids = toIntMatrix(inputIds, 'inputIds');
  const b = pairsOf(ids);
  const t = ids.shape[1];
  const d = ids.data;
  const mask = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) mask[i] = d[i] !== padTokenId ? 1 : 0;
  const divergence: number[] = [];
  for (let i = 0; i < b; i++) {
    const c = i * t;
    const r = (i + b) * t;
    let k = 0;
    while (k < t && d[c + k] === d[r + k]) k++;
    const div = k === t ? 0 : k;
    mask.fill(0, c, c + div);
    mask.fill(0, r, r + div);
    divergence.push(div);
  }
  return { mask: { data: mask, shape: [2 * b, t] }, divergence };
}

/**
 * The next-token labels and their mask, one position early (position t holds token t+1, the last position 0): what
 * `labels[:, 1:]` and `label_mask[:, 1:]` are in get_batch_logps, kept at width T so the logits need no slicing.
 */
export function shiftedLabels(inputIds: IntMatrix, labelMask: IntMatrix): { labels: IntMatrix; weights: Float32Array } {
  const [rows, t] = inputIds.shape;
  const labels = new Int32Array(rows * t);
  const weights = new Float32Array(rows * t);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k + 1 < t; k++) {
      labels[r * t + k] = inputIds.data[r * t + k + 1];
      weights[r * t + k] = labelMask.data[r * t + k + 1];
    }
  }
  return { labels: { data: labels, shape: [rows, t] }, weights };
}

/**
 * DeepSpeed-Chat's get_batch_logps for one model: sum over t of log softmax(logits[t])[id[t+1]] x mask[t+1], per row
 * -> [2B]. Differentiable; call inside tf.tidy or tf.variableGrads.
 */
export function sequenceLogps(model: CausalLM, inputIds: IntMatrix, attentionMask: IntMatrix, labelMask: IntMatrix): tf.Tensor1D {
  const { labels, weights } = shiftedLabels(inputIds, labelMask);
  return tf.tidy(() => {
    const ids = tf.tensor2d(inputIds.data, inputIds.shape, 'int32');
    const mask = tf.tensor2d(attentionMask.data, attentionMask.shape, 'int32');
    const logits = model.forward({ inputIds: ids, attentionMask: mask }); // [2B, T, V]
    const lp = gatherLogProbs(logits, tf.tensor2d(labels.data, labels.shape, 'int32')); // [2B, T]: log p(id[t+1])
    return tf.sum(tf.mul(lp, tf.tensor2d(weights, labels.shape)), 1) as tf.Tensor1D; // [2B]
  });
}

/** log sigmoid(z) = min(z, 0) - log(1 + exp(-|z|)), with its exact gradient sigmoid(-z) (also at z = 0). */
export function logSigmoid(z: tf.Tensor1D): tf.Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor1D;
    (args[1] as tf.GradSaveFunc)([x]);
    const value = tf.sub(tf.minimum(x, 0), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(x))))));
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.sigmoid(tf.neg(saved[0]))) };
  });
  return op(z) as tf.Tensor1D;
}

/** The DPO loss of a batch and its parts, as tensors. */
export interface DpoTerms {
  /** Mean over pairs of -logsigmoid(z)(1 - ls) - logsigmoid(-z) ls. */
  loss: tf.Scalar;
  /** [B] z = beta ((pi_c - ref_c) - (pi_r - ref_r)). */
  z: tf.Tensor1D;
  /** [B] beta (pi_c - ref_c) and beta (pi_r - ref_r): the implicit rewards. */
  chosenRewards: tf.Tensor1D;
  rejectedRewards: tf.Tensor1D;
}

/** main.py's loss lines from the two models' sequence log-probs ([2B] each, chosen rows first). */
export function dpoTerms(policyLogps: tf.Tensor1D, refLogps: tf.Tensor1D, s: DpoSettings): DpoTerms {
  const n = policyLogps.shape[0];
  if (n % 2 !== 0 || refLogps.shape[0] !== n) throw new Error(`dpoTerms: need [2B] log-probs from both models, got [${n}] and [${refLogps.shape[0]}]`);
  const b = n / 2;
  return tf.tidy(() => {
    const diff = tf.sub(policyLogps, refLogps); // [2B]
    const chosenRewards = tf.mul(tf.slice(diff, [0], [b]), s.beta) as tf.Tensor1D;
    const rejectedRewards = tf.mul(tf.slice(diff, [b], [b]), s.beta) as tf.Tensor1D;
    const z = tf.sub(chosenRewards, rejectedRewards) as tf.Tensor1D; // = beta ((pi_c - ref_c) - (pi_r - ref_r))
    const ls = s.labelSmoothing;
    let perPair = tf.mul(logSigmoid(z), -(1 - ls));
    if (ls !== 0) perPair = tf.sub(perPair, tf.mul(logSigmoid(tf.neg(z)), ls));
    return { loss: tf.mean(perPair) as tf.Scalar, z, chosenRewards, rejectedRewards };
  });
}
