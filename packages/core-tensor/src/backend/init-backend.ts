// Picks and starts the compute backend once per process: tfjs-node-gpu, tfjs-node, wasm, then cpu.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { availableCpus } from './cpu-count';
import { wasmFastPaths } from './fast-paths';
import { configureNativeMatMul, nativeGemmAddon, nativeMatMulStatus } from './native-gemm';
import { asWasm } from './wasm-internals';
import { registerWasmKernels, WasmKernelReport } from './wasm-kernels';
import { disableWasmThreads, MAX_WASM_THREADS, patchForWasmThreads, releaseWasmWorkers } from './wasm-threads';

export const BACKEND_CHOICES = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

/** What initBackend chose and how it is set up. */
export interface BackendInfo {
  /** rlhfkit's name for the backend. */
  name: BackendName;
  /** The tfjs backend name (`tf.getBackend()`): 'tensorflow', 'wasm' or 'cpu'. */
  tfjsBackend: string;
  /** What was asked for, after --backend / RLHFKIT_BACKEND. */
  requested: BackendChoice;
  /** wasm only: whether the SIMD build runs. */
  simd: boolean;
  /** Compute threads: XNNPACK threads on wasm, 1 on cpu, 0 on node (libtensorflow sizes its own pool). */
  threads: number;
  /** node-gpu only: whether libtensorflow found a GPU device. */
  gpu: boolean;
  /** Why other backends were skipped, and anything else a user may want to know. */
  notes: string[];
  /** wasm only: the kernels registered by registerWasmKernels. */
  wasmKernels?: WasmKernelReport;
  /** wasm only: threads of the native kernels when they run with more threads than XNNPACK. */
  nativeMatMulThreads?: number;
}

export interface InitBackendOptions {
  /** auto | node-gpu | node | wasm | cpu (CLI --backend); falls back to env RLHFKIT_BACKEND, then auto. */
  backend?: string;
  /**
   * Compute threads on wasm (the native kernels' pool, and XNNPACK's unless workload 'train' keeps it at 1); falls
   * back to env RLHFKIT_THREADS, then to the CPUs this process may use (os.availableParallelism() capped by the
   * cgroup's CPU quota), as PyTorch uses every core by default.
   */
  threads?: number;
  /**
   * What the process mostly does ('generate' by default). Either way, with more than one thread on wasm and the
   * native kernels available, they get all the threads and XNNPACK runs on one: XNNPACK's worker spins after every
   * small op and competes with the native threads (a training step of the benchmark model was ~14% faster so on 2
   * cores, and batch-8 decoding with the native step 1.5x faster: 1676-1839 vs 1139-1235 tokens/s, 3 alternated
   * runs on a loaded 2-core machine). Without the native kernels XNNPACK keeps all the threads.
   */
  workload?: 'train' | 'generate';
  /**
   * XNNPACK's own threads on wasm, overriding the split above (specs: threaded wasm, i.e. a SharedArrayBuffer heap,
   * next to the native kernels). Default: 1 when the native kernels take `threads`, else `threads`.
   */
  xnnpackThreads?: number;
  /** Do not print the one-line backend summary to stderr. */
  quiet?: boolean;
}

const NODE_PACKAGES: Record<'node-gpu' | 'node', string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
};

let started: Promise<BackendInfo> | null = null;
let current: BackendInfo | null = null;
let printed = false;

/** The info of the backend initBackend started, or null before it finished. */
export function currentBackendInfo(): BackendInfo | null {
  return current;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}

export function resolveChoice(opts: InitBackendOptions): { choice: BackendChoice; from: string } {
  const fromOpt = opts.backend != null && opts.backend !== '';
  const raw = fromOpt ? opts.backend : process.env.RLHFKIT_BACKEND;
  const from = fromOpt ? '--backend' : 'RLHFKIT_BACKEND';
  if (raw == null || raw === '') return { choice: 'auto', from: 'default' };
  const v = raw.trim().toLowerCase();
  if (!(BACKEND_CHOICES as readonly string[]).includes(v)) {
    throw new Error(`rlhfkit: unknown backend '${raw}' (from ${from}); use one of ${BACKEND_CHOICES.join(', ')}`);
  }
  return { choice: v as BackendChoice, from };
}

/**
 * --threads, else RLHFKIT_THREADS, else the CPUs this process may use (`cpus`, injectable for specs); capped at the
 * wasm worker pool's size.
 */
export function resolveThreads(opts: InitBackendOptions, notes: string[], cpus: () => number = availableCpus): number {
  const fromOpt = opts.threads != null;
  const raw = fromOpt ? String(opts.threads) : process.env.RLHFKIT_THREADS;
  if (raw == null || raw.trim() === '') {
    const n = Math.min(cpus(), MAX_WASM_THREADS);
    notes.push(`threads: ${n}, the CPUs this process may use (--threads or RLHFKIT_THREADS to change)`);
    return n;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`threads must be a whole number >= 1, got '${raw}' (from ${fromOpt ? '--threads' : 'RLHFKIT_THREADS'})`);
  }
  if (n > MAX_WASM_THREADS) {
    notes.push(`threads capped at ${MAX_WASM_THREADS} (the wasm backend's worker pool)`);
    return MAX_WASM_THREADS;
  }
  return n;
}

/** Loads tfjs-node(-gpu) if it is installed and starts its 'tensorflow' backend; returns why not otherwise. */
async function tryNode(kind: 'node-gpu' | 'node'): Promise<string | null> {
  const pkg = NODE_PACKAGES[kind];
  try {
    require(pkg);
  } catch (e) {
    return `${pkg} could not be loaded (${firstLine(e)})`;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    return `${pkg} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs ` +
      `(${tf.version_core}); install the same version of both`;
  }
  if (!(await tf.setBackend('tensorflow'))) return `${pkg} loaded but its 'tensorflow' backend failed to start`;
  return null;
}

async function startWasm(threads: number, notes: string[], quiet: boolean): Promise<{ threads: number; simd: boolean }> {
  let restore: (() => void) | null = null;
  let threadFailure: string | null = null;
  if (threads > 1) {
    if (tf.engine().registry.wasm != null) {
      threadFailure = 'the wasm backend was already started single-threaded';
    } else {
      try {
        restore = patchForWasmThreads(threads);
      } catch (e) {
        threadFailure = firstLine(e);
      }
    }
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    restore?.();
  }
  if (!ok && restore != null) {
    threadFailure = 'the threaded build failed to initialise (tfjs printed why above)';
    disableWasmThreads();
    ok = await tf.setBackend('wasm');
  }
  if (!ok) throw new Error('@tensorflow/tfjs-backend-wasm failed to start (tfjs printed why above)');
  const actual = releaseWasmWorkers(asWasm(tf.backend()));
  if (threadFailure != null) {
    notes.push(`wasm threads could not start: ${threadFailure}`);
    if (!quiet) process.stderr.write(`rlhfkit: wasm threads could not start (${threadFailure}); continuing with 1 thread\n`);
  } else if (actual < threads) {
    notes.push(`wasm started ${actual} of the ${threads} threads asked for`);
  }
  return { threads: Math.max(1, actual), simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) };
}

function describe(info: BackendInfo): string {
  switch (info.name) {
    case 'wasm':
      return `wasm (${info.simd ? 'simd' : 'no simd'}, ${info.threads} thread${info.threads === 1 ? '' : 's'}` +
        `${info.nativeMatMulThreads != null ? `, native kernels ${info.nativeMatMulThreads} threads` : ''})`;
    case 'cpu':
      return 'cpu (pure JS reference kernels, slow)';
    case 'node':
      return 'node (libtensorflow)';
    case 'node-gpu':
      return `node-gpu (libtensorflow, ${info.gpu ? 'GPU' : 'no GPU device found, running on CPU'})`;
  }
}

function explicitFailure(choice: BackendChoice, from: string, reason: string): Error {
  const how: Record<BackendName, string> = {
    'node-gpu': 'It is an optional dependency whose install downloads libtensorflow built for CUDA 11.2/cuDNN 8.1: ' +
      'run `npm i @tensorflow/tfjs-node-gpu@4.22.0` with network access, or pick another backend (node, wasm, cpu).',
    node: 'It is an optional dependency whose install downloads libtensorflow: run ' +
      '`npm i @tensorflow/tfjs-node@4.22.0` with network access, or pick another backend (wasm, cpu).',
    wasm: 'Reinstall dependencies (`npm ci`), or pick --backend cpu.',
    cpu: 'This should not happen; reinstall dependencies (`npm ci`).',
  };
  return new Error(`rlhfkit: backend ${choice} (from ${from}) could not start: ${reason}. ${how[choice as BackendName]}`);
}

async function start(opts: InitBackendOptions, choice: BackendChoice, from: string): Promise<BackendInfo> {
  const notes: string[] = [];
  const threads = resolveThreads(opts, notes);
  // tfjs's cpu backend prints an advert for tfjs-node on first use; our summary line says what runs instead.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
  const base = { requested: choice, simd: false, threads: 0, gpu: false, notes };
  const order: BackendName[] = choice === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [choice];
  for (const name of order) {
    if (name === 'node-gpu' || name === 'node') {
      const why = await tryNode(name);
      if (why == null) {
        if (threads > 1) notes.push('--threads applies to the wasm backend only; libtensorflow sizes its own pool');
        const gpu = name === 'node-gpu' && Boolean((tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
        return { ...base, name, tfjsBackend: tf.getBackend(), gpu };
      }
      if (choice !== 'auto') throw explicitFailure(choice, from, why);
      notes.push(why);
    } else if (name === 'wasm') {
      const wasmKernels = registerWasmKernels();
      configureNativeMatMul({ threads });
      // Building (or loading) the native kernel here, before timing starts, is what the first large matmul would do.
      const splitThreads = threads > 1 && wasmFastPaths.nativeMatMul && nativeGemmAddon() != null;
      const xnnpack = opts.xnnpackThreads != null ? Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(opts.xnnpackThreads))) : splitThreads ? 1 : threads;
      try {
        const w = await startWasm(xnnpack, notes, Boolean(opts.quiet));
        if (!splitThreads || xnnpack > 1) return { ...base, name, tfjsBackend: tf.getBackend(), simd: w.simd, threads: w.threads, wasmKernels };
        const nativeThreads = nativeMatMulStatus().threads ?? threads;
        notes.push(`the native kernels run on ${nativeThreads} threads, the other wasm kernels on 1`);
        return { ...base, name, tfjsBackend: tf.getBackend(), simd: w.simd, threads: w.threads, wasmKernels, nativeMatMulThreads: nativeThreads };
      } catch (e) {
        if (choice !== 'auto') throw explicitFailure(choice, from, firstLine(e));
        notes.push(`wasm could not start (${firstLine(e)})`);
      }
    } else {
      if (!(await tf.setBackend('cpu'))) throw explicitFailure('cpu', from, 'tf.setBackend(\'cpu\') failed');
      if (threads > 1) notes.push('--threads applies to the wasm backend only');
      return { ...base, name, tfjsBackend: tf.getBackend(), threads: 1 };
    }
  }
  throw new Error('rlhfkit: no backend could start: ' + notes.join('; '));
}

/**
 * Chooses the compute backend (order: node-gpu, node, wasm, cpu; or what --backend / RLHFKIT_BACKEND
 * names), starts it, registers the wasm kernels, and prints one line saying what runs. Call it once at
 * start-up, before building models; later calls return the same info. Asking for a backend that cannot
 * start is an error that says why and what to do.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  let choice: BackendChoice;
  let from: string;
  try {
    ({ choice, from } = resolveChoice(opts));
  } catch (e) {
    return Promise.reject(e);
  }
  if (started != null) {
    return started.then((info) => {
      if (choice !== 'auto' && choice !== info.name) {
        throw new Error(`rlhfkit: backend ${choice} (from ${from}) was asked for, but this process already ` +
          `runs on ${info.name}; choose the backend once, at start-up`);
      }
      return info;
    });
  }
  const promise = start(opts, choice, from).then((info) => {
    current = info;
    if (!opts.quiet && !printed) {
      printed = true;
      process.stderr.write(`rlhfkit: backend ${describe(info)}\n`);
    }
    return info;
  });
  started = promise;
  promise.catch(() => {
    started = null; // a failed start may be retried with another choice
  });
  return promise;
}

/**
 * What the library calls before it first needs a backend (loadPretrained, createTinyModel, the trainers, ...): waits for
 * the backend initBackend started, keeps one the caller started through tfjs itself (`tf.setBackend`, adding
 * rlhfkit's wasm kernels), and otherwise starts the default, as `initBackend()` would. Call initBackend first to choose.
 */
export async function ensureBackend(): Promise<BackendInfo | null> {
  if (started != null) return started;
  const engine = tf.engine() as unknown as { backendName: string | null; pendingBackendInit: Promise<unknown> | null };
  if (engine.backendName != null) {
    // The caller chose through tfjs; wasm lacks kernels rlhfkit's models need (UnsortedSegmentSum, ...), so add them.
    if (engine.pendingBackendInit != null) await engine.pendingBackendInit;
    registerWasmKernels();
    return null;
  }
  return initBackend();
}

/**
 * Synchronous code (createModelFromConfig) cannot start the wasm backend, whose start is asynchronous: it names what to
 * call first instead of tfjs's "The highest priority backend 'wasm' has not yet been initialized".
 */
export function requireBackend(what: string): void {
  if (current != null) return;
  const engine = tf.engine() as unknown as { backendName: string | null; registry: Record<string, unknown> };
  if (engine.backendName != null && engine.registry[engine.backendName] != null) return;
  throw new Error(
    `${what} runs synchronously and no compute backend has started yet: \`await initBackend()\` first (it picks ` +
      'node-gpu > node > wasm > cpu, or the one you name); loadPretrained, createTinyModel and the trainers start it themselves',
  );
}
