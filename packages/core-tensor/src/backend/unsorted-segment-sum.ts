// UnsortedSegmentSum for the wasm backend (the gradient of gather, i.e. of every embedding), in JS on the heap.
import * as tf from '@tensorflow/tfjs';
import { heapAccess, nativeOps } from './native-ops';
import { asWasm, heapBuffer, tensorData } from './wasm-internals';

function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = asWasm(args.backend);
  const x = args.inputs.x as tf.TensorInfo;
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo;
  const numSegments = Number((args.attrs ?? {}).numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32 and int32 inputs, got ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum: segmentIds must be int32, got ${segmentIds.dtype}`);
  }
  const idRank = segmentIds.shape.length;
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const inner = tf.util.sizeFromShape(x.shape.slice(idRank));
  // Allocate first: malloc may grow the heap, which detaches every view taken before it.
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idRank)], x.dtype);
  const native = x.dtype === 'float32' ? nativeOps() : null;
  if (native != null) {
    // Native: each thread zeroes and fills its own range of segments, adding rows in input order.
    const h = heapAccess(backend);
    native.segmentSum(h.heap, h.at(x), h.at(segmentIds), h.at(out), n, inner, numSegments);
    return out;
  }
  const buf = heapBuffer(backend) as ArrayBuffer; // shared in the threaded build; typed arrays take both
  const view = (offset: number, len: number): Float32Array | Int32Array =>
    x.dtype === 'float32' ? new Float32Array(buf, offset, len) : new Int32Array(buf, offset, len);
  const ov = view(tensorData(backend, out).memoryOffset, numSegments * inner);
  ov.fill(0); // the wasm heap is not zeroed
  if (n === 0 || inner === 0) return out;
  const xv = view(tensorData(backend, x).memoryOffset, n * inner);
  const ids = new Int32Array(buf, tensorData(backend, segmentIds).memoryOffset, n);
  for (let i = 0; i < n; i++) {
    const s = ids[i];
    if (!(s >= 0 && s < numSegments)) continue; // TF semantics: out-of-range ids are dropped
    const o = s * inner;
    const xi = i * inner;
    for (let j = 0; j < inner; j++) ov[o + j] += xv[xi + j];
  }
  return out;
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
