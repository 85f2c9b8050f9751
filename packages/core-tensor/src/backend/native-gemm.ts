// Runs wasm-backend matmuls through the native sgemm addon, in place on the wasm heap (no copies).
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import { buildNativeGemm, type NativeBuildOptions, type NativeGemmAddon, type NativeGemmInfo } from './native-build';
import { heapBuffer, tensorData, type WasmBackend } from './wasm-internals';

/**
 * Below this many multiply-adds per call XNNPACK (or tfjs's plain loop) keeps the product: the addon call and
 * its thread hand-off cost a few microseconds that only larger products repay. Measured on a Zen4 core
 * (tools/bench/kernels.ts): see the crossover lines there.
 */
export const NATIVE_MATMUL_MIN_MACS = 8 * 1024;

/**
 * The threshold when wasm runs threaded (--threads > 1). XNNPACK's worker threads go to sleep when no XNNPACK
 * work comes for a while, and waking them costs every later XNNPACK op (elementwise ones included) tens of
 * microseconds; so the small products of decoding stay on XNNPACK, keeping its threads warm.
 */
export const NATIVE_MATMUL_MIN_MACS_THREADED = 4 * 1024 * 1024;

export interface NativeMatMulStatus {
  /** Whether matmuls go to the native kernel now (false until first use, or when it cannot run). */
  active: boolean;
  /** Why it does not run, when it does not. */
  reason?: string;
  kernel?: string;
  threads?: number;
  /** The .node file loaded. */
  file?: string;
  /** Whether this process compiled it (else it came from the cache), and how long the build or load took. */
  compiled?: boolean;
  buildMs?: number;
}

interface LoadedState {
  addon: NativeGemmAddon | null;
  status: NativeMatMulStatus;
}

let loaded: LoadedState | null = null;
let calls = 0;
let configuredThreads: number | null = null;
let buildOptions: NativeBuildOptions = {};
let minMacs: number | null = null; // null: the measured defaults above

function envFlag(name: string): string {
  return (process.env[name] ?? '').trim().toLowerCase();
}

function threadsFromEnv(name: string): number | null {
  const raw = process.env[name];
  if (raw == null || raw.trim() === '') return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`rlhfkit: ${name} must be a whole number >= 1, got '${raw}'`);
  }
  return n;
}

/** RLHFKIT_NATIVE_THREADS, else what initBackend was given (--threads / RLHFKIT_THREADS), else 1. */
function wantedThreads(): number {
  return threadsFromEnv('RLHFKIT_NATIVE_THREADS') ?? configuredThreads ?? threadsFromEnv('RLHFKIT_THREADS') ?? 1;
}

function notice(line: string): void {
  process.stderr.write(`rlhfkit: ${line}\n`);
}

function load(): LoadedState {
  const off = envFlag('RLHFKIT_NATIVE');
  if (['0', 'false', 'off', 'no'].includes(off)) {
    notice('native matmul off (RLHFKIT_NATIVE=0); matmuls stay on XNNPACK');
    return { addon: null, status: { active: false, reason: 'RLHFKIT_NATIVE=0' } };
  }
  const built = buildNativeGemm(buildOptions);
  if (!built.ok) {
    const hint = /EACCES|EROFS|EPERM|ENOSPC/.test(built.reason) ? 'set RLHFKIT_CACHE to a writable folder'
      : /compiler|could not run|compiling failed/.test(built.reason) ? 'install g++ or set $CXX'
        : /headers are missing/.test(built.reason) ? 'use a Node build that ships include/node' : 'fix the cause above';
    notice(`native matmul unavailable (${built.reason}); matmuls stay on XNNPACK. To use it, ${hint}; ` +
      'RLHFKIT_NATIVE=0 skips trying.');
    return { addon: null, status: { active: false, reason: built.reason } };
  }
  const addon = built.addon;
  const forced = process.env.RLHFKIT_NATIVE_KERNEL;
  let kernel: string;
  try {
    kernel = addon.setKernel(forced != null && forced !== '' ? forced : 'auto');
  } catch (e) {
    const reason = `RLHFKIT_NATIVE_KERNEL=${forced}: ${(e as Error).message}`;
    notice(`native matmul unavailable (${reason}); matmuls stay on XNNPACK`);
    return { addon: null, status: { active: false, reason } };
  }
  // The portable kernel is no faster than XNNPACK's wasm SIMD: without AVX2/AVX-512 keep XNNPACK unless asked.
  if ((kernel === 'generic' || kernel.startsWith('reference')) && (forced == null || forced === '')) {
    const reason = 'this CPU has neither AVX2+FMA nor AVX-512';
    notice(`native matmul unused (${reason}); matmuls stay on XNNPACK`);
    return { addon: null, status: { active: false, reason, kernel } };
  }
  const threads = addon.setThreads(wantedThreads());
  // A person at a terminal learns why the first matmul paused; logs and test output stay quiet.
  if (built.compiled && process.stderr.isTTY === true) {
    notice(`built the native matmul kernels (${kernel}) in ${(built.buildMs / 1000).toFixed(1)} s, once, into ${built.file}`);
  }
  return {
    addon,
    status: { active: true, kernel, threads, file: built.file, compiled: built.compiled, buildMs: built.buildMs },
  };
}

/** The addon, built or loaded on first call; null (after one printed line) when it cannot run here. */
export function nativeGemmAddon(): NativeGemmAddon | null {
  if (loaded == null) {
    try {
      loaded = load();
    } catch (e) {
      const reason = (e as Error).message.split('\n')[0];
      notice(`native matmul unavailable (${reason}); matmuls stay on XNNPACK`);
      loaded = { addon: null, status: { active: false, reason } };
    }
  }
  return loaded.addon;
}

/** What the native matmul does now, without building it. */
export function nativeMatMulStatus(): NativeMatMulStatus {
  if (loaded == null) return { active: false, reason: 'not used yet (built at the first large matmul)' };
  if (loaded.addon == null) return { ...loaded.status };
  const info: NativeGemmInfo = loaded.addon.info();
  return { ...loaded.status, kernel: info.kernel, threads: info.threads };
}

/**
 * Sets the native kernel's thread count (initBackend passes --threads here); RLHFKIT_NATIVE_THREADS wins.
 * Capped at the CPUs this process may use, so it never oversubscribes them.
 */
export function configureNativeMatMul(opts: { threads?: number }): void {
  if (opts.threads != null) configuredThreads = Math.max(1, Math.floor(opts.threads));
  if (loaded?.addon != null) loaded.status.threads = loaded.addon.setThreads(wantedThreads());
}

/**
 * Forgets the loaded addon so the next matmul loads it again with `opts` (specs: a bogus compiler, a fresh
 * cache), and restores the default size thresholds.
 */
export function resetNativeMatMul(opts: NativeBuildOptions = {}): void {
  loaded = null;
  buildOptions = opts;
  minMacs = null;
}

/** How many products the native kernel ran in this module instance (specs check the routing with it). */
export function nativeMatMulCalls(): number {
  return calls;
}

/**
 * Chooses the kernel set by name ('auto', 'avx512f', 'avx2+fma', 'generic', 'reference-12x32'; see info().kernels),
 * for specs and benchmarks that compare them; returns the name now active. Throws if the addon is not loaded
 * or this CPU cannot run that set.
 */
export function selectNativeKernel(name: string): string {
  const addon = nativeGemmAddon();
  if (addon == null) throw new Error(`rlhfkit: the native matmul is not available (${nativeMatMulStatus().reason})`);
  return addon.setKernel(name);
}

/**
 * Sets the per-call size threshold for every wasm build (specs use 0 to send every product to the native
 * kernel; null restores the measured defaults); returns the previous setting.
 */
export function setNativeMatMulMinMacs(n: number | null): number | null {
  const prev = minMacs;
  minMacs = n;
  return prev;
}

const threadedByModule = new WeakMap<object, boolean>();

/** Whether this backend runs the threaded wasm build with more than one XNNPACK thread. */
function xnnpackThreaded(backend: WasmBackend): boolean {
  let t = threadedByModule.get(backend.wasm);
  if (t == null) {
    t = backend.wasm.tfjs.getThreadsCount() > 1;
    threadedByModule.set(backend.wasm, t);
  }
  return t;
}

/** Whether a product of this size should run natively (building the addon on the first such call). */
export function useNativeMatMul(macs: number, backend?: WasmBackend): NativeGemmAddon | null {
  if (!wasmFastPaths.nativeMatMul || macs === 0) return null;
  const threshold = minMacs ??
    (backend != null && xnnpackThreaded(backend) ? NATIVE_MATMUL_MIN_MACS_THREADED : NATIVE_MATMUL_MIN_MACS);
  if (macs < threshold) return null;
  return nativeGemmAddon();
}

/** The per-batch operand layout for the addon: identity, broadcast (stride 0) or an explicit index list. */
function operandIndex(index: number[], batch: number, size: number): { stride: number; index: Int32Array | null } {
  if (batch === 1) return { stride: 0, index: null };
  for (let i = 0; i < index.length; i++) {
    if (index[i] !== i) return { stride: size, index: Int32Array.from(index) };
  }
  return { stride: size, index: null };
}

let heapView: Float32Array | null = null;

/** A Float32Array over the whole wasm memory; a new one after the memory grew (the old buffer is detached). */
export function heapF32(backend: WasmBackend): Float32Array {
  const buf = heapBuffer(backend);
  if (heapView == null || heapView.buffer !== buf) heapView = new Float32Array(buf);
  return heapView;
}

function floatOffset(backend: WasmBackend, t: tf.TensorInfo): number {
  const bytes = tensorData(backend, t).memoryOffset;
  if (bytes % 4 !== 0) throw new Error(`rlhfkit native matmul: tensor [${t.shape}] is not 4-byte aligned on the wasm heap`);
  return bytes / 4;
}

export interface NativeProduct {
  m: number; k: number; n: number;
  batchA: number; batchB: number;
  outBatchDims: number[];
  aIndex: number[]; bIndex: number[];
}

/**
 * out = op(A) · op(B) [+ bias] [relu] for every broadcast batch, computed by the addon straight from and into
 * the wasm heap. `bias`, if given, has n floats. The output is allocated before the heap view is taken:
 * malloc may grow the memory, which detaches views of the old buffer.
 */
export function nativeBatchMatMul(
  addon: NativeGemmAddon, backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean,
  transposeB: boolean, plan: NativeProduct, bias: tf.TensorInfo | null = null, relu = false,
): tf.TensorInfo {
  const { m, k, n, aIndex, bIndex } = plan;
  const total = aIndex.length;
  const out = backend.makeOutput([...plan.outBatchDims, m, n], 'float32');
  calls++;
  try {
    const heap = heapF32(backend);
    const aOff = floatOffset(backend, a);
    const bOff = floatOffset(backend, b);
    const cOff = floatOffset(backend, out);
    const biasOff = bias == null ? -1 : floatOffset(backend, bias);
    const ai = operandIndex(aIndex, plan.batchA, m * k);
    const bi = operandIndex(bIndex, plan.batchB, k * n);
    // A shared B and consecutive untransposed A batches are one tall product: better blocking, one call.
    if (!transposeA && plan.batchB === 1 && ai.index == null && total > 1 && plan.batchA === total) {
      addon.gemm(heap, 1, total * m, n, k, false, transposeB, aOff, 0, bOff, 0, cOff, biasOff, relu, null, null);
    } else {
      addon.gemm(heap, total, m, n, k, transposeA, transposeB, aOff, ai.stride, bOff, bi.stride, cOff, biasOff, relu,
        ai.index, bi.index);
    }
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

/**
 * The native product if it should run (size, switches) and can (addon built); null means "use XNNPACK".
 * An error inside the addon turns the native path off for the process, with one printed line, instead of
 * failing the step.
 */
export function runNativeMatMul(
  backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean,
  plan: NativeProduct, bias: tf.TensorInfo | null = null, relu = false,
): tf.TensorInfo | null {
  const addon = useNativeMatMul(plan.aIndex.length * plan.m * plan.k * plan.n, backend);
  if (addon == null) return null;
  try {
    return nativeBatchMatMul(addon, backend, a, b, transposeA, transposeB, plan, bias, relu);
  } catch (e) {
    const reason = (e as Error).message.split('\n')[0];
    notice(`native matmul failed (${reason}); matmuls stay on XNNPACK from now on`);
    loaded = { addon: null, status: { active: false, reason } };
    return null;
  }
}
