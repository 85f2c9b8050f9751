// Builds the MPI addon (packages/core-tensor/native-mpi) at first use with the machine's C++ compiler and Open MPI's mpicc flags, cached like the sgemm.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOnce, compileInto, findCompiler, firstLine, platformFlags, splitCommand } from '../backend/cached-build';
import { defaultNodeInclude } from '../backend/native-build';
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

function run(cmd: string[], args: string[]): { ok: true; out: string } | { ok: false; why: string } {
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.error != null) return { ok: false, why: `${cmd.join(' ')} could not run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `${cmd.join(' ')} ${args.join(' ')} exited ${r.status ?? r.signal}: ${firstLine(r.stderr ?? '')}` };
  return { ok: true, out: r.stdout.trim() };
}

/** Compile and link flags from `mpicc --showme:compile` / `--showme:link`, or why they are not available. */
export function mpiFlags(mpicc: string = process.env.RLHFKIT_MPICC || 'mpicc'): { compile: string[]; link: string[] } | { error: string } {
  const cmd = splitCommand(mpicc);
  const c = run(cmd, ['--showme:compile']);
  if (!c.ok) return { error: `Open MPI's mpicc was not found or failed (${c.why}); ${MPI_INSTALL_HINT}` };
  const l = run(cmd, ['--showme:link']);
  if (!l.ok) return { error: `${mpicc} --showme:link failed (${l.why}); ${MPI_INSTALL_HINT}` };
  const link = splitCommand(l.out);
  // An rpath to libmpi's folder, so the addon loads without LD_LIBRARY_PATH wherever mpicc found it.
  const rpaths = link.filter((f) => f.startsWith('-L')).map((f) => `-Wl,-rpath,${f.slice(2)}`);
  return { compile: splitCommand(c.out), link: [...link, ...rpaths] };
}

export function defaultMpiSourceDir(): string {
  return path.resolve(__dirname, '../../native-mpi');
}

export function defaultMpiCacheDir(): string {
  const root = process.env.RLHFKIT_CACHE;
  return root != null && root !== '' ? path.join(root, 'mpi') : path.join(os.homedir(), '.cache', 'rlhfkit', 'mpi');
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
  const include = o.nodeInclude ?? defaultNodeInclude();
  if (!fs.existsSync(path.join(include, 'node_api.h'))) return { ok: false, reason: `Node's headers are missing (${include}/node_api.h)` };
  const flags = mpiFlags(o.mpicc);
  if ('error' in flags) return { ok: false, reason: flags.error };
  const found = findCompiler(o.cxx ?? process.env.CXX);
  if ('error' in found) return { ok: false, reason: found.error };
  const h = createHash('sha256');
  h.update(fs.readFileSync(source));
  h.update(`\0${found.cxx.join(' ')}\0${found.version}\0${CXX_FLAGS.join(' ')}\0${flags.compile.join(' ')}\0${flags.link.join(' ')}\0`);
  h.update(`${process.platform}-${process.arch}-abi${process.versions.modules}-napi${process.versions.napi}`);
  const dir = path.join(o.cacheDir ?? defaultMpiCacheDir(), h.digest('hex').slice(0, 20));
  const file = path.join(dir, ADDON_FILE);
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const built = buildOnce(
    file,
    () => compileInto(found.cxx, (out) => [...CXX_FLAGS, ...platformFlags(), `-I${include}`, ...flags.compile, source, '-o', out, ...flags.link], file, timeoutMs, 'the MPI addon '),
    { timeoutMs, what: 'MPI addon ' },
  );
  if ('error' in built) return { ok: false, reason: built.error };
  return { ok: true, addon: loadAddon(file), file, compiled: built.compiled };
}
