// LayerNorm and RMSNorm over the last axis as wasm-heap kernels (forward, backward) instead of ~9 and ~20 stock kernels.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { heapAccess, nativeOps, registerOnce } from './native-ops';
import { asWasm, heapBuffer, tensorData, type WasmBackend } from './wasm-internals';

/**
 * Kernel names. Forward: inputs x [..., d], optional weight [d] and bias [d], attr eps; outputs y [..., d],
 * mean [n] and rstd [n] (n = rows). Backward: inputs dy, x, mean, rstd, optional weight; outputs dx, and dw
 * and db when attr `affine` is true. Row statistics and the weight/bias reductions are accumulated in float64.
 */
export const LAYER_NORM = 'RlhfkitLayerNorm';
export const LAYER_NORM_GRAD = 'RlhfkitLayerNormGrad';
/** RMSNorm (native kernels only): x, weight, attr eps -> y, rstd; backward dy, x, rstd, weight -> dx, dw. */
export const RMS_NORM = 'RlhfkitRmsNorm';
export const RMS_NORM_GRAD = 'RlhfkitRmsNormGrad';

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function f32(backend: WasmBackend, buf: ArrayBuffer, t: tf.TensorInfo, n: number): Float32Array {
  return new Float32Array(buf, tensorData(backend, t).memoryOffset, n);
}

function layerNormForward(args: Args): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { x, weight, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (x == null) throw new Error(`${LAYER_NORM}: x is required`);
  const eps = Number(args.attrs?.eps ?? 1e-5);
  const d = x.shape[x.shape.length - 1];
  const n = tf.util.sizeFromShape(x.shape) / d;
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([n], 'float32');
  const rstd = backend.makeOutput([n], 'float32');
  const native = nativeOps();
  if (native != null) {
    // Native: row statistics in float32 (8 lanes), rows split across the native threads.
    const h = heapAccess(backend);
    native.layerNorm(h.heap, h.at(x), h.at(weight), h.at(bias), h.at(y), h.at(mean), h.at(rstd), n, d, eps);
    return [y, mean, rstd];
  }
  const buf = heapBuffer(backend) as ArrayBuffer;
  const xv = f32(backend, buf, x, n * d);
  const yv = f32(backend, buf, y, n * d);
  const mv = f32(backend, buf, mean, n);
  const rv = f32(backend, buf, rstd, n);
  const wv = weight != null ? f32(backend, buf, weight, d) : null;
  const bv = bias != null ? f32(backend, buf, bias, d) : null;
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let s = 0;
    for (let c = 0; c < d; c++) s += xv[o + c];
    const mu = s / d;
    let ss = 0;
    for (let c = 0; c < d; c++) {
      const z = xv[o + c] - mu;
      ss += z * z;
    }
    const inv = 1 / Math.sqrt(ss / d + eps); // biased variance, as torch's layer_norm
    mv[r] = mu;
    rv[r] = inv;
    for (let c = 0; c < d; c++) {
      let v = (xv[o + c] - mu) * inv;
      if (wv != null) v *= wv[c];
      if (bv != null) v += bv[c];
      yv[o + c] = v;
    }
  }
  return [y, mean, rstd];
}

function layerNormBackward(args: Args): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { dy, x, mean, rstd, weight } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (dy == null || x == null || mean == null || rstd == null) throw new Error(`${LAYER_NORM_GRAD}: dy, x, mean and rstd are required`);
  const affine = Boolean(args.attrs?.affine);
  const d = x.shape[x.shape.length - 1];
  const n = tf.util.sizeFromShape(x.shape) / d;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dw = affine ? backend.makeOutput([d], 'float32') : null;
  const db = affine ? backend.makeOutput([d], 'float32') : null;
  const native = nativeOps();
  if (native != null) {
    // Native: the weight and bias gradients summed in float64 per thread, then across threads.
    const h = heapAccess(backend);
    native.layerNormGrad(h.heap, h.at(dy), h.at(x), h.at(mean), h.at(rstd), h.at(weight), h.at(dx), h.at(dw), h.at(db), n, d);
    return dw != null && db != null ? [dx, dw, db] : [dx];
  }
  const buf = heapBuffer(backend) as ArrayBuffer;
  const dyv = f32(backend, buf, dy, n * d);
  const xv = f32(backend, buf, x, n * d);
  const mv = f32(backend, buf, mean, n);
  const rv = f32(backend, buf, rstd, n);
  const wv = weight != null ? f32(backend, buf, weight, d) : null;
  const dxv = f32(backend, buf, dx, n * d);
  const accW = new Float64Array(d);
  const accB = new Float64Array(d);
  const g = new Float64Array(d); // dy * weight for this row
  for (let r = 0; r < n; r++) {
    const o = r * d;
    const mu = mv[r];
    const inv = rv[r];
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < d; c++) {
      const xh = (xv[o + c] - mu) * inv;
      const dyc = dyv[o + c];
      const gc = wv != null ? dyc * wv[c] : dyc;
      g[c] = gc;
      sumG += gc;
      sumGX += gc * xh;
      accW[c] += dyc * xh;
      accB[c] += dyc;
    }
    const mG = sumG / d;
    const mGX = sumGX / d;
    for (let c = 0; c < d; c++) {
      const xh = (xv[o + c] - mu) * inv;
      dxv[o + c] = inv * (g[c] - mG - xh * mGX);
    }
  }
  const outs: tf.TensorInfo[] = [dx];
  if (dw != null && db != null) {
    f32(backend, buf, dw, d).set(accW);
    f32(backend, buf, db, d).set(accB);
    outs.push(dw, db);
  }
  return outs;
}

function rmsNormForward(args: Args): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { x, weight } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (x == null || native == null) throw new Error(`${RMS_NORM}: needs x and the native kernels`);
  const d = x.shape[x.shape.length - 1];
  const n = tf.util.sizeFromShape(x.shape) / d;
  const y = backend.makeOutput(x.shape, 'float32');
  const rstd = backend.makeOutput([n], 'float32');
  const h = heapAccess(backend);
  native.rmsNorm(h.heap, h.at(x), h.at(weight), h.at(y), h.at(rstd), n, d, Number(args.attrs?.eps ?? 1e-6));
  return [y, rstd];
}

function rmsNormBackward(args: Args): tf.TensorInfo[] {
  const backend = asWasm(args.backend);
  const { dy, x, rstd, weight } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const native = nativeOps();
  if (dy == null || x == null || rstd == null || native == null) throw new Error(`${RMS_NORM_GRAD}: needs dy, x, rstd and the native kernels`);
  const d = x.shape[x.shape.length - 1];
  const n = tf.util.sizeFromShape(x.shape) / d;
  const dx = backend.makeOutput(x.shape, 'float32');
  const dw = weight != null ? backend.makeOutput([d], 'float32') : null;
  const h = heapAccess(backend);
  native.rmsNormGrad(h.heap, h.at(dy), h.at(x), h.at(rstd), h.at(weight), h.at(dx), h.at(dw), n, d);
  return dw != null ? [dx, dw] : [dx];
}

export function registerLayerNormKernels(): string[] {
  const added: string[] = [];
  if (registerOnce(RMS_NORM, rmsNormForward)) added.push(RMS_NORM);
  if (registerOnce(RMS_NORM_GRAD, rmsNormBackward)) added.push(RMS_NORM_GRAD);
  if (tf.getKernel(LAYER_NORM, 'wasm') == null) {
    tf.registerKernel({ kernelName: LAYER_NORM, backendName: 'wasm', kernelFunc: layerNormForward as unknown as tf.KernelFunc });
    added.push(LAYER_NORM);
  }
  if (tf.getKernel(LAYER_NORM_GRAD, 'wasm') == null) {
    tf.registerKernel({ kernelName: LAYER_NORM_GRAD, backendName: 'wasm', kernelFunc: layerNormBackward as unknown as tf.KernelFunc });
    added.push(LAYER_NORM_GRAD);
  }
  return added;
}

/**
 * Above this many elements the stock (SIMD) kernels win: these JS loops cost ~2.5 ns per element and pass,
 * and the ~9 stock kernels' fixed cost only dominates on small inputs (measured [8, 256]: 35 us vs 200 us
 * forward; [1024, 256]: 2.0 ms vs 0.8 ms).
 */
export const FUSED_LAYER_NORM_MAX_SIZE = 64 * 1024;

/** Whether fusedLayerNorm should run for an input of `size` elements on the current backend (any size natively). */
export function canUseFusedLayerNorm(size: number): boolean {
  return wasmFastPaths.layerNorm && tf.getBackend() === 'wasm' && tf.getKernel(LAYER_NORM, 'wasm') != null &&
    tf.getKernel(LAYER_NORM_GRAD, 'wasm') != null && (size <= FUSED_LAYER_NORM_MAX_SIZE || nativeOps() != null);
}

/** Whether fusedRmsNorm can run now (wasm with the native kernels). */
export function canUseFusedRmsNorm(): boolean {
  return wasmFastPaths.layerNorm && nativeOps() != null && tf.getKernel(RMS_NORM, 'wasm') != null;
}

/** w * x / sqrt(mean(x^2) + eps) over the last axis, differentiable in x and weight (native kernels). */
export function fusedRmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const engine = tf.engine();
  if (!engine.isTapeOn()) {
    const [y, rstd] = engine.runKernel(RMS_NORM, { x, weight }, { eps }) as tf.Tensor[];
    rstd.dispose();
    return y;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xin, w] = args as tf.Tensor[];
    const [y, rstd] = tf.engine().runKernel(RMS_NORM, { x: xin, weight: w }, { eps }) as tf.Tensor[];
    save([xin, rstd, w]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
      tf.engine().runKernel(RMS_NORM_GRAD, { dy, x: saved[0], rstd: saved[1], weight: saved[2] }, {}) as tf.Tensor[];
    return { value: y, gradFunc };
  });
  return op(x, weight);
}

/**
 * (x - mean) / sqrt(var + eps) * weight + bias over the last axis, differentiable in x, weight and bias.
 * weight and bias are both given or both null (elementwise_affine false).
 */
export function fusedLayerNorm(x: tf.Tensor, weight: tf.Tensor | null, bias: tf.Tensor | null, eps: number): tf.Tensor {
  const affine = weight != null && bias != null;
  const engine = tf.engine();
  if (!engine.isTapeOn()) {
    // Nothing will ask for a gradient (inference, decoding): skip customGrad's scope and saved copies.
    const inputs: tf.NamedTensorMap = affine ? { x, weight, bias } : { x };
    const [y, mean, rstd] = engine.runKernel(LAYER_NORM, inputs, { eps }) as tf.Tensor[];
    mean.dispose();
    rstd.dispose();
    return y;
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const xin = args[0] as tf.Tensor;
    const w = affine ? (args[1] as tf.Tensor) : null;
    const inputs: tf.NamedTensorMap = w != null ? { x: xin, weight: w, bias: args[2] as tf.Tensor } : { x: xin };
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM, inputs, { eps }) as tf.Tensor[];
    save(w != null ? [xin, mean, rstd, w] : [xin, mean, rstd]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sm, sr, sw] = saved;
      const gin: tf.NamedTensorMap = sw != null ? { dy, x: sx, mean: sm, rstd: sr, weight: sw } : { dy, x: sx, mean: sm, rstd: sr };
      return tf.engine().runKernel(LAYER_NORM_GRAD, gin, { affine }) as tf.Tensor[];
    };
    return { value: y, gradFunc };
  });
  return affine ? op(x, weight, bias) : op(x);
}
