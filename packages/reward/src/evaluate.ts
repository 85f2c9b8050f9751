// DeepSpeed-Chat's evaluation_reward: accuracy (chosen end score > rejected) and mean scores over the eval split.
import { allReduceNumbers, type Communicator } from '@rlhfkit/core-tensor';
import { collatePhase2, type Phase2Batch, type Phase2Item } from '@rlhfkit/data';
import type { RewardModel } from './reward-model';

export interface RewardEvalOptions {
  /** --per_device_eval_batch_size (pairs per batch). */
  batchSize: number;
  /** --eval_iters: stop after this many batches (DeepSpeed-Chat's default is 100). */
  evalIters: number;
  /** The pad id the batches are padded with (the model's). */
  padTokenId: number;
  /** --max_seq_len; rows are already truncated to it. */
  maxSeqLen: number;
  /** Data parallel: rank r scores batches r, r + size, ... and the sums are all-reduced (same result, 1/size of the time). */
  comm?: Communicator;
}

export interface RewardEvalResult {
  /** Mean over batches of the batch-mean chosen end score (DeepSpeed-Chat's chosen_last_scores). */
  chosenScore: number;
  /** The same for the rejected answers. */
  rejectedScore: number;
  /** Fraction of pairs whose chosen end score is strictly greater than the rejected one. */
  acc: number;
  /** Mean over batches of the pairwise loss (rlhfkit addition; DeepSpeed-Chat does not print it). */
  loss: number;
  /** Pairs and batches seen. */
  pairs: number;
  batches: number;
}

/** Eval batches in dataset order (SequentialSampler), padded to the longest row: same scores as max_seq_len padding. */
export function* evalBatches(items: readonly Phase2Item[], o: Pick<RewardEvalOptions, 'batchSize' | 'padTokenId' | 'maxSeqLen'>): Generator<Phase2Batch> {
  for (let i = 0; i < items.length; i += o.batchSize) {
    yield collatePhase2(items.slice(i, i + o.batchSize), { padTokenId: o.padTokenId, maxSeqLen: o.maxSeqLen, padTo: 'longest' });
  }
}

/**
 * evaluation_reward: model in eval mode, no gradients, at most evalIters batches. Like DeepSpeed-Chat, the
 * scores are a mean of per-batch means (a short last batch weighs as much as a full one); accuracy is per pair.
 * The model is left in eval mode; the caller switches it back to train().
 */
export function evaluateReward(model: RewardModel, items: readonly Phase2Item[], o: RewardEvalOptions): RewardEvalResult {
  if (items.length === 0) throw new Error('evaluation: the eval split is empty; check --data_split / --data_path (phase 2 needs rows in its share)');
  model.eval();
  let correct = 0;
  let total = 0;
  let chosen = 0;
  let rejected = 0;
  let loss = 0;
  let batches = 0;
  const size = o.comm?.size ?? 1;
  const rank = o.comm?.rank ?? 0;
  let index = 0;
  for (const batch of evalBatches(items, o)) {
    if (index === o.evalIters) break;
    if (index++ % size !== rank) continue;
    const out = model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask });
    out.chosenMeanScores.forEach((c, i) => {
      if (c > out.rejectedMeanScores[i]) correct++;
    });
    total += out.chosenMeanScores.length;
    chosen += mean(out.chosenMeanScores);
    rejected += mean(out.rejectedMeanScores);
    loss += out.loss;
    batches++;
  }
  if (o.comm && size > 1) [correct, total, chosen, rejected, loss, batches] = allReduceNumbers(o.comm, [correct, total, chosen, rejected, loss, batches]);
  return { chosenScore: chosen / batches, rejectedScore: rejected / batches, acc: correct / total, loss: loss / batches, pairs: total, batches };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
