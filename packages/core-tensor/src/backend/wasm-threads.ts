// Opt-in multi-threaded wasm in Node: lets tfjs's pthread workers start from real files instead of Blob URLs.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { WasmBackend } from './wasm-internals';

/**
 * The statement in emscripten's pthread worker that loads the main script from a Blob URL, which Node's
 * Worker cannot open. Re-check it whenever @tensorflow/tfjs-backend-wasm is upgraded.
 */
export const WORKER_BLOB_LOAD =
  'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)';

/** backend.cc never starts more XNNPACK threads than this (its worker pool size). */
export const MAX_WASM_THREADS = 8;

export interface WasmThreadFiles {
  /** emscripten's threaded-SIMD main script, which each worker evaluates. */
  threadedScript: string;
  /** The pthread worker source as shipped, used to check the rewrite still applies before starting. */
  workerScript: string;
}

export function defaultWasmThreadFiles(): WasmThreadFiles {
  const resolveOut = (f: string): string => require.resolve(`@tensorflow/tfjs-backend-wasm/wasm-out/${f}`);
  return {
    threadedScript: resolveOut('tfjs-backend-wasm-threaded-simd.js'),
    workerScript: resolveOut('tfjs-backend-wasm-threaded-simd.worker.js'),
  };
}

/** Rewrites the worker source to load the threaded script from disk; throws if the expected line is gone. */
export function rewriteWorkerSource(source: string, threadedScript: string): string {
  if (!source.includes(WORKER_BLOB_LOAD)) {
    throw new Error('the pthread worker of @tensorflow/tfjs-backend-wasm no longer contains the Blob-URL loader ' +
      'that rlhfkit rewrites (was tfjs upgraded?); update WORKER_BLOB_LOAD in core-tensor/src/backend/wasm-threads.ts');
  }
  return source.replace(WORKER_BLOB_LOAD, `importScripts(${JSON.stringify(threadedScript)})`);
}

/** Writes the worker once per content (the name is its hash), so repeated runs reuse it. */
function writeWorkerFile(source: string): string {
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(tmpdir(), `rlhfkit-tfjs-wasm-worker-${hash}.cjs`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, source);
    fs.renameSync(tmp, file);
  }
  return file;
}

/**
 * Prepares the next `tf.setBackend('wasm')` to start the threaded-SIMD build with `threads` XNNPACK
 * threads. Returns a function that undoes the global patches; call it once setBackend has settled.
 * Throws, with the reason, when threads cannot work here; nothing is left patched then.
 */
export function patchForWasmThreads(threads: number, files: WasmThreadFiles = defaultWasmThreadFiles()): () => void {
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('this Node has no SharedArrayBuffer');
  if (!fs.existsSync(files.threadedScript)) throw new Error(`${files.threadedScript} is missing`);
  // Check before patching anything: a worker that fails to load leaves init waiting forever.
  rewriteWorkerSource(fs.readFileSync(files.workerScript, 'utf8'), files.threadedScript);

  // The real module object: emscripten calls require('os').cpus() when it instantiates. A TS namespace
  // import would be a copy, and patching a copy changes nothing.
  const os = require('node:os') as { cpus: () => unknown[] };
  const g = globalThis as unknown as { Blob: typeof Blob };
  const OrigBlob = g.Blob;
  const origCreateObjectURL = URL.createObjectURL;
  const origCpus = os.cpus;
  const blobText = new WeakMap<object, string>();

  class RecordingBlob extends OrigBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      blobText.set(this, (parts ?? []).filter((p): p is string => typeof p === 'string').join(''));
    }
  }
  g.Blob = RecordingBlob;
  URL.createObjectURL = (obj: Blob): string => {
    const text = blobText.get(obj);
    if (text != null && text.includes('WasmBackendModuleThreadedSimd(Module)')) {
      return writeWorkerFile(rewriteWorkerSource(text, files.threadedScript));
    }
    return origCreateObjectURL.call(URL, obj);
  };
  // backend.cc starts min(requested, cores/2) threads, assuming 2 hyper-threads per core; report enough.
  os.cpus = () => {
    const real = origCpus.call(os);
    const want = 2 * threads;
    return real.length >= want ? real : Array.from({ length: want }, (_, i) => real[i % Math.max(1, real.length)]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  return () => {
    g.Blob = OrigBlob;
    URL.createObjectURL = origCreateObjectURL;
    os.cpus = origCpus;
  };
}

/** Undoes the flag side of patchForWasmThreads, so a retry starts the single-threaded build. */
export function disableWasmThreads(): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
}

/**
 * After the threaded backend started: its pthread workers must not keep Node alive (XNNPACK's threads never
 * finish, and emscripten refs a worker while its thread runs), so unref them all for good.
 * Returns the number of threads XNNPACK really uses.
 */
export function releaseWasmWorkers(backend: WasmBackend): number {
  const pthread = backend.wasm.PThread;
  if (pthread != null) {
    for (const w of [...pthread.unusedWorkers, ...pthread.runningWorkers]) {
      w.unref?.();
      w.ref = () => w;
    }
  }
  return backend.wasm.tfjs.getThreadsCount();
}
