// log softmax(logits)[label] per row as native kernels: a forward that keeps only each row's log-sum-exp, a backward in one pass.
import * as tf from '@tensorflow/tfjs';
import { heapAccess, nativeOps, registerOnce, wasmOf } from './native-ops';

/**
 * Forward: logits [n, v] float32, labels [n] int32 -> log-probs [n] and lse [n] (each row's log-sum-exp, all the
 * backward needs besides the logits). Backward: dy [n], logits, labels, lse -> dlogits [n, v] =
 * dy * (onehot(label) - softmax), written once. No [n, v] temporary in either direction.
 */
export const LABEL_LOG_PROBS = 'RlhfkitLabelLogProbs';
export const LABEL_LOG_PROBS_GRAD = 'RlhfkitLabelLogProbsGrad';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function forward(args: Args): tf.TensorInfo[] {
  const backend = wasmOf(args.backend);
  const { logits, labels } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (logits == null || labels == null || native == null) throw new Error(`${LABEL_LOG_PROBS}: needs logits, labels and the native kernels`);
  const [n, v] = logits.shape;
  const out = backend.makeOutput([n], 'float32');
  const lse = backend.makeOutput([n], 'float32');
  const h = heapAccess(backend);
  native.labelLogProbs(h.heap, h.at(logits), h.at(labels), h.at(out), h.at(lse), n, v);
  return [out, lse];
}

function backward(args: Args): tf.TensorInfo {
  const backend = wasmOf(args.backend);
  const { dy, logits, labels, lse } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (dy == null || logits == null || labels == null || lse == null || native == null) {
    throw new Error(`${LABEL_LOG_PROBS_GRAD}: needs dy, logits, labels, lse and the native kernels`);
  }
  const [n, v] = logits.shape;
  const dl = backend.makeOutput([n, v], 'float32');
  const h = heapAccess(backend);
  native.labelLogProbsGrad(h.heap, h.at(dy), h.at(logits), h.at(labels), h.at(lse), h.at(dl), n, v);
  return dl;
}

export function registerNativeLossKernels(): string[] {
  const added: string[] = [];
  if (registerOnce(LABEL_LOG_PROBS, forward)) added.push(LABEL_LOG_PROBS);
  if (registerOnce(LABEL_LOG_PROBS_GRAD, backward)) added.push(LABEL_LOG_PROBS_GRAD);
  return added;
}

/** Whether nativeLabelLogProbs can run now (wasm with the native kernels). */
export function canUseNativeLabelLogProbs(logits: tf.Tensor): boolean {
  return logits.dtype === 'float32' && nativeOps() != null && tf.getKernel(LABEL_LOG_PROBS, 'wasm') != null;
}

/** log softmax(logits)[label] per row: logits [n, v], labels int32 [n] (in range) -> [n]; differentiable in logits. */
export function nativeLabelLogProbs(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  const engine = tf.engine();
  if (!engine.isTapeOn()) {
    const [out, lse] = engine.runKernel(LABEL_LOG_PROBS, { logits, labels }, {}) as tf.Tensor[];
    lse.dispose();
    return out as tf.Tensor1D;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const x = args[0] as tf.Tensor2D;
    const [out, lse] = tf.engine().runKernel(LABEL_LOG_PROBS, { logits: x, labels }, {}) as tf.Tensor[];
    // Saved, not closed over: the caller's tidy frees labels before the backward pass runs.
    save([x, labels, lse]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
      tf.engine().runKernel(LABEL_LOG_PROBS_GRAD, { dy, logits: saved[0], labels: saved[1], lse: saved[2] }, {}) as tf.Tensor;
    return { value: out, gradFunc };
  });
  return op(logits) as tf.Tensor1D;
}
