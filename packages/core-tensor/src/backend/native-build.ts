// Builds the native sgemm addon (packages/core-tensor/native) at first use into a per-content cache, and loads it.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

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

/** Linkers other than GNU ld refuse a shared object whose Node-API symbols are unresolved unless told. */
function platformFlags(): string[] {
  return process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : [];
}

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

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** Splits "$CXX" like a shell would for the simple cases (`ccache g++`, `/opt/bin/g++ -m64`). */
function splitCommand(cmd: string): string[] {
  return cmd.trim().split(/\s+/).filter(Boolean);
}

/** The compiler's --version first line, or why it cannot run. */
function compilerVersion(cxx: string[]): { version: string } | { error: string } {
  const r = spawnSync(cxx[0], [...cxx.slice(1), '--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error != null) return { error: `${cxx.join(' ')} could not run (${r.error.message})` };
  if (r.status !== 0) return { error: `${cxx.join(' ')} --version exited ${r.status ?? r.signal}` };
  return { version: firstLine(r.stdout) };
}

function findCompiler(explicit: string | undefined): { cxx: string[]; version: string } | { error: string } {
  if (explicit != null && explicit.trim() !== '') {
    const cxx = splitCommand(explicit);
    const v = compilerVersion(cxx);
    return 'error' in v ? { error: v.error } : { cxx, version: v.version };
  }
  const tried: string[] = [];
  for (const name of ['g++', 'c++', 'clang++']) {
    const v = compilerVersion([name]);
    if ('version' in v) return { cxx: [name], version: v.version };
    tried.push(name);
  }
  return { error: `no C++ compiler found (tried ${tried.join(', ')}; set $CXX)` };
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

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A lock whose process is gone (same machine), or older than any build may take. */
function lockIsStale(lock: string): boolean {
  try {
    const text = fs.readFileSync(lock, 'utf8');
    const pid = Number(text.split(' ')[0]);
    // We always write "<pid> <time>"; a lock with text but no pid was not written by us: stale.
    if (text.trim() !== '' && !(Number.isInteger(pid) && pid > 0)) return true;
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
      }
    }
    return Date.now() - fs.statSync(lock).mtimeMs > DEFAULT_TIMEOUT_MS;
  } catch {
    return false; // gone meanwhile, or just being written: look again shortly
  }
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

/** Compiles into a private temporary file and renames it into place, so readers never see half a binary. */
function compile(cxx: string[], sources: string[], include: string, dir: string): string | null {
  const tmp = path.join(dir, `${ADDON_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const args = [...cxx.slice(1), ...NATIVE_CXX_FLAGS, ...platformFlags(), `-I${include}`, ...sources, '-o', tmp];
  const r = spawnSync(cxx[0], args, { encoding: 'utf8', timeout: DEFAULT_TIMEOUT_MS - 30_000 });
  if (r.error != null || r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    const log = path.join(dir, 'build-error.log');
    fs.writeFileSync(log, `${cxx[0]} ${args.join(' ')}\n\n${r.stderr ?? ''}${r.error != null ? String(r.error) : ''}\n`);
    const why = r.error != null ? r.error.message : `exit ${r.status ?? r.signal}`;
    return `compiling failed (${why}; see ${log})`;
  }
  fs.renameSync(tmp, path.join(dir, ADDON_FILE));
  return null;
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
  const done = (compiled: boolean): NativeBuildResult =>
    ({ ok: true, addon: loadAddon(file), file, compiled, buildMs: performance.now() - t0 });
  if (fs.existsSync(file)) return done(false);
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'build.lock');
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const sources = sourceFiles(sourceDir).filter((f) => f.endsWith('.cc')).map((f) => path.join(sourceDir, f));
  for (;;) {
    let fd: number | null = null;
    try {
      fd = fs.openSync(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd != null) {
      try {
        fs.writeSync(fd, `${process.pid} ${new Date().toISOString()}\n`);
        if (fs.existsSync(file)) return done(false); // finished between our check and the lock
        const failure = compile(found.cxx, sources, include, dir);
        if (failure != null) return { ok: false, reason: failure };
        return done(true);
      } finally {
        fs.closeSync(fd);
        fs.rmSync(lock, { force: true });
      }
    }
    // Someone else is compiling: wait for their file, or take over a lock left by a process that died.
    if (fs.existsSync(file)) return done(false);
    if (Date.now() > deadline) return { ok: false, reason: `timed out waiting for another process's build (${lock})` };
    if (lockIsStale(lock)) fs.rmSync(lock, { force: true });
    sleepMs(100);
  }
}
