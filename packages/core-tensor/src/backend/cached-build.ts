// Compiling a Node-API addon at first use into a per-content cache folder, shared by the native kernels (native-build.ts)
// and the MPI binding (dist/mpi-build.ts): the compiler, one compile for every process starting at once, atomic output.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** Splits "$CXX" like a shell would for the simple cases (`ccache g++`, `/opt/bin/g++ -m64`). */
export function splitCommand(cmd: string): string[] {
  return cmd.trim().split(/\s+/).filter(Boolean);
}

/** The compiler's --version first line, or why it cannot run. */
function compilerVersion(cxx: string[]): { version: string } | { error: string } {
  const r = spawnSync(cxx[0], [...cxx.slice(1), '--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error != null) return { error: `${cxx.join(' ')} could not run (${r.error.message})` };
  if (r.status !== 0) return { error: `${cxx.join(' ')} --version exited ${r.status ?? r.signal}` };
  return { version: firstLine(r.stdout) };
}

/** `explicit` ($CXX or an option) when given, else the first of g++, c++ and clang++ that runs; with its version line. */
export function findCompiler(explicit: string | undefined): { cxx: string[]; version: string } | { error: string } {
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

/** Linkers other than GNU ld refuse a shared object whose Node-API symbols are unresolved unless told. */
export function platformFlags(): string[] {
  return process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : [];
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A lock whose process is gone (same machine), that we did not write, or older than any build may take. */
function lockIsStale(lock: string, timeoutMs: number): boolean {
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
    return Date.now() - fs.statSync(lock).mtimeMs > timeoutMs;
  } catch {
    return false; // gone meanwhile, or just being written: look again shortly
  }
}

/**
 * Runs `cxx` with `args(out)` into a private temporary file beside `file` and renames it into place, so readers never
 * see half a binary. Returns null, or why it failed (the command and the compiler's output go to build-error.log).
 */
export function compileInto(cxx: string[], args: (out: string) => string[], file: string, timeoutMs: number, what: string): string | null {
  const dir = path.dirname(file);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const all = [...cxx.slice(1), ...args(tmp)];
  const r = spawnSync(cxx[0], all, { encoding: 'utf8', timeout: timeoutMs - 30_000 });
  if (r.error != null || r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    const log = path.join(dir, 'build-error.log');
    fs.writeFileSync(log, `${cxx[0]} ${all.join(' ')}\n\n${r.stderr ?? ''}${r.error != null ? String(r.error) : ''}\n`);
    const why = r.error != null ? r.error.message : `exit ${r.status ?? r.signal}`;
    return `compiling ${what}failed (${why}; see ${log})`;
  }
  fs.renameSync(tmp, file);
  return null;
}

/**
 * `file` built once: there already, or built here by `build` (null on success, else why) while holding `build.lock` in
 * its folder, or built meanwhile by another process (jest workers, MPI ranks) whose lock we wait out, taking over a
 * stale one. `compiled` says whether this process built it.
 */
export function buildOnce(file: string, build: () => string | null, o: { timeoutMs: number; what: string }): { compiled: boolean } | { error: string } {
  if (fs.existsSync(file)) return { compiled: false };
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'build.lock');
  const deadline = Date.now() + o.timeoutMs;
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
        if (fs.existsSync(file)) return { compiled: false }; // finished between our check and the lock
        const failure = build();
        return failure != null ? { error: failure } : { compiled: true };
      } finally {
        fs.closeSync(fd);
        fs.rmSync(lock, { force: true });
      }
    }
    // Someone else is compiling: wait for their file, or take over a lock left by a process that died.
    if (fs.existsSync(file)) return { compiled: false };
    if (Date.now() > deadline) return { error: `timed out waiting for another process's ${o.what}build (${lock})` };
    if (lockIsStale(lock, o.timeoutMs)) fs.rmSync(lock, { force: true });
    sleepMs(100);
  }
}
