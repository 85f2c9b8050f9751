// What train_rlhf computes before its forward passes (rewards, zeroing past `ends`, GAE) and the per-batch PPO statistics.
import type { Experience } from './experience';
import { floatMatrix, sliceCols, type FloatMatrix } from './matrix';
import { answerEnds, computeRewards, getAdvantagesAndReturns, maskedWhiten, type PpoHyperParams } from './ppo-maths';

/** The fixed inputs of one PPO update on one micro-batch, all on the host. T = L - 1, W = T - start. */
export interface RlhfTargets {
  /** P - 1: the first action's index in the [B, T] per-token arrays. */
  start: number;
  /** DeepSpeed-Chat's `ends` per row (start + answer tokens + 1). */
  ends: number[];
  /** [B, W] attention_mask[:, 1:][:, start:] as float: the answer tokens the losses average over. */
  actionMask: FloatMatrix;
  /** [B, W] the experience's log-probs from `start` (the ratio's denominator). */
  oldLogprobs: FloatMatrix;
  /** [B, W] the reference's log-probs from `start` (for a KL term in the loss). */
  refLogprobs: FloatMatrix;
  /** [B, W] the critic's experience values from `start`, zeroed from `ends` on; null without a critic. */
  oldValues: FloatMatrix | null;
  /** [B, W] advantages. */
  advantages: FloatMatrix;
  /** [B, W] value targets (advantages + old values); null without a critic. */
  returns: FloatMatrix | null;
  /** [B, T] per-token rewards after zeroing past `ends` (DeepSpeed-Chat's old_rewards). */
  rewards: FloatMatrix;
}

export interface TargetOptions extends Partial<PpoHyperParams> {
  /** Whiten the advantages over the batch's answer tokens (TRL/OpenRLHF style; DeepSpeed-Chat does not). */
  whitenAdvantages?: boolean;
}

/** attention_mask[:, 1:] as float [B, L-1] (DeepSpeed-Chat's action_mask). */
export function actionMaskOf(e: Experience): FloatMatrix {
  const [b, l] = e.attentionMask.shape;
  const out = floatMatrix(b, l - 1);
  for (let i = 0; i < b; i++) for (let t = 1; t < l; t++) out.data[i * (l - 1) + t - 1] = e.attentionMask.data[i * l + t];
  return out;
}

/**
 * DeepSpeed-Chat's train_rlhf up to its forward passes: rewards = compute_rewards(...); old_rewards[b, ends_b:] = 0 and
 * old_values[b, ends_b:] = 0 (DeepSpeed-Chat zeroes the caller's values in place; here a copy is zeroed, which is the same
 * for every later use since the zeroing is idempotent); GAE from start. Needs a critic (exp.values).
 */
export function rlhfTargets(e: Experience, o: TargetOptions = {}): RlhfTargets {
  if (!e.values) throw new Error('rlhfTargets: the experience has no critic values; GAE needs a critic (use a critic-free advantage estimator instead)');
  const start = e.prompts.shape[1] - 1;
  const mask = actionMaskOf(e);
  const [b, t] = mask.shape;
  if (start < 0 || start >= t) throw new Error(`rlhfTargets: the prompt length ${start + 1} leaves no answer in sequences of length ${t + 1}`);
  const ends = answerEnds(mask, start);
  const rewards = computeRewards(start + 1, e.logprobs, e.refLogprobs, e.rewards, mask, o);
  const values: FloatMatrix = { data: Float32Array.from(e.values.data), shape: [b, t] };
  for (let i = 0; i < b; i++) {
    for (let j = Math.max(0, ends[i]); j < t; j++) {
      rewards.data[i * t + j] = 0;
      values.data[i * t + j] = 0;
    }
  }
  const gae = getAdvantagesAndReturns(values, rewards, start, o);
  const actionMask = sliceCols(mask, start);
  let advantages = gae.advantages;
  if (o.whitenAdvantages) advantages = { data: maskedWhiten(advantages.data, actionMask.data), shape: advantages.shape };
  return {
    start,
    ends,
    actionMask,
    oldLogprobs: sliceCols(e.logprobs, start),
    refLogprobs: sliceCols(e.refLogprobs, start),
    oldValues: sliceCols(values, start),
    advantages,
    returns: gae.returns,
    rewards,
  };
}

/** Statistics of an experience batch for the progress line and metrics.jsonl. */
export interface ExperienceStats {
  /** Mean reward-model score (before any rlhfkit penalty). */
  score: number;
  /** Mean of the rewards the update uses (after penalties/whitening). */
  reward: number;
  /** Mean over rows of Σ over answer tokens of (log π - log π_ref): TRL's objective/kl. */
  kl: number;
  /** Mean answer length in tokens (DeepSpeed-Chat's count of non-pad answer tokens). */
  answerLength: number;
  rows: number;
}

/** ExperienceStats of one experience batch. */
export function experienceStats(e: Experience): ExperienceStats {
  const mask = actionMaskOf(e);
  const [b, t] = mask.shape;
  const start = e.prompts.shape[1] - 1;
  let kl = 0;
  let len = 0;
  for (let i = 0; i < b; i++) {
    for (let j = Math.max(0, start); j < t; j++) {
      const m = mask.data[i * t + j];
      kl += m * (e.logprobs.data[i * t + j] - e.refLogprobs.data[i * t + j]);
      len += m;
    }
  }
  let score = 0;
  let reward = 0;
  for (let i = 0; i < b; i++) {
    score += e.rawScores[i];
    reward += e.rewards[i];
  }
  return { score: score / b, reward: reward / b, kl: kl / b, answerLength: len / b, rows: b };
}

/** Row-weighted mean of several batches' statistics. */
export function mergeStats(all: readonly ExperienceStats[]): ExperienceStats {
  const rows = all.reduce((n, s) => n + s.rows, 0);
  const w = (k: keyof Omit<ExperienceStats, 'rows'>): number => all.reduce((a, s) => a + s[k] * s.rows, 0) / Math.max(1, rows);
  return { score: w('score'), reward: w('reward'), kl: w('kl'), answerLength: w('answerLength'), rows };
}
