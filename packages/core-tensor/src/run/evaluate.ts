// DeepSpeed-Chat's evaluation(): the mean of per-batch losses over the eval set, and its exponential (perplexity).
import * as tf from '@tensorflow/tfjs';
import { allReduceNumbers, type Communicator } from '../dist/communicator';

export interface LossEvaluation {
  /** Mean over batches of each batch's mean loss (DeepSpeed-Chat averages batch losses, not tokens). */
  loss: number;
  /** exp(loss); Infinity when it overflows (as DeepSpeed-Chat's OverflowError branch). */
  perplexity: number;
  batches: number;
}

/**
 * Runs `lossOf` on every batch without gradients (each in its own tidy) and averages, as DeepSpeed-Chat's step-1 eval.
 * With a communicator of several ranks, rank r evaluates batches r, r + size, ... and the sums are all-reduced, so every
 * rank gets the mean over all batches (what one process computes) in 1/size of the time.
 */
export function evaluateMeanLoss<B>(batches: Iterable<B>, lossOf: (batch: B) => tf.Scalar, comm?: Communicator): LossEvaluation {
  const size = comm?.size ?? 1;
  const rank = comm?.rank ?? 0;
  let sum = 0;
  let n = 0;
  let i = 0;
  for (const b of batches) {
    if (i++ % size !== rank) continue;
    const t = tf.tidy(() => lossOf(b));
    sum += t.dataSync()[0];
    t.dispose();
    n += 1;
  }
  if (comm && size > 1) [sum, n] = allReduceNumbers(comm, [sum, n]);
  if (n === 0) throw new Error('evaluation needs at least one batch; the eval dataset is empty (check --data_split and the dataset)');
  const loss = sum / n;
  return { loss, perplexity: Math.exp(loss), batches: n };
}
