// Sum over leading axes on wasm (every bias and LayerNorm gradient) in JS, without wasm's transpose.
import * as tf from '@tensorflow/tfjs';
import { KernelArgs, KernelResult, unwrapWasmKernel, wrapWasmKernel } from './kernel-wrap';
import { asWasm, heapBuffer, tensorData } from './wasm-internals';

/**
 * Number of leading axes reduced when `axes` is exactly [0..r-1] with r < rank, else 0. Stock wasm Sum
 * transposes such inputs so the reduced axes come last, which costs more than the sum itself.
 */
export function leadingAxes(axis: number | number[], shape: number[]): number {
  const axes = tf.util.parseAxisParam(axis, shape).slice().sort((p, q) => p - q);
  if (axes.length === 0 || axes.length >= shape.length) return 0;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return 0;
  return axes.length;
}

function sumWrapper(stock: tf.KernelConfig): (args: KernelArgs) => KernelResult {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const axis = (args.attrs?.axis ?? []) as number | number[];
    const r = x.dtype === 'float32' ? leadingAxes(axis, x.shape) : 0;
    if (r === 0) return stock.kernelFunc(args);
    const backend = asWasm(args.backend);
    const rows = tf.util.sizeFromShape(x.shape.slice(0, r));
    const inner = tf.util.sizeFromShape(x.shape.slice(r));
    const outShape = args.attrs?.keepDims ? x.shape.map((d, i) => (i < r ? 1 : d)) : x.shape.slice(r);
    const out = backend.makeOutput(outShape, 'float32'); // before taking views: malloc may move the heap
    const buf = heapBuffer(backend) as ArrayBuffer;
    const xv = new Float32Array(buf, tensorData(backend, x).memoryOffset, rows * inner);
    const ov = new Float32Array(buf, tensorData(backend, out).memoryOffset, inner);
    // Into float64, as the cpu backend's sum (float64 makes the order immaterial at float32 output). Four
    // rows per pass over acc: half the time of one (acc loads and stores dominate the simple loop).
    const acc = new Float64Array(inner);
    let i = 0;
    for (; i + 4 <= rows; i += 4) {
      const b0 = i * inner;
      const b1 = b0 + inner;
      const b2 = b1 + inner;
      const b3 = b2 + inner;
      for (let j = 0; j < inner; j++) acc[j] += (xv[b0 + j] + xv[b1 + j]) + (xv[b2 + j] + xv[b3 + j]);
    }
    for (; i < rows; i++) {
      const base = i * inner;
      for (let j = 0; j < inner; j++) acc[j] += xv[base + j];
    }
    ov.set(acc);
    return out;
  };
}

export function wrapWasmSum(): string[] {
  return wrapWasmKernel('Sum', sumWrapper) ? ['Sum'] : [];
}

export function unwrapWasmSum(): void {
  unwrapWasmKernel('Sum');
}
