// A faster UnsortedSegmentSum (the gradient of every embedding) for the cpu backend, the parity reference backend.
import * as tf from '@tensorflow/tfjs';

/** Marks our replacement; its value is the stock config (the same idea as kernel-wrap.ts on wasm). */
const STOCK = Symbol.for('rlhfkit.cpu.stockKernel');

interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: ArrayLike<number> } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array): tf.TensorInfo;
}

/**
 * tfjs's cpu kernel builds a mask, a product and a sum per segment (numSegments x n x inner work: ~0.5 s per
 * embedding gradient of a 1000-row table). This is one pass over x, accumulating each segment in float64 in
 * row order, which is exactly the stock kernel's float64 row-order sum (its masked rows add exact zeros).
 */
function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as CpuBackend;
  const x = args.inputs.x as tf.TensorInfo;
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo;
  const numSegments = Number(args.attrs?.numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (x.dtype === 'complex64' || x.dtype === 'string' || x.dtype === 'bool') {
    throw new Error(`UnsortedSegmentSum on cpu supports float32 and int32 inputs, got ${x.dtype}`);
  }
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
  const xv = backend.data.get(x.dataId)?.values as ArrayLike<number>;
  const ids = backend.data.get(segmentIds.dataId)?.values as ArrayLike<number>;
  const acc = new Float64Array(numSegments * inner);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (!(s >= 0 && s < numSegments)) continue; // out-of-range ids are dropped, as TF does
    const o = s * inner;
    const xi = i * inner;
    for (let j = 0; j < inner; j++) acc[o + j] += xv[xi + j];
  }
  const out = x.dtype === 'int32' ? Int32Array.from(acc) : Float32Array.from(acc);
  return backend.makeTensorInfo([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype, out);
}

/** Replaces the cpu backend's UnsortedSegmentSum once; returns the names replaced now. */
export function registerCpuKernels(): string[] {
  const stock = tf.getKernel('UnsortedSegmentSum', 'cpu');
  if (stock == null || (stock.kernelFunc as unknown as Record<symbol, unknown>)[STOCK] != null) return [];
  const kernelFunc = unsortedSegmentSum as unknown as tf.KernelFunc;
  Object.defineProperty(kernelFunc, STOCK, { value: stock });
  tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel({ ...stock, kernelFunc });
  return ['UnsortedSegmentSum'];
}
