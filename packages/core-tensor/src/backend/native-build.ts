// Builds the native sgemm addon (packages/core-tensor/native) at first use into a per-content cache, and loads it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOnce, compileInto, findCompiler, firstLine, platformFlags } from './cached-build';

/** One kernel set compiled into the addon (an instruction set and its register tile). */
export interface NativeKernelInfo {
  name: string;
  supported: boolean;
  /** Whether 'auto' may pick it here: supported, and for avx512f, equal to the AVX2 set on this machine's check. */
  verified: boolean;
  mr: number;
  nr: number;
}

export interface NativeGemmInfo {
  /**
   * The kernel set in use: 'avx512f', 'avx2+fma', 'generic' (portable), or 'reference-12x32' (the AVX-512 tile
   * shape in plain loops, for specs).
   */
  kernel: string;
  threads: number;
  hardwareThreads: number;
  kernels: NativeKernelInfo[];
}

/** One native operation's counters since the last resetStats() (the benchmark's profile reads them). */
export interface NativeOpStat {
  name: string;
  calls: number;
  ms: number;
  /** CPU time of the calling thread inside it (with one thread, the operation's CPU time; less disturbed by load). */
  cpuMs: number;
  /** Floating-point operations performed, in 1e9. */
  gflop: number;
}

/** What native/addon.cc exports. Offsets and strides count floats in `heap`. */
export interface NativeGemmAddon {
  gemm(
    heap: Float32Array, batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean,
    aOff: number, aStride: number, bOff: number, bStride: number, cOff: number, biasOff: number, relu: boolean,
    aIndex: Int32Array | null, bIndex: Int32Array | null,
  ): void;
  setThreads(n: number): number;
  setKernel(name: string): string;
  info(): NativeGemmInfo;
  stats(): NativeOpStat[];
  resetStats(): void;
  /** Whether kernel set `candidate` computes what `reference` does on products crossing every blocking edge. */
  checkKernels(candidate: string, reference: string): boolean;
}

export interface NativeBuildOptions {
  /** The compiler command; default $CXX, else the first of g++, c++, clang++ that runs. */
  cxx?: string;
  /** Cache root; default $RLHFKIT_CACHE/native, else ~/.cache/rlhfkit/native. */
  cacheDir?: string;
  /** Folder holding the C++ sources; default packages/core-tensor/native. */
  sourceDir?: string;
  /** Node's C headers (node_api.h); default <node prefix>/include/node. */
  nodeInclude?: string;
  /** Longest wait for a compile, ours or another process's (ms). */
  timeoutMs?: number;
}

export type NativeBuildResult =
  | { ok: true; addon: NativeGemmAddon; file: string; compiled: boolean; buildMs: number }
  | { ok: false; reason: string };

/** Never -march=native: the binary must run on any x86-64 (or other) CPU; the AVX code is chosen at run time. */
export const NATIVE_CXX_FLAGS = [
  '-O3', '-std=gnu++17', '-ffp-contract=fast', '-fPIC', '-shared', '-fvisibility=hidden', '-pthread', '-Wno-psabi',
];

const ADDON_FILE = 'rlhfkit-gemm.node';
const DEFAULT_TIMEOUT_MS = 180_000;

export function defaultSourceDir(): string {
  return path.resolve(__dirname, '../../native');
}

export function defaultNodeInclude(): string {
  return path.join(path.dirname(process.execPath), '..', 'include', 'node');
}

export function defaultCacheDir(): string {
  const root = process.env.RLHFKIT_CACHE;
  return root != null && root !== '' ? path.join(root, 'native') : path.join(os.homedir(), '.cache', 'rlhfkit', 'native');
}

/** The compiler command that a build would use now ($CXX, else g++, c++ or clang++), or null when none runs. */
export function nativeCompiler(): string | null {
  const found = findCompiler(process.env.CXX);
  return 'error' in found ? null : found.cxx.join(' ');
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => /\.(cc|h)$/.test(f)).sort();
}

/** The cache key: sources, compiler, flags and the Node ABI, so any change builds afresh beside the old. */
export function nativeBuildKey(sourceDir: string, compiler: string, version: string): string {
  const h = createHash('sha256');
  for (const f of sourceFiles(sourceDir)) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(sourceDir, f)));
  }
  h.update(`\0${compiler}\0${version}\0${NATIVE_CXX_FLAGS.join(' ')}\0`);
  h.update(`${process.platform}-${process.arch}-abi${process.versions.modules}-napi${process.versions.napi}`);
  return h.digest('hex').slice(0, 20);
}

function loadAddon(file: string): NativeGemmAddon {
  const mod = { exports: {} as unknown };
  process.dlopen(mod, file, os.constants.dlopen.RTLD_NOW);
  const addon = mod.exports as Partial<NativeGemmAddon>;
  if (typeof addon.gemm !== 'function' || typeof addon.info !== 'function') {
    throw new Error(`${file} is not rlhfkit's gemm addon`);
  }
  return addon as NativeGemmAddon;
}

/**
 * The addon for these sources, compiler and Node: loaded from the cache, or compiled there first. Concurrent
 * processes (jest workers) share one compile: the first takes `build.lock`, the others wait for the file.
 * Never throws; a failure comes back as a reason.
 */
export function buildNativeGemm(opts: NativeBuildOptions = {}): NativeBuildResult {
  try {
    return buildOrLoad(opts);
  } catch (e) {
    return { ok: false, reason: firstLine(e instanceof Error ? e.message : String(e)) };
  }
}

function buildOrLoad(opts: NativeBuildOptions): NativeBuildResult {
  const t0 = performance.now();
  const sourceDir = opts.sourceDir ?? defaultSourceDir();
  if (!fs.existsSync(path.join(sourceDir, 'addon.cc'))) return { ok: false, reason: `no sources in ${sourceDir}` };
  const include = opts.nodeInclude ?? defaultNodeInclude();
  for (const h of ['node_api.h', 'js_native_api.h']) {
    const header = path.join(include, h);
    if (!fs.existsSync(header)) return { ok: false, reason: `Node's headers are missing (${header})` };
  }
  const found = findCompiler(opts.cxx ?? process.env.CXX);
  if ('error' in found) return { ok: false, reason: found.error };
  const key = nativeBuildKey(sourceDir, found.cxx.join(' '), found.version);
  const dir = path.join(opts.cacheDir ?? defaultCacheDir(), key);
  const file = path.join(dir, ADDON_FILE);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const sources = sourceFiles(sourceDir).filter((f) => f.endsWith('.cc')).map((f) => path.join(sourceDir, f));
  const built = buildOnce(
    file,
    () => compileInto(found.cxx, (out) => [...NATIVE_CXX_FLAGS, ...platformFlags(), `-I${include}`, ...sources, '-o', out], file, timeoutMs, ''),
    { timeoutMs, what: '' },
  );
  if ('error' in built) return { ok: false, reason: built.error };
  return { ok: true, addon: loadAddon(file), file, compiled: built.compiled, buildMs: performance.now() - t0 };
}
