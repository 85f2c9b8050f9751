// DPO batches: step 2's chosen-then-rejected rows with the label mask and the frozen reference's log-probs; the loss on host numbers or as a training graph.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '@rlhfkit/core-tensor';
import { collatePhase2, type IntMatrix, type Phase2Batch, type Phase2Item } from '@rlhfkit/data';
import { dpoLabelMask, dpoTerms, sequenceLogps, toIntMatrix, type DpoInputs, type DpoSettings } from './dpo-math';

/** A training micro-batch: the collated rows, their label mask, and the reference's sequence log-probs (no gradient). */
export interface DpoBatch extends Phase2Batch {
  readonly labelMask: IntMatrix;
  /** Per pair: first chosen/rejected divergence. */
  readonly divergence: number[];
  /** [2B] get_batch_logps of the reference, chosen rows first. */
  readonly refLogps: Float32Array;
}

export interface DpoBatchOptions {
  padTokenId: number;
  maxSeqLen: number;
  /** 'longest' (default): the same log-probs as DeepSpeed-Chat's max_seq_len padding, less compute. */
  padTo?: 'longest' | 'max_length';
}

/** The reference's get_batch_logps on host: forward without gradient, in eval mode (DeepSpeed-Chat calls ref_model.eval()). */
export function referenceLogps(reference: CausalLM, inputIds: IntMatrix, attentionMask: IntMatrix, labelMask: IntMatrix): Float32Array {
  const t = tf.tidy(() => sequenceLogps(reference, inputIds, attentionMask, labelMask));
  const out = Float32Array.from(t.dataSync());
  t.dispose();
  return out;
}

/** DataCollatorReward's batch of these items, its label mask, and the reference's log-probs. */
export function makeDpoBatch(items: readonly Phase2Item[], reference: CausalLM, o: DpoBatchOptions): DpoBatch {
  const b = collatePhase2(items, { padTokenId: o.padTokenId, maxSeqLen: o.maxSeqLen, padTo: o.padTo ?? 'longest' });
  const { mask, divergence } = dpoLabelMask(b.inputIds, o.padTokenId);
  return { ...b, labelMask: mask, divergence, refLogps: referenceLogps(reference, b.inputIds, b.attentionMask, mask) };
}

/**
 * The training graph: the policy's sequence log-probs against the batch's reference log-probs, DeepSpeed-Chat's
 * loss. A differentiable scalar for tf.variableGrads (the shared loop's GradientAccumulator calls it there).
 */
export function dpoTrainingLoss(policy: CausalLM, batch: DpoBatch, s: DpoSettings): tf.Scalar {
  return tf.tidy(() => {
    const pi = sequenceLogps(policy, batch.inputIds, batch.attentionMask, batch.labelMask);
    const terms = dpoTerms(pi, tf.tensor1d(batch.refLogps), s);
    return terms.loss;
  });
}

/** What computeDpoBatch returns: host numbers; per-row arrays have the chosen rows first, then the rejected rows. */
export interface DpoBatchResult {
  loss: number;
  /** [B] beta (pi_c - ref_c). */
  chosenRewards: number[];
  /** [B] beta (pi_r - ref_r). */
  rejectedRewards: number[];
  /** [2B] get_batch_logps of the policy. */
  policyLogps: number[];
  /** [2B] get_batch_logps of the reference. */
  refLogps: number[];
}

export interface ComputeDpoOptions extends DpoSettings {
  /** The pad id the label mask leaves out (DeepSpeed-Chat: the tokenizer's, = eos except for LLaMA). */
  padTokenId: number;
}

/**
 * DeepSpeed-Chat's DPO on one batch ([2B, T] ids and attention mask, chosen rows then rejected rows), without
 * gradients: the label mask, both models' get_batch_logps, the loss and the implicit rewards. The models' modes are
 * left as they are (put them in eval() for DeepSpeed-Chat's evaluation numbers).
 */
export function computeDpoBatch(policy: CausalLM, reference: CausalLM, inputs: DpoInputs, o: ComputeDpoOptions): DpoBatchResult {
  const ids = toIntMatrix(inputs.inputIds, 'inputIds');
  const mask = toIntMatrix(inputs.attentionMask, 'attentionMask');
  if (mask.shape[0] !== ids.shape[0] || mask.shape[1] !== ids.shape[1]) {
    throw new Error(`attentionMask has shape [${mask.shape}] but inputIds has [${ids.shape}]; they must match`);
  }
  const { mask: labelMask } = dpoLabelMask(ids, o.padTokenId);
  const out = tf.tidy(() => {
    const pi = sequenceLogps(policy, ids, mask, labelMask);
    const ref = sequenceLogps(reference, ids, mask, labelMask);
    const t = dpoTerms(pi, ref, o);
    return [t.loss, t.chosenRewards, t.rejectedRewards, pi, ref];
  });
  const [loss, chosen, rejected, pi, ref] = out.map((t) => Array.from(t.dataSync()));
  tf.dispose(out);
  return { loss: loss[0], chosenRewards: chosen, rejectedRewards: rejected, policyLogps: pi, refLogps: ref };
}
