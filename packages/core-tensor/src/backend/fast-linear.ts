// x·W + b without tf.fused.matMul's gradient wrapper, for untaped wasm calls (decoding: ~25 us less per layer call).
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';

/** Whether linearNoGrad should be used now: wasm and no gradient tape. */
export function canUseLinearNoGrad(): boolean {
  return wasmFastPaths.linearNoGrad && tf.getBackend() === 'wasm' && !tf.engine().isTapeOn();
}

/**
 * x [n, in] · w [in, out] + bias [out] -> [n, out] straight through the _FusedMatMul kernel. fused.matMul wraps
 * the same kernel in a customGrad scope (a tidy, input checks, saved-tensor bookkeeping) that only pays off
 * when a gradient is recorded.
 */
export function linearNoGrad(x: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D | null): tf.Tensor2D {
  const [n, k] = x.shape;
  const out = w.shape[1];
  const a3 = tf.reshape(x, [1, n, k]);
  const b3 = tf.reshape(w, [1, k, out]);
  const inputs: tf.NamedTensorMap = bias != null ? { a: a3, b: b3, bias } : { a: a3, b: b3 };
  const y = tf.engine().runKernel('_FusedMatMul', inputs, { transposeA: false, transposeB: false, activation: 'linear', leakyreluAlpha: 0 }) as tf.Tensor;
  const y2 = tf.reshape(y, [n, out]) as tf.Tensor2D;
  tf.dispose([a3, b3, y]);
  return y2;
}
