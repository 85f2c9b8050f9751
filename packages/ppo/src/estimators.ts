// Advantage estimators: DeepSpeed-Chat's GAE with a critic, and the critic-free group baselines (GRPO, RLOO, REINFORCE).
import type { AdvantageEstimator } from './config';
import type { Experience } from './experience';
import { floatMatrix, sliceCols, type FloatMatrix } from './matrix';
import { answerEnds, computeRewards, getAdvantagesAndReturns, maskedWhiten, type PpoHyperParams } from './ppo-maths';
import { actionMaskOf, rlhfTargets, type RlhfTargets } from './rlhf-targets';

/** GRPO's ε in (r - mean) / (std + ε) (TRL's value). */
export const GRPO_EPS = 1e-4;

/** Rows grouped by prompt: group id -> row indices, in row order. */
function groupsOf(promptIndex: readonly number[]): Map<number, number[]> {
  const g = new Map<number, number[]>();
  promptIndex.forEach((p, i) => {
    const rows = g.get(p);
    if (rows) rows.push(i);
    else g.set(p, [i]);
  });
  return g;
}

/**
 * Per-answer advantages of a critic-free estimator from the reward scores and each row's prompt:
 *  - grpo: (r - mean of its prompt's group) / (std of the group + 1e-4), unbiased std as torch.std (a group of one: 0);
 *  - rloo: r - mean of the other answers to the same prompt (a group of one: 0);
 *  - reinforce_baseline: r - mean over the whole batch.
 */
export function groupAdvantages(estimator: Exclude<AdvantageEstimator, 'gae'>, scores: ArrayLike<number>, promptIndex: readonly number[]): Float32Array {
  const n = scores.length;
  if (promptIndex.length !== n) throw new Error(`groupAdvantages: ${n} scores but ${promptIndex.length} prompt indices`);
  const out = new Float32Array(n);
  if (estimator === 'reinforce_baseline') {
    let s = 0;
    for (let i = 0; i < n; i++) s += scores[i];
    const m = n ? s / n : 0;
    for (let i = 0; i < n; i++) out[i] = scores[i] - m;
    return out;
  }
  for (const rows of groupsOf(promptIndex).values()) {
    const k = rows.length;
    if (k < 2) continue; // no baseline from a single answer: no signal
    const sum = rows.reduce((a, i) => a + scores[i], 0);
    if (estimator === 'rloo') {
      for (const i of rows) out[i] = scores[i] - (sum - scores[i]) / (k - 1);
    } else {
      const m = sum / k;
      const std = Math.sqrt(rows.reduce((a, i) => a + (scores[i] - m) ** 2, 0) / (k - 1));
      for (const i of rows) out[i] = (scores[i] - m) / (std + GRPO_EPS);
    }
  }
  return out;
}

export interface EstimatorOptions extends Partial<PpoHyperParams> {
  estimator: AdvantageEstimator;
  /** KL to the reference as a loss term (GRPO's form) instead of a per-token reward. */
  klInLoss?: boolean;
  whitenAdvantages?: boolean;
}

/**
 * Targets of a critic-free update. With klInLoss the row's advantage covers each of its answer tokens (GRPO); otherwise
 * the per-token rewards are -klCtl·(log π - log π_ref) with the row's advantage added where DeepSpeed-Chat puts the score,
 * and the advantage of a token is its discounted reward-to-go (GAE with V = 0 and λ = 1: REINFORCE/RLOO as OpenRLHF).
 */
export function criticFreeTargets(e: Experience, o: EstimatorOptions): RlhfTargets {
  if (o.estimator === 'gae') throw new Error('criticFreeTargets: gae needs a critic; use rlhfTargets');
  const start = e.prompts.shape[1] - 1;
  const mask = actionMaskOf(e);
  const [b, t] = mask.shape;
  const ends = answerEnds(mask, start);
  const rowAdv = e.rowAdvantages ?? groupAdvantages(o.estimator, e.rewards, e.promptIndex);
  const actionMask = sliceCols(mask, start);
  const w = t - start;
  let advantages: FloatMatrix;
  let rewards: FloatMatrix;
  if (o.klInLoss) {
    advantages = floatMatrix(b, w);
    for (let i = 0; i < b; i++) for (let j = 0; j < w; j++) advantages.data[i * w + j] = rowAdv[i] * actionMask.data[i * w + j];
    rewards = floatMatrix(b, t);
  } else {
    rewards = computeRewards(start + 1, e.logprobs, e.refLogprobs, rowAdv, mask, o);
    for (let i = 0; i < b; i++) for (let j = Math.max(0, ends[i]); j < t; j++) rewards.data[i * t + j] = 0;
    advantages = getAdvantagesAndReturns(floatMatrix(b, t), rewards, start, { ...o, lam: 1 }).advantages;
  }
  if (o.whitenAdvantages) advantages = { data: maskedWhiten(advantages.data, actionMask.data), shape: advantages.shape };
  return {
    start,
    ends,
    actionMask,
    oldLogprobs: sliceCols(e.logprobs, start),
    refLogprobs: sliceCols(e.refLogprobs, start),
    oldValues: null,
    advantages,
    returns: null,
    rewards,
  };
}

/** The targets of one micro-batch for the configured estimator (gae: DeepSpeed-Chat's train_rlhf maths). */
export function buildTargets(e: Experience, o: EstimatorOptions): RlhfTargets {
  return o.estimator === 'gae' ? rlhfTargets(e, o) : criticFreeTargets(e, o);
}
