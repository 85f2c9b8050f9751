// Wraps wasm's BatchMatMul/_FusedMatMul so transposes and batches run on XNNPACK's fast batch-1 path.
import * as tf from '@tensorflow/tfjs';
import { KernelArgs, KernelResult, runWasmKernel, unwrapWasmKernel, wrapWasmKernel } from './kernel-wrap';
import { runNativeMatMul } from './native-gemm';
import { asWasm, makeView, releaseView, tensorData, WasmBackend } from './wasm-internals';

/**
 * Below this many multiply-adds per XNNPACK call the stock kernel's plain loop wins: creating an XNNPACK
 * operator packs B, and that fixed cost (~8 us) only pays off on larger products. Measured crossover on a
 * Zen4 core: 16^3 stock 1.6x faster, 24^3 even, 32^3 wrapped 2.2x faster (tools/bench/kernels.ts).
 */
export const FAST_MATMUL_MIN_MACS = 16 * 1024;

type RawMatMul = (
  aId: number, aShape: Uint8Array, aRank: number, bId: number, bShape: Uint8Array, bRank: number,
  transposeA: boolean, transposeB: boolean, outId: number,
) => unknown;

// One cwrap per wasm module instance (a new backend instance means a new module).
const rawByBackend = new WeakMap<object, RawMatMul>();

function rawMatMul(backend: WasmBackend): RawMatMul {
  let f = rawByBackend.get(backend);
  if (f == null) {
    f = backend.wasm.cwrap('BatchMatMul', null, [
      'number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number',
    ]) as RawMatMul;
    rawByBackend.set(backend, f);
  }
  return f;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

interface MatMulPlan {
  m: number; k: number; n: number;
  batchA: number; batchB: number;
  outBatchDims: number[];
  /** For each output batch index, the batch index of A and of B after broadcasting. */
  aIndex: number[]; bIndex: number[];
}

export function planMatMul(aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const ar = aShape.length;
  const br = bShape.length;
  const k = transposeA ? aShape[ar - 2] : aShape[ar - 1];
  const kb = transposeB ? bShape[br - 1] : bShape[br - 2];
  if (k !== kb) {
    throw new Error(`matMul: inner dimensions differ (${k} vs ${kb}) for shapes [${aShape}] and [${bShape}] ` +
      `with transposeA=${transposeA}, transposeB=${transposeB}`);
  }
  const m = transposeA ? aShape[ar - 1] : aShape[ar - 2];
  const n = transposeB ? bShape[br - 2] : bShape[br - 1];
  const aOuter = aShape.slice(0, -2);
  const bOuter = bShape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(aOuter);
  const batchB = tf.util.sizeFromShape(bOuter);
  // Same check and message as the cpu kernel, which also rejects _FusedMatMul's pre-flattened batch dims.
  const outBatchDims = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const total = tf.util.sizeFromShape(outBatchDims);
  const aIndex = new Array<number>(total);
  const bIndex = new Array<number>(total);
  const rank = outBatchDims.length;
  for (let i = 0; i < total; i++) {
    // Walk the output multi-index from the last dim; size-1 (or missing) dims of an input stay at 0.
    let rem = i, ai = 0, bi = 0, aStride = 1, bStride = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const idx = rem % outBatchDims[d];
      rem = Math.floor(rem / outBatchDims[d]);
      const ad = aOuter.length - (rank - d);
      const bd = bOuter.length - (rank - d);
      if (ad >= 0) { if (aOuter[ad] !== 1) ai += idx * aStride; aStride *= aOuter[ad]; }
      if (bd >= 0) { if (bOuter[bd] !== 1) bi += idx * bStride; bStride *= bOuter[bd]; }
    }
    aIndex[i] = ai;
    bIndex[i] = bi;
  }
  return { m, k, n, batchA, batchB, outBatchDims, aIndex, bIndex };
}

/** Whether the wrapped path should run, given the stock kernel is already fast for plain batch-1 products. */
export function useFastPath(plan: MatMulPlan, transposeA: boolean, transposeB: boolean): boolean {
  const { m, k, n, aIndex } = plan;
  if (m === 0 || k === 0 || n === 0 || aIndex.length === 0) return false;
  const total = aIndex.length;
  if (!transposeA && !transposeB && plan.batchA === 1 && plan.batchB === 1) return false; // stock = XNNPACK
  // Stock wasm sizes its output by max(batchA, batchB), which is wrong whenever batches broadcast.
  if (plan.batchA !== plan.batchB) return true;
  // When B is shared, all batches fold into one call with batch*m rows.
  const rows = plan.batchB === 1 && plan.batchA === total ? total * m : m;
  return rows * k * n >= FAST_MATMUL_MIN_MACS;
}

/** Runs the wasm Transpose kernel on a's last two dims; the result is a fresh contiguous tensor. */
function transposeLast2(backend: WasmBackend, t: tf.TensorInfo, batch: number, rows: number, cols: number): tf.TensorInfo {
  const kernel = tf.getKernel('Transpose', 'wasm');
  return kernel.kernelFunc({
    inputs: { x: { dataId: t.dataId, shape: [batch, rows, cols], dtype: t.dtype } },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { perm: [0, 2, 1] },
  }) as tf.TensorInfo;
}

/**
 * out[i] = op(A)[aIndex[i]] · op(B)[bIndex[i]] through XNNPACK, one call per slice (or one call in all
 * when B is shared). Every slice gets fresh tensor ids: XNNPACK caches packed weights by B's id.
 */
export function fastBatchMatMul(
  backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean,
  plan: MatMulPlan,
): tf.TensorInfo {
  const { m, k, n, aIndex, bIndex } = plan;
  const total = aIndex.length;
  // Transposed operands become contiguous copies; untransposed ones are used in place.
  const at = transposeA ? transposeLast2(backend, a, plan.batchA, k, m) : a;
  const bt = transposeB ? transposeLast2(backend, b, plan.batchB, n, k) : b;
  const out = backend.makeOutput([...plan.outBatchDims, m, n], 'float32');
  try {
    const raw = rawMatMul(backend);
    const aOff = tensorData(backend, at).memoryOffset;
    const bOff = tensorData(backend, bt).memoryOffset;
    const oOff = tensorData(backend, out).memoryOffset;
    const call = (aAt: number, rows: number, bAt: number, oAt: number): void => {
      const av = makeView(backend, [1, rows, k], aAt);
      const bv = makeView(backend, [1, k, n], bAt);
      const ov = makeView(backend, [1, rows, n], oAt);
      try {
        raw(tensorData(backend, av).id, shapeBytes([1, rows, k]), 3, tensorData(backend, bv).id,
          shapeBytes([1, k, n]), 3, false, false, tensorData(backend, ov).id);
      } finally {
        releaseView(backend, av);
        releaseView(backend, bv);
        releaseView(backend, ov);
      }
    };
    const foldRows = plan.batchB === 1 && plan.batchA === total;
    if (foldRows) {
      call(aOff, total * m, bOff, oOff);
    } else {
      for (let i = 0; i < total; i++) {
        call(aOff + 4 * aIndex[i] * m * k, m, bOff + 4 * bIndex[i] * k * n, oOff + 4 * i * m * n);
      }
    }
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  } finally {
    if (at !== a) backend.disposeData(at.dataId);
    if (bt !== b) backend.disposeData(bt.dataId);
  }
  return out;
}

function batchMatMulWrapper(stock: tf.KernelConfig): (args: KernelArgs) => KernelResult {
  return (args) => {
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    const transposeA = Boolean(args.attrs?.transposeA);
    const transposeB = Boolean(args.attrs?.transposeB);
    if (a.dtype === 'float32' && b.dtype === 'float32') {
      const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
      const native = runNativeMatMul(asWasm(args.backend), a, b, transposeA, transposeB, plan);
      if (native != null) return native;
      if (useFastPath(plan, transposeA, transposeB)) {
        return fastBatchMatMul(asWasm(args.backend), a, b, transposeA, transposeB, plan);
      }
    }
    return stock.kernelFunc(args);
  };
}

/** Applies the fused epilogue (bias, then activation) with the ordinary wasm kernels. */
function epilogue(backend: WasmBackend, mm: tf.TensorInfo, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
  let y = mm;
  const step = (next: tf.TensorInfo): void => {
    backend.disposeData(y.dataId);
    y = next;
  };
  const bias = inputs.bias as tf.TensorInfo | undefined;
  if (bias != null) step(runWasmKernel('Add', backend, { a: y, b: bias }));
  const activation = String(attrs.activation ?? 'linear');
  switch (activation) {
    case 'linear': break;
    case 'relu': step(runWasmKernel('Relu', backend, { x: y })); break;
    case 'relu6': step(runWasmKernel('Relu6', backend, { x: y })); break;
    case 'sigmoid': step(runWasmKernel('Sigmoid', backend, { x: y })); break;
    case 'elu': step(runWasmKernel('Elu', backend, { x: y })); break;
    case 'leakyrelu':
      step(runWasmKernel('LeakyRelu', backend, { x: y }, { alpha: Number(attrs.leakyreluAlpha ?? 0.2) }));
      break;
    case 'prelu':
      step(runWasmKernel('Prelu', backend, { x: y, alpha: inputs.preluActivationWeights as tf.TensorInfo }));
      break;
    default:
      backend.disposeData(y.dataId);
      throw new Error(`_FusedMatMul: activation '${activation}' is not supported on wasm`);
  }
  return y;
}

/**
 * _FusedMatMul on the native kernel, with the bias (when it is one value per output column) and relu done in
 * its final pass; any other bias or activation runs after it as in epilogue. Null when native does not run.
 */
function fusedNative(
  backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean,
  inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap,
): tf.TensorInfo | null {
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const bias = inputs.bias as tf.TensorInfo | undefined;
  const perColumn = bias != null && bias.dtype === 'float32' && bias.shape.length > 0 &&
    bias.shape[bias.shape.length - 1] === plan.n && bias.shape.slice(0, -1).every((d) => d === 1);
  const nativeBias = perColumn ? (bias as tf.TensorInfo) : null;
  const relu = String(attrs.activation ?? 'linear') === 'relu' && (bias == null || nativeBias != null);
  const mm = runNativeMatMul(backend, a, b, transposeA, transposeB, plan, nativeBias, relu);
  if (mm == null) return null;
  const rest: tf.NamedTensorInfoMap = { ...inputs };
  if (nativeBias != null) delete rest.bias;
  return epilogue(backend, mm, rest, relu ? { ...attrs, activation: 'linear' } : attrs);
}

function fusedMatMulWrapper(stock: tf.KernelConfig): (args: KernelArgs) => KernelResult {
  return (args) => {
    const a = args.inputs.a as tf.TensorInfo;
    const b = args.inputs.b as tf.TensorInfo;
    const attrs = args.attrs ?? {};
    const transposeA = Boolean(attrs.transposeA);
    const transposeB = Boolean(attrs.transposeB);
    if (a.dtype === 'float32' && b.dtype === 'float32') {
      const native = fusedNative(asWasm(args.backend), a, b, transposeA, transposeB, args.inputs, attrs);
      if (native != null) return native;
    }
    const plainBatch1 = !transposeA && !transposeB &&
      tf.util.sizeFromShape(a.shape.slice(0, -2)) === 1 && tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1;
    if (plainBatch1 || a.dtype !== 'float32' || b.dtype !== 'float32') return stock.kernelFunc(args);
    // The stock kernel's non-XNNPACK loop reads bias[min(i*n+j, n-1)], i.e. a wrong bias on every row
    // after the first; so every other case is matmul + Add + activation.
    const backend = asWasm(args.backend);
    const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
    const mm = useFastPath(plan, transposeA, transposeB)
      ? fastBatchMatMul(backend, a, b, transposeA, transposeB, plan)
      : runWasmKernel('BatchMatMul', backend, { a, b }, { transposeA, transposeB });
    return epilogue(backend, mm, args.inputs, attrs);
  };
}

const MATMUL_KERNELS = ['BatchMatMul', '_FusedMatMul'];

/** Replaces wasm's BatchMatMul and _FusedMatMul with the wrappers; idempotent. Returns what it wrapped. */
export function wrapWasmMatMul(): string[] {
  const wrapped: string[] = [];
  if (wrapWasmKernel('BatchMatMul', batchMatMulWrapper)) wrapped.push('BatchMatMul');
  if (wrapWasmKernel('_FusedMatMul', fusedMatMulWrapper)) wrapped.push('_FusedMatMul');
  return wrapped;
}

/** Puts the stock matmul kernels back, so benchmarks and specs can compare both in one process. */
export function unwrapWasmMatMul(): void {
  for (const name of MATMUL_KERNELS) unwrapWasmKernel(name);
}
