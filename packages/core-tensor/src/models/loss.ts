// Causal-LM cross-entropy with HF's shift and ignore_index, and per-token log-probs (DeepSpeed-Chat's gather_log_probs).
import * as tf from '@tensorflow/tfjs';
import { canUseNativeLabelLogProbs, nativeLabelLogProbs } from '../backend/native-loss';
import { toIntTensor } from './masks';
import type { TokenIds } from './types';

export const IGNORE_INDEX = -100;

/**
 * log softmax(logits)[label] per row: logits [n, v], labels int32 [n] (in range) -> [n], with the analytic
 * gradient (onehot - softmax)·dy. One Softmax kernel serves both passes: log-sum-exp is read off it as
 * max(x) - log(max(softmax(x))) (max(softmax) = 1/sum(exp(x - max)) lies in [1/v, 1], so its log never
 * underflows), and the gradient reuses the saved probabilities instead of recomputing them. The label is
 * picked with a gather of n values and its gradient is a scatter of n values: no [n, v] one-hot, no exp
 * pass of its own (wasm's Exp is scalar and cost more than the whole softmax), no tf.logSumExp gradient.
 */
function labelLogProbs(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  // wasm with the native kernels: one pass forward (keeping only each row's log-sum-exp), one pass back.
  if (canUseNativeLabelLogProbs(logits)) return nativeLabelLogProbs(logits, labels);
  const [n, v] = logits.shape;
  const rows = tf.range(0, n, 1, 'int32');
  const flatIndex = tf.add(tf.mul(rows, tf.scalar(v, 'int32')), labels); // [n]: row * v + label
  const cellIndex = tf.stack([rows, labels], 1) as tf.Tensor2D; // [n, 2]
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor2D;
    const probs = tf.softmax(x); // [n, v]
    // Saved, not closed over: the caller's tidy frees cellIndex before the backward pass runs.
    (args[1] as tf.GradSaveFunc)([probs, cellIndex]);
    const picked = tf.gather(tf.reshape(x, [n * v]), flatIndex); // [n]
    const lse = tf.sub(tf.max(x, -1), tf.log(tf.max(probs, -1))); // [n]
    const value = tf.sub(picked, lse);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
      const minusP = tf.mul(saved[0], tf.neg(tf.expandDims(dy, 1))); // [n, v]: -softmax·dy
      return tf.add(minusP, tf.scatterND(saved[1], dy, [n, v])); // + dy at each label
    };
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
