// One-query attention over a KV cache as a single wasm-heap kernel: the per-token step of KV-cache decoding.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { simdKernels } from './simd-kernels';
import { asWasm, heapBuffer, tensorData } from './wasm-internals';

/**
 * Kernel name. Inputs q [b, heads, 1, d], k and v [b, kvHeads, cap, d] of which the first `length` positions
 * (attr; default cap) are attended, optional additive bias [b, 1, 1, length]; attr `divisor` (scores are
 * q·k / divisor + bias). Output [b, heads, 1, d] = softmax(scores)·v, query head h
 * reading kv head floor(h / (heads / kvHeads)) as HF's repeat_kv. Forward only (decoding runs without a tape).
 *
 * Why: with one query per row the stock wasm BatchMatMul falls to its scalar loop (~0.4 GFLOP/s, 0.25 ms per
 * call), and q·kᵀ, scale, bias, softmax and p·v are five kernels per layer per token. Here the dot products
 * and the weighted sum run as SIMD loops on the heap (simd-kernels.ts) and the softmax of each row in JS.
 */
export const DECODE_ATTENTION = 'RlhfkitDecodeAttention';

let scratch = new Float64Array(256);
let acc = new Float64Array(64);

/** Plain-JS inner loops (heads whose size is not a multiple of 4, or no wasm SIMD). */
function attendJs(
  qv: Float32Array, kk: Float32Array, vv: Float32Array, bv: Float32Array | null, ov: Float32Array,
  b: number, heads: number, kvHeads: number, s: number, cap: number, d: number, divisor: number,
): void {
  if (scratch.length < s) scratch = new Float64Array(2 * s);
  if (acc.length < d) acc = new Float64Array(d);
  const sc = scratch;
  const group = heads / kvHeads;
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      const qo = (bi * heads + h) * d;
      const base = (bi * kvHeads + Math.floor(h / group)) * cap * d;
      for (let j = 0; j < s; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += qv[qo + c] * kk[base + j * d + c];
        sc[j] = dot;
      }
      const sum = softmaxInPlace(sc, s, divisor, bv, bi * s);
      for (let c = 0; c < d; c++) acc[c] = 0;
      for (let j = 0; j < s; j++) {
        const p = sc[j];
        const vo = base + j * d;
        for (let c = 0; c < d; c++) acc[c] += p * vv[vo + c];
      }
      for (let c = 0; c < d; c++) ov[qo + c] = acc[c] / sum;
    }
  }
}

/** x[j] <- exp(x[j]/divisor + bias[j] - max); returns the sum. */
function softmaxInPlace(x: Float64Array | Float32Array, s: number, divisor: number, bias: Float32Array | null, biasAt: number): number {
  const inv = 1 / divisor;
  let max = -Infinity;
  for (let j = 0; j < s; j++) {
    const v = x[j] * inv + (bias != null ? bias[biasAt + j] : 0);
    x[j] = v;
    if (v > max) max = v;
  }
  let sum = 0;
  for (let j = 0; j < s; j++) {
    const e = Math.exp(x[j] - max);
    x[j] = e;
    sum += e;
  }
  return sum;
}

function decodeAttention(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const { q, k, v, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (q == null || k == null || v == null) throw new Error(`${DECODE_ATTENTION}: q, k and v are required`);
  const divisor = Number(args.attrs?.divisor ?? 1);
  const [b, heads, one, d] = q.shape;
  const [kb, kvHeads, cap, kd] = k.shape;
  const s = Number(args.attrs?.length ?? cap);
  if (!(Number.isInteger(s) && s >= 1 && s <= cap)) throw new Error(`${DECODE_ATTENTION}: length ${s} is outside [1, ${cap}]`);
  if (one !== 1 || kb !== b || kd !== d || heads % kvHeads !== 0 || v.shape.join() !== k.shape.join()) {
    throw new Error(`${DECODE_ATTENTION}: shapes q [${q.shape}], k [${k.shape}], v [${v.shape}] do not fit [b, h, 1, d] / [b, kvh, s, d]`);
  }
  if (bias != null && (bias.shape.length !== 4 || bias.shape[0] !== b || bias.shape[3] !== s || bias.shape[1] * bias.shape[2] !== 1)) {
    throw new Error(`${DECODE_ATTENTION}: bias must be [${b}, 1, 1, ${s}], got [${bias.shape}]`);
  }
  const simd = d % 4 === 0 ? simdKernels(backend) : null;
  // Every allocation before the first view: malloc may grow (and so detach) the heap.
  const out = backend.makeOutput([b, heads, 1, d], 'float32');
  const probs = simd != null ? backend.makeOutput([s], 'float32') : null;
  const buf = heapBuffer(backend) as ArrayBuffer;
  const at = (t: tf.TensorInfo): number => tensorData(backend, t).memoryOffset;
  const kvSize = b * kvHeads * cap * d;
  const bv = bias != null ? new Float32Array(buf, at(bias), b * s) : null;
  if (simd == null || probs == null) {
    const view = (t: tf.TensorInfo, n: number): Float32Array => new Float32Array(buf, at(t), n);
    attendJs(view(q, b * heads * d), view(k, kvSize), view(v, kvSize), bv, view(out, b * heads * d), b, heads, kvHeads, s, cap, d, divisor);
    return out;
  }
  try {
    const group = heads / kvHeads;
    const pAt = at(probs);
    const pv = new Float32Array(buf, pAt, s);
    const [qAt, kAt, vAt, oAt] = [at(q), at(k), at(v), at(out)];
    const row = 4 * d;
    for (let bi = 0; bi < b; bi++) {
      for (let h = 0; h < heads; h++) {
        const qo = ((bi * heads + h) * d) * 4;
        const kvo = ((bi * kvHeads + Math.floor(h / group)) * cap * d) * 4;
        simd.dots(qAt + qo, kAt + kvo, pAt, s, row);
        const sum = softmaxInPlace(pv, s, divisor, bv, bi * s);
        const r = 1 / sum;
        for (let j = 0; j < s; j++) pv[j] *= r;
        simd.axpys(pAt, vAt + kvo, oAt + qo, s, row);
      }
    }
  } finally {
    backend.disposeData(probs.dataId);
  }
  return out;
}

export const decodeAttentionConfig: tf.KernelConfig = {
  kernelName: DECODE_ATTENTION,
  backendName: 'wasm',
  kernelFunc: decodeAttention as unknown as tf.KernelFunc,
};

/** Registers the kernel on wasm (idempotent); returns its name when it was registered now. */
export function registerDecodeAttention(): string[] {
  if (tf.getKernel(DECODE_ATTENTION, 'wasm') != null) return [];
  tf.registerKernel(decodeAttentionConfig);
  return [DECODE_ATTENTION];
}

/** Whether decodeAttentionKernel can run now: wasm is the backend and nothing is recording gradients. */
export function canUseDecodeAttention(): boolean {
  if (!wasmFastPaths.decodeAttention || tf.getBackend() !== 'wasm' || tf.getKernel(DECODE_ATTENTION, 'wasm') == null) return false;
  const state = (tf.engine() as unknown as { state: { gradientDepth: number } }).state;
  return state.gradientDepth === 0;
}

/** q [b, h, 1, d], k/v [b, kvh, cap, d] (first `length` used), bias [b, 1, 1, length] or null -> [b, h, 1, d]. */
export function decodeAttentionKernel(
  q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D | null, divisor: number, length: number,
): tf.Tensor4D {
  const inputs: tf.NamedTensorMap = bias != null ? { q, k, v, bias } : { q, k, v };
  return tf.engine().runKernel(DECODE_ATTENTION, inputs, { divisor, length }) as tf.Tensor4D;
}
