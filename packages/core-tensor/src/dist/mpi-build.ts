// Builds the MPI addon (packages/core-tensor/native-mpi) at first use with the machine's C++ compiler and Open MPI's mpicc flags, cached like the sgemm.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ReduceOp } from './communicator';

/** What native-mpi/mpi.cc exports (MPI_COMM_WORLD only). */
export interface MpiAddon {
  init(): { rank: number; size: number; version: string; processor: string };
  allReduce(buf: ArrayBufferView, op: ReduceOp): void;
  reduceScatter(send: ArrayBufferView, recv: ArrayBufferView, counts: Int32Array, op: ReduceOp): void;
  allGather(send: ArrayBufferView, recv: ArrayBufferView, counts: Int32Array): void;
  broadcast(buf: ArrayBufferView, root: number): void;
  barrier(): void;
  finalize(): void;
  abort(code: number): void;
  initialized(): boolean;
}

export type MpiBuildResult = { ok: true; addon: MpiAddon; file: string; compiled: boolean } | { ok: false; reason: string };

export interface MpiBuildOptions {
  /** C++ compiler; default $CXX, else g++, c++ or clang++. */
  cxx?: string;
  /** Open MPI's C wrapper, asked for its flags; default $RLHFKIT_MPICC, else mpicc. */
  mpicc?: string;
  /** Cache root; default $RLHFKIT_CACHE/mpi, else ~/.cache/rlhfkit/mpi. */
  cacheDir?: string;
  sourceDir?: string;
  nodeInclude?: string;
  timeoutMs?: number;
}

/** The one line printed when Open MPI is not there: what to install. */
export const MPI_INSTALL_HINT = 'install Open MPI: apt-get install openmpi-bin libopenmpi-dev (Debian/Ubuntu), dnf install openmpi-devel, or brew install open-mpi';

const ADDON_FILE = 'rlhfkit-mpi.node';
const CXX_FLAGS = ['-O2', '-std=gnu++17', '-fPIC', '-shared', '-fvisibility=hidden', '-pthread'];
const DEFAULT_TIMEOUT_MS = 180_000;

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

function run(cmd: string[], args: string[]): { ok: true; out: string } | { ok: false; why: string } {
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.error != null) return { ok: false, why: `${cmd.join(' ')} could not run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `${cmd.join(' ')} ${args.join(' ')} exited ${r.status ?? r.signal}: ${firstLine(r.stderr ?? '')}` };
  return { ok: true, out: r.stdout.trim() };
}

function split(s: string): string[] {
  return s.trim().split(/\s+/).filter(Boolean);
}

function findCxx(explicit: string | undefined): { cxx: string[]; version: string } | { error: string } {
  const candidates = explicit != null && explicit.trim() !== '' ? [split(explicit)] : [['g++'], ['c++'], ['clang++']];
  for (const c of candidates) {
    const v = run(c, ['--version']);
    if (v.ok) return { cxx: c, version: firstLine(v.out) };
  }
  return { error: `no C++ compiler found (tried ${candidates.map((c) => c.join(' ')).join(', ')}; set $CXX)` };
}

/** Compile and link flags from `mpicc --showme:compile` / `--showme:link`, or why they are not available. */
export function mpiFlags(mpicc: string = process.env.RLHFKIT_MPICC || 'mpicc'): { compile: string[]; link: string[] } | { error: string } {
  const cmd = split(mpicc);
  const c = run(cmd, ['--showme:compile']);
  if (!c.ok) return { error: `Open MPI's mpicc was not found or failed (${c.why}); ${MPI_INSTALL_HINT}` };
  const l = run(cmd, ['--showme:link']);
  if (!l.ok) return { error: `${mpicc} --showme:link failed (${l.why}); ${MPI_INSTALL_HINT}` };
  const link = split(l.out);
  // An rpath to libmpi's folder, so the addon loads without LD_LIBRARY_PATH wherever mpicc found it.
  const rpaths = link.filter((f) => f.startsWith('-L')).map((f) => `-Wl,-rpath,${f.slice(2)}`);
  return { compile: split(c.out), link: [...link, ...rpaths] };
}

export function defaultMpiSourceDir(): string {
  return path.resolve(__dirname, '../../native-mpi');
}

export function defaultMpiCacheDir(): string {
  const root = process.env.RLHFKIT_CACHE;
  return root != null && root !== '' ? path.join(root, 'mpi') : path.join(os.homedir(), '.cache', 'rlhfkit', 'mpi');
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function lockIsStale(lock: string, timeoutMs: number): boolean {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8').split(' ')[0]);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
      }
    }
    return Date.now() - fs.statSync(lock).mtimeMs > timeoutMs;
  } catch {
    return false;
  }
}

function loadAddon(file: string): MpiAddon {
  const mod = { exports: {} as unknown };
  // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve libmpi's symbols from the global scope.
  process.dlopen(mod, file, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL);
  const addon = mod.exports as Partial<MpiAddon>;
  if (typeof addon.allReduce !== 'function' || typeof addon.init !== 'function') throw new Error(`${file} is not rlhfkit's MPI addon`);
  return addon as MpiAddon;
}

/**
 * The MPI addon: from the cache, or compiled there first (one compile shared by every rank starting at once, through
 * `build.lock`). Never throws: no compiler, no Open MPI or a failed compile come back as a one-line reason.
 */
export function buildMpiAddon(o: MpiBuildOptions = {}): MpiBuildResult {
  try {
    return buildOrLoad(o);
  } catch (e) {
    return { ok: false, reason: firstLine(e instanceof Error ? e.message : String(e)) };
  }
}

function buildOrLoad(o: MpiBuildOptions): MpiBuildResult {
  const sourceDir = o.sourceDir ?? defaultMpiSourceDir();
  const source = path.join(sourceDir, 'mpi.cc');
  if (!fs.existsSync(source)) return { ok: false, reason: `no sources in ${sourceDir}` };
  const include = o.nodeInclude ?? path.join(path.dirname(process.execPath), '..', 'include', 'node');
  if (!fs.existsSync(path.join(include, 'node_api.h'))) return { ok: false, reason: `Node's headers are missing (${include}/node_api.h)` };
  const flags = mpiFlags(o.mpicc);
  if ('error' in flags) return { ok: false, reason: flags.error };
  const found = findCxx(o.cxx ?? process.env.CXX);
  if ('error' in found) return { ok: false, reason: found.error };
  const h = createHash('sha256');
  h.update(fs.readFileSync(source));
  h.update(`\0${found.cxx.join(' ')}\0${found.version}\0${CXX_FLAGS.join(' ')}\0${flags.compile.join(' ')}\0${flags.link.join(' ')}\0`);
  h.update(`${process.platform}-${process.arch}-abi${process.versions.modules}-napi${process.versions.napi}`);
  const dir = path.join(o.cacheDir ?? defaultMpiCacheDir(), h.digest('hex').slice(0, 20));
  const file = path.join(dir, ADDON_FILE);
  if (fs.existsSync(file)) return { ok: true, addon: loadAddon(file), file, compiled: false };
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'build.lock');
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
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
        if (fs.existsSync(file)) return { ok: true, addon: loadAddon(file), file, compiled: false };
        const tmp = path.join(dir, `${ADDON_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
        const args = [...found.cxx.slice(1), ...CXX_FLAGS, ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []), `-I${include}`, ...flags.compile, source, '-o', tmp, ...flags.link];
        const r = spawnSync(found.cxx[0], args, { encoding: 'utf8', timeout: timeoutMs - 30_000 });
        if (r.error != null || r.status !== 0) {
          fs.rmSync(tmp, { force: true });
          const log = path.join(dir, 'build-error.log');
          fs.writeFileSync(log, `${found.cxx[0]} ${args.join(' ')}\n\n${r.stderr ?? ''}${r.error != null ? String(r.error) : ''}\n`);
          return { ok: false, reason: `compiling the MPI addon failed (see ${log})` };
        }
        fs.renameSync(tmp, file);
        return { ok: true, addon: loadAddon(file), file, compiled: true };
      } finally {
        fs.closeSync(fd);
        fs.rmSync(lock, { force: true });
      }
    }
    if (fs.existsSync(file)) return { ok: true, addon: loadAddon(file), file, compiled: false };
    if (Date.now() > deadline) return { ok: false, reason: `timed out waiting for another process's MPI addon build (${lock})` };
    if (lockIsStale(lock, timeoutMs)) fs.rmSync(lock, { force: true });
    sleepMs(100);
  }
}
