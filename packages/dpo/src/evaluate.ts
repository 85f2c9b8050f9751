// DeepSpeed-Chat's DPO evaluation(): implicit rewards and loss over the eval split, plus the reward accuracy (chosen > rejected).
import type { CausalLM } from '@rlhfkit/core-tensor';
import { collatePhase2, type Phase2Batch, type Phase2Item } from '@rlhfkit/data';
import { computeDpoBatch } from './batch';
import type { DpoSettings } from './dpo-math';

export interface DpoEvalOptions extends DpoSettings {
  /** --per_device_eval_batch_size (pairs per batch). */
  batchSize: number;
  padTokenId: number;
  /** --max_seq_len; rows are already truncated to it. */
  maxSeqLen: number;
}

export interface DpoEvalResult {
  /** Mean over all eval pairs of beta (pi_c - ref_c). */
  chosenReward: number;
  /** Mean over all eval pairs of beta (pi_r - ref_r). */
  rejectedReward: number;
  /** chosenReward - rejectedReward. */
  margin: number;
  /** Mean over batches of the batch loss, as DeepSpeed-Chat averages it. */
  loss: number;
  /** Fraction of pairs whose implicit reward is strictly higher for the chosen answer (a tie, e.g. policy = reference, counts as wrong). */
  acc: number;
  /** Fraction of pairs to whose chosen answer the policy alone gives the higher log-prob (over the masked tokens). */
  logpAcc: number;
  /** The last batch's mean rewards: what DeepSpeed-Chat's evaluation() prints (its loop leaves them from the last batch). */
  lastBatch: { chosenReward: number; rejectedReward: number };
  pairs: number;
  batches: number;
}

/** Eval batches in dataset order (SequentialSampler), padded to the longest row: the same log-probs as max_seq_len padding. */
export function* dpoEvalBatches(items: readonly Phase2Item[], o: Pick<DpoEvalOptions, 'batchSize' | 'padTokenId' | 'maxSeqLen'>): Generator<Phase2Batch> {
  for (let i = 0; i < items.length; i += o.batchSize) {
    yield collatePhase2(items.slice(i, i + o.batchSize), { padTokenId: o.padTokenId, maxSeqLen: o.maxSeqLen, padTo: 'longest' });
  }
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * DeepSpeed-Chat's evaluation(model, ref_model, ...): policy and reference in eval mode, no gradients, every eval batch.
 * The policy's mode is restored afterwards. Rewards are averaged over all pairs (DeepSpeed-Chat prints the last
 * batch's; that is kept in `lastBatch`).
 */
export function evaluateDpo(policy: CausalLM, reference: CausalLM, items: readonly Phase2Item[], o: DpoEvalOptions): DpoEvalResult {
  if (items.length === 0) throw new Error('DPO evaluation: the eval split is empty; check --data_split / --data_path (phase 2 needs rows in its share)');
  const wasTraining = policy.training;
  const refWasTraining = reference.training;
  policy.eval();
  reference.eval();
  try {
    const chosen: number[] = [];
    const rejected: number[] = [];
    let correct = 0;
    let logpCorrect = 0;
    let loss = 0;
    let batches = 0;
    let last = { chosenReward: 0, rejectedReward: 0 };
    for (const batch of dpoEvalBatches(items, o)) {
      const r = computeDpoBatch(policy, reference, batch, o);
      const b = r.chosenRewards.length;
      r.chosenRewards.forEach((c, i) => {
        if (c > r.rejectedRewards[i]) correct++;
        if (r.policyLogps[i] > r.policyLogps[b + i]) logpCorrect++;
      });
      chosen.push(...r.chosenRewards);
      rejected.push(...r.rejectedRewards);
      loss += r.loss;
      batches++;
      last = { chosenReward: mean(r.chosenRewards), rejectedReward: mean(r.rejectedRewards) };
    }
    const chosenReward = mean(chosen);
    const rejectedReward = mean(rejected);
    return {
      chosenReward, rejectedReward, margin: chosenReward - rejectedReward, loss: loss / batches, acc: correct / chosen.length,
      logpAcc: logpCorrect / chosen.length, lastBatch: last, pairs: chosen.length, batches,
    };
  } finally {
    policy.train(wasTraining);
    reference.train(refWasTraining);
  }
}

/** The eval metrics under grouped names (metrics.jsonl, TensorBoard). */
export function dpoEvalMetrics(r: DpoEvalResult): Record<string, number> {
  return {
    'eval/loss': r.loss,
    'eval/acc': r.acc,
    'eval/chosen_reward': r.chosenReward,
    'eval/rejected_reward': r.rejectedReward,
    'eval/reward_margin': r.margin,
    'eval/logp_acc': r.logpAcc,
  };
}

/** DeepSpeed-Chat's printed line (`chosen: .., rejected: .., loss: ..`) with the accuracy added. */
export function formatDpoEval(r: DpoEvalResult): string {
  return `chosen: ${r.chosenReward}, rejected: ${r.rejectedReward}, loss: ${r.loss}, acc: ${r.acc}`;
}
