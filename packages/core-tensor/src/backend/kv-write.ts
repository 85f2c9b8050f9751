// In-place row writes into a KV-cache buffer on the wasm heap (decoding appends one token without copying the cache).
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { asWasm, heapBuffer, tensorData } from './wasm-internals';

/**
 * Whether a cache buffer may be written in place now: wasm, and no gradient tape (a taped op may have saved
 * the buffer for backward, and tensors are otherwise immutable).
 */
export function canWriteInPlace(): boolean {
  if (!wasmFastPaths.kvInPlace || tf.getBackend() !== 'wasm') return false;
  return !tf.engine().isTapeOn();
}

/**
 * buf [b, h, cap, d][:, :, pos : pos + count] = src [b, h, n, d][:, :, 0 : count] (n >= count), in place.
 * The caller owns buf and must not have handed it to anything that keeps it.
 */
export function writeRows(buf: tf.Tensor4D, src: tf.Tensor4D, pos: number, count: number): void {
  const [b, h, cap, d] = buf.shape;
  const [sb, sh, n, sd] = src.shape;
  if (sb !== b || sh !== h || sd !== d || count > n || pos + count > cap) {
    throw new Error(`writeRows: cannot put ${count} rows of [${src.shape}] at ${pos} in [${buf.shape}]`);
  }
  if (count === 0) return;
  const backend = asWasm(tf.backend());
  const heap = heapBuffer(backend) as ArrayBuffer;
  const dst = new Float32Array(heap, tensorData(backend, buf).memoryOffset, b * h * cap * d);
  const from = new Float32Array(heap, tensorData(backend, src).memoryOffset, b * h * n * d);
  for (let i = 0; i < b * h; i++) {
    const s = i * n * d;
    dst.set(from.subarray(s, s + count * d), (i * cap + pos) * d);
  }
}
