// How big the tensor heap of this thread's backend is, and where it stops (the wasm backend's memory ends at 4 GiB).
import * as tf from '@tensorflow/tfjs';
import { asWasm, heapBuffer } from './wasm-internals';

/** The wasm backend's memory limit: 32-bit wasm addresses 4 GiB, and its memory never shrinks. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

export interface TensorHeapInfo {
  backend: string;
  /** Tensor bytes alive now (tf.memory()). */
  tensorBytes: number;
  /** wasm: the memory's size, which only grows, so it is the heap's high-water mark; null on other backends. */
  peakBytes: number | null;
  /** The most one heap of this backend can hold (wasm: 4 GiB), or null where the host's memory is the limit. */
  limitBytes: number | null;
}

/** The tensor heap of the backend this thread (or worker) runs. */
export function tensorHeapInfo(): TensorHeapInfo {
  const backend = tf.getBackend() ?? 'none';
  const tensorBytes = tf.memory().numBytes;
  if (backend !== 'wasm') return { backend, tensorBytes, peakBytes: null, limitBytes: null };
  return { backend, tensorBytes, peakBytes: heapBuffer(asWasm(tf.backend())).byteLength, limitBytes: WASM_HEAP_LIMIT_BYTES };
}

/** Whether an error is the wasm backend running out of its heap (allocation failed, or emscripten's OOM abort). */
export function isHeapExhausted(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return /Aborted\(OOM\)|Cannot enlarge memory|out of memory|Array buffer allocation failed|RangeError: WebAssembly\.Memory|Failed to allocate|memory access out of bounds/i.test(msg);
}
