// Typed access to the few BackendWasm internals our kernels need (heap views, tensor ids, cwrap).
import * as tf from '@tensorflow/tfjs';

/** One entry of BackendWasm.dataIdMap. */
export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The emscripten pthread bookkeeping, present only in the threaded build. */
export interface WasmPThread {
  unusedWorkers: NodeWorkerLike[];
  runningWorkers: NodeWorkerLike[];
}

/** The parts of a node:worker_threads Worker that we touch. */
export interface NodeWorkerLike {
  ref?: () => unknown;
  unref?: () => unknown;
}

/** What backends read and write: a typed array, or encoded bytes for string tensors. */
export type BackendValues = Float32Array | Int32Array | Uint8Array | Uint8Array[];

type CwrapArg = 'number' | 'array' | 'string';

/** The emscripten module object behind BackendWasm (`backend.wasm`). */
export interface WasmModule {
  HEAPU8: Uint8Array;
  wasmMemory?: WebAssembly.Memory;
  cwrap(name: string, ret: null | 'number', args: CwrapArg[]): (...args: (number | boolean | Uint8Array)[]) => unknown;
  tfjs: { disposeData(id: number): void; getThreadsCount(): number };
  PThread?: WasmPThread;
}

/** BackendWasm as seen from our kernels. The class itself is typed loosely by tfjs, hence this view. */
export interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: {
    get(dataId: tf.DataId): WasmTensorData | undefined;
    has(dataId: tf.DataId): boolean;
    delete(dataId: tf.DataId): boolean;
  };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: BackendValues): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  readSync(dataId: tf.DataId): BackendValues;
}

export function asWasm(backend: unknown): WasmBackend {
  return backend as WasmBackend;
}

export function tensorData(backend: WasmBackend, t: tf.TensorInfo): WasmTensorData {
  const d = backend.dataIdMap.get(t.dataId);
  if (d == null) throw new Error(`rlhfkit wasm kernels: tensor ${JSON.stringify(t.shape)} is not on the wasm backend`);
  return d;
}

/**
 * The current wasm memory buffer. In the threaded build the heap grows behind HEAPU8's back, so prefer
 * the Memory object's live buffer when emscripten exposes it.
 */
export function heapBuffer(backend: WasmBackend): ArrayBuffer | SharedArrayBuffer {
  const mem = backend.wasm.wasmMemory;
  return mem != null ? mem.buffer : backend.wasm.HEAPU8.buffer;
}

/**
 * A float32 tensor of `shape` that aliases heap memory at `memoryOffset`, inside another tensor (no copy).
 * It has a fresh id, so XNNPACK never reuses weights packed for another view. Release it with
 * releaseView, never with disposeData, which would free the memory it borrows.
 */
export function makeView(backend: WasmBackend, shape: number[], memoryOffset: number): tf.TensorInfo {
  return backend.makeOutput(shape, 'float32', memoryOffset);
}

/** Forgets a view made by makeView; the C++ side drops its cached XNNPACK operators for that id. */
export function releaseView(backend: WasmBackend, view: tf.TensorInfo): void {
  const d = backend.dataIdMap.get(view.dataId);
  if (d == null) return;
  backend.wasm.tfjs.disposeData(d.id);
  backend.dataIdMap.delete(view.dataId);
}
