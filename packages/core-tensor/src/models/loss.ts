// Causal-LM cross-entropy with HF's shift and ignore_index, and per-token log-probs (DeepSpeed-Chat's gather_log_probs).
import * as tf from '@tensorflow/tfjs';
import { toIntTensor } from './masks';
import type { TokenIds } from './types';

export const IGNORE_INDEX = -100;

/**
 * log softmax(logits)[label] per row: logits [n, v], labels int32 [n] (in range) -> [n], with the analytic
 * gradient (onehot - softmax)·dy. Autodiff through tf.logSumExp would differentiate its max with a broadcast
 * Equal over [n, v] (seconds on wasm); the label is picked with a one-hot product, as gather's gradient
 * (UnsortedSegmentSum over n*v segments) is very slow on the cpu backend.
 */
function labelLogProbs(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  // int32 oneHot then cast: tfjs-backend-wasm 4.22's float32 OneHot writes integer bits (1 -> 1.4e-45).
  const hot = tf.cast(tf.oneHot(labels, logits.shape[1]), 'float32'); // [n, v]
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    (args[1] as tf.GradSaveFunc)([x, hot]);
    const value = tf.sub(tf.sum(tf.mul(x, hot), -1), tf.logSumExp(x, -1)); // [n]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => tf.mul(tf.sub(saved[1], tf.softmax(saved[0])), tf.expandDims(dy, 1));
    return { value, gradFunc };
  });
  return op(logits) as tf.Tensor1D;
}

/**
 * HF's causal-LM loss: logits[:, :-1] scored against labels[:, 1:], labels == ignoreIndex skipped, mean over
 * the counted terms (0 when nothing is counted, where torch would give NaN). logits [b, t, v], labels [b, t]
 * -> scalar. The labels are shifted instead of the logits, so the [b, t, v] tensor is never copied.
 */
export function causalLmLoss(logits: tf.Tensor3D, labels: TokenIds, ignoreIndex = IGNORE_INDEX): tf.Scalar {
  return tf.tidy(() => {
    const [b, t, v] = logits.shape;
    const lab = toIntTensor(labels, 'labels');
    if (lab.shape[0] !== b || lab.shape[1] !== t) {
      throw new Error(`labels have shape [${lab.shape}] but logits are [${b}, ${t}, ${v}]; they must cover the same [batch, seq]`);
    }
    if (t < 2) return tf.scalar(0);
    const ignored = tf.fill([b, 1], ignoreIndex, 'int32');
    const next = tf.reshape(tf.concat([tf.slice(lab, [0, 1], [b, t - 1]), ignored], 1), [b * t]) as tf.Tensor1D; // [b*t]: label of t+1
    const valid = tf.notEqual(next, tf.scalar(ignoreIndex, 'int32'));
    const safe = tf.where(valid, next, tf.zerosLike(next)) as tf.Tensor1D;
    const w = tf.cast(valid, 'float32');
    const lp = labelLogProbs(tf.reshape(logits, [b * t, v]) as tf.Tensor2D, safe); // [b*t]
    return tf.div(tf.sub(0, tf.sum(tf.mul(lp, w))), tf.maximum(tf.sum(w), 1)) as tf.Scalar; // 0 - x: no -0 when empty
  });
}

/**
 * log softmax(logits)[label] at every position: logits [b, t, v], labels [b, t] -> [b, t]. No shift: pass
 * logits[:, :-1] and ids[:, 1:] for next-token log-probs, as DeepSpeed-Chat's gather_log_probs does.
 */
export function gatherLogProbs(logits: tf.Tensor3D, labels: TokenIds): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, t, v] = logits.shape;
    const lab = toIntTensor(labels, 'labels');
    if (lab.shape[0] !== b || lab.shape[1] !== t) {
      throw new Error(`labels have shape [${lab.shape}] but logits are [${b}, ${t}, ${v}]`);
    }
    const lp = labelLogProbs(tf.reshape(logits, [b * t, v]) as tf.Tensor2D, tf.reshape(lab, [b * t]) as tf.Tensor1D); // [b*t]
    return tf.reshape(lp, [b, t]) as tf.Tensor2D; // [b, t]
  });
}
