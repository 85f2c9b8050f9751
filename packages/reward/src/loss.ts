// The step-2 training objective as a closure for a training loop: a batch in, DeepSpeed-Chat's pairwise loss out.
import * as tf from '@tensorflow/tfjs';
import type { RewardBatch, RewardModel } from './reward-model';

/**
 * The scalar loss of one chosen-then-rejected micro-batch, for tf.variableGrads / GradientAccumulator.backward.
 * The end-score tensors the forward also makes are freed here, so nothing but the loss outlives the call.
 */
export function rewardLoss(model: RewardModel, batch: RewardBatch): tf.Scalar {
  const out = model.forwardTensors(batch);
  tf.dispose([out.chosenEndScores, out.rejectedEndScores]);
  return out.loss;
}
