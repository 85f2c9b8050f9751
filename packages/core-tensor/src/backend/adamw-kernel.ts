// AdamW's per-parameter update as one SIMD pass on wasm (the composite is 13 kernels and 9 temporaries per parameter).
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { heapAccess, nativeOps } from './native-ops';
import { simdKernels } from './simd-kernels';
import { asWasm, tensorData } from './wasm-internals';

export interface AdamWScalars {
  beta1: number;
  beta2: number;
  /** sqrt(1 - beta2^step) */
  bc2Sqrt: number;
  eps: number;
  /** lr / (1 - beta1^step) */
  stepSize: number;
  /** 1 - lr * weightDecay */
  decay: number;
}

/** Whether adamWUpdate can run for these tensors now (wasm with SIMD, float32, no gradient tape). */
export function canUseFusedAdamW(tensors: tf.Tensor[]): boolean {
  if (!wasmFastPaths.adamw || tf.getBackend() !== 'wasm' || tf.engine().isTapeOn()) return false;
  if (!tensors.every((t) => t.dtype === 'float32')) return false;
  return simdKernels(asWasm(tf.backend())) != null;
}

/**
 * New (param, expAvg, expAvgSq) after one AdamW step, bit-identical to the tfjs composite (same float32
 * operations in the same order). Fresh tensors, never in place: XNNPACK caches packed weights by buffer, and
 * a buffer may be shared by clones. The caller assigns them and disposes what it replaces.
 */
export function adamWUpdate(param: tf.Tensor, grad: tf.Tensor, expAvg: tf.Tensor, expAvgSq: tf.Tensor, s: AdamWScalars): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const backend = asWasm(tf.backend());
  const simd = simdKernels(backend);
  if (simd == null) throw new Error('adamWUpdate: wasm SIMD kernels are not available; check canUseFusedAdamW first');
  const n = param.size;
  const outs = [param, expAvg, expAvgSq].map((t) => backend.makeOutput(t.shape.slice(), 'float32'));
  const at = (t: tf.TensorInfo): number => tensorData(backend, t).memoryOffset;
  simd.adamw(at(param), at(grad), at(expAvg), at(expAvgSq), at(outs[0]), at(outs[1]), at(outs[2]), n,
    s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.bc2Sqrt, s.eps, s.stepSize, s.decay);
  const engine = tf.engine();
  return outs.map((o) => engine.makeTensorFromTensorInfo(o, backend as unknown as tf.KernelBackend)) as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/** One parameter of a whole-model AdamW step: its tensors and scalars. */
export interface AdamWItem {
  param: tf.Tensor;
  grad: tf.Tensor;
  expAvg: tf.Tensor;
  expAvgSq: tf.Tensor;
  scalars: AdamWScalars;
}

/** Whether adamWUpdateAll can run now: the native kernels, no gradient tape, float32 everywhere. */
export function canUseNativeAdamW(items: AdamWItem[]): boolean {
  if (!wasmFastPaths.adamw || nativeOps() == null || tf.engine().isTapeOn()) return false;
  return items.every((it) => it.param.dtype === 'float32' && it.grad.dtype === 'float32');
}

/**
 * The AdamW step of every item in one native call, its elements split across the native threads: new (param,
 * expAvg, expAvgSq) per item, bit-identical to adamWUpdate and to the tfjs composite (the same float32 operations,
 * in the same order, no fused multiply-add). Fresh tensors, as adamWUpdate's; the caller assigns them.
 */
export function adamWUpdateAll(items: AdamWItem[]): [tf.Tensor, tf.Tensor, tf.Tensor][] {
  const native = nativeOps();
  if (native == null) throw new Error('adamWUpdateAll: the native kernels are not available; check canUseNativeAdamW first');
  const backend = asWasm(tf.backend());
  const outs = items.map((it) => [it.param, it.expAvg, it.expAvgSq].map((t) => backend.makeOutput(t.shape.slice(), 'float32')));
  const h = heapAccess(backend);
  const table = new Float64Array(16 * items.length);
  items.forEach((it, i) => {
    const s = it.scalars;
    table.set([
      h.at(it.param), h.at(it.grad), h.at(it.expAvg), h.at(it.expAvgSq), h.at(outs[i][0]), h.at(outs[i][1]), h.at(outs[i][2]), it.param.size,
      s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.bc2Sqrt, s.eps, s.stepSize, s.decay,
    ], 16 * i);
  });
  native.adamw(h.heap, table);
  const engine = tf.engine();
  return outs.map((o) => o.map((t) => engine.makeTensorFromTensorInfo(t, backend as unknown as tf.KernelBackend)) as [tf.Tensor, tf.Tensor, tf.Tensor]);
}
