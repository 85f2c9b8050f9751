// An output folder belongs to one run: a lock (pid + host + start time), no fresh run over a previous one, and the run's temp files cleaned on every exit.
//
// A trainer adopts it with one call around its whole run (checkpoints and the final save):
//
//   const claim = claimOutputDir(c.outputDir, { resume: c.resumeFromCheckpoint, overwrite: c.overwriteOutputDir, log });
//   try { await new TrainingLoop(task, { ..., outputDirClaim: claim }).run(); claim.check(); await saveFinal(c.outputDir); }
//   finally { claim.release(); }
//
// or `await withOutputDir(dir, opts, (claim) => ...)`. TrainingLoop claims the folder itself when given no claim.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { worldFromEnv } from '../dist/world';
import { isProcessAlive, removeInFlightTemps, removeTempsIn, type TempScan } from '../io/temp-files';
import { CHECKPOINTS_DIR, CHECKPOINT_PREFIX, RUN_CONFIG_FILE } from './checkpoint';

/** The lock file inside a claimed output folder. */
export const RUN_LOCK_FILE = '.rlhfkit-run.lock';
/** The files a finished (or started) run leaves in its output folder, besides checkpoints/. */
const RUN_FILES = ['metrics.jsonl', RUN_CONFIG_FILE, 'config.json', 'model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];
/** What --overwrite_output_dir deletes: the run state a new run would otherwise mix with its own. */
const RUN_STATE = [CHECKPOINTS_DIR, 'metrics.jsonl'];
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Who holds an output folder (the lock file's JSON). */
export interface RunLockInfo {
  pid: number;
  host: string;
  /** ISO time the run claimed the folder. */
  startedAt: string;
  /** The command line, for the message a second run prints. */
  command: string;
  /** The process's start time from /proc (Linux), so a reused pid is not taken for the run. */
  procStart: string | null;
  /** Tells this claim's lock from any other, even one of the same process. */
  token: string;
}

export interface ClaimOutputDirOptions {
  /**
   * The run continues an earlier one (`--resume_from_checkpoint`, 'latest' or a folder): the folder's checkpoints
   * and metrics are what it needs, so a previous run's files are expected.
   */
  resume?: string | boolean | null;
  /**
   * `--overwrite_output_dir` (transformers' name): a previous run's checkpoints and metrics.jsonl are deleted
   * (one printed line says what); its model files stay until this run saves its own.
   */
  overwrite?: boolean | null;
  /** Printed lines (stale lock taken over, temps removed, what --overwrite_output_dir deleted); default stderr. */
  log?: (line: string) => void;
  /** Recorded in the lock for the message another run prints (default: this process's command line). */
  command?: string;
}

/** A held output folder. */
export interface OutputDirClaim {
  readonly dir: string;
  readonly lockFile: string;
  readonly info: RunLockInfo;
  /** Throws an OutputDirError unless the lock is still this claim's (call before writing the final model). */
  check(): void;
  /** Deletes this run's temp files in the folder and the lock (when still this claim's); safe to call twice. */
  release(): void;
}

/** A folder problem a user can act on (in use, holds a previous run, is a file). */
export class OutputDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputDirError';
  }
}

/** The start time of a process from /proc/<pid>/stat (field 22), or null off Linux or when it is gone. */
function procStartOf(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** The lock's holder, or null when the folder has no (readable) lock. */
export function readRunLock(dir: string): RunLockInfo | null {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(dir, RUN_LOCK_FILE), 'utf8')) as RunLockInfo;
    return typeof v === 'object' && v !== null && Number.isInteger(v.pid) ? v : null;
  } catch {
    return null;
  }
}

/** Whether the lock's run is gone: on this host, its pid is dead or now belongs to a process started later. */
function isStale(lock: RunLockInfo): boolean {
  if (lock.host !== os.hostname()) return false;
  if (!isProcessAlive(lock.pid)) return true;
  const now = procStartOf(lock.pid);
  return lock.procStart !== null && now !== null && now !== lock.procStart;
}

function describeHolder(l: RunLockInfo): string {
  return `pid ${l.pid} on ${l.host}, started ${l.startedAt}${l.command ? ` (${l.command})` : ''}`;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function makeFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new OutputDirError(`outputDir: --output_dir ${dir} is a file, not a folder; name a folder for the run (it is created when missing)`);
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'a part of the path is a file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
    throw new OutputDirError(`outputDir: --output_dir ${dir}: cannot create the folder (${why}); choose another outputDir`);
  }
}

/** Creates the lock with O_EXCL, taking over a dead run's; throws OutputDirError while another live run holds it. */
function acquireLock(dir: string, info: RunLockInfo, log: (line: string) => void): void {
  const file = path.join(dir, RUN_LOCK_FILE);
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      try {
        fs.writeSync(fd, JSON.stringify(info, null, 2) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new OutputDirError(`${file}: cannot create the run lock (${code ?? (e as Error).message}); check the folder's permissions`);
    }
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (text === null) continue; // released in between: try again
    let holder: RunLockInfo | null = null;
    try {
      holder = JSON.parse(text) as RunLockInfo;
    } catch {
      holder = null;
    }
    if (!holder || !Number.isInteger(holder.pid)) {
      // Being written by a run that just created it, or left empty by one killed at that instant.
      if (Date.now() - fs.statSync(file).mtimeMs < 2000) {
        sleepMs(50);
        continue;
      }
      holder = { pid: -1, host: os.hostname(), startedAt: 'unknown', command: '', procStart: null, token: '' };
    }
    if (holder.pid === process.pid && holder.host === info.host && holder.procStart === info.procStart) {
      throw new OutputDirError(
        `outputDir: --output_dir ${dir} is already held by this process (an earlier trainer on it was not disposed, or its claim not released); ` +
          'one output folder takes one run at a time',
      );
    }
    if (!isStale(holder)) {
      throw new OutputDirError(
        `outputDir: --output_dir ${dir} is in use by another rlhfkit run: ${describeHolder(holder)}. Wait for it to finish, stop it, or ` +
          `choose another outputDir; if that run is gone (another machine sharing this folder), delete ${file}`,
      );
    }
    // Move the dead run's lock aside, and make sure what moved is the lock judged stale, not a live run's new one.
    const aside = `${file}.stale-${process.pid}-${randomBytes(3).toString('hex')}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else moved it first
    }
    const moved = fs.readFileSync(aside, 'utf8');
    if (moved !== text) {
      try {
        fs.linkSync(aside, file);
      } catch {
        // another run created a lock meanwhile; it is judged on the next attempt
      }
      fs.rmSync(aside, { force: true });
      continue;
    }
    fs.rmSync(aside, { force: true });
    log(`rlhfkit: ${dir}: took over the lock of a run that is gone (${describeHolder(holder)})`);
  }
  throw new OutputDirError(`${file}: could not take the run lock after 50 tries; another run keeps creating it`);
}

/** A previous run's files in the folder, for the message and for --overwrite_output_dir. */
function previousRunFiles(dir: string): string[] {
  const found: string[] = [];
  const ck = path.join(dir, CHECKPOINTS_DIR);
  if (fs.existsSync(ck)) {
    const names = fs.readdirSync(ck).filter((n) => n.startsWith(CHECKPOINT_PREFIX));
    if (names.length) found.push(`${CHECKPOINTS_DIR}/ (${names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).join(', ')})`);
  }
  for (const f of RUN_FILES) if (fs.existsSync(path.join(dir, f))) found.push(f);
  return found;
}

function formatScan(dir: string, scans: TempScan[]): string[] {
  const lines: string[] = [];
  const removed = scans.flatMap((s) => s.removed);
  const kept = scans.flatMap((s) => s.kept);
  if (removed.length) lines.push(`rlhfkit: ${dir}: removed ${removed.length} temp file(s) of runs that are gone: ${removed.join(', ')}`);
  if (kept.length) lines.push(`rlhfkit: ${dir}: left ${kept.map((k) => `${k.name} (pid ${k.pid} is running)`).join(', ')}`);
  return lines;
}

/**
 * Claims `outputDir` for this run, before any work: creates it (an error naming the flag when the path is a file),
 * takes the lock (another live run's lock is an OutputDirError naming it; a dead run's is taken over with a printed
 * line), refuses a fresh run into a folder holding a previous run's checkpoints, model or metrics unless `resume`
 * or `overwrite` says what to do, and deletes temp files that runs now gone left there. The claim's temp files
 * and lock are removed by release(), at process exit, and on a signal nobody else handles.
 */
export function claimOutputDir(outputDir: string, opts: ClaimOutputDirOptions = {}): OutputDirClaim {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = path.resolve(outputDir);
  // Under mpirun only rank 0 writes into the folder and holds it; the other ranks of the same run hold nothing there.
  const world = worldFromEnv();
  if (world.rank !== 0) return followerClaim(dir, world.rank);
  makeFolder(dir);
  const info: RunLockInfo = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command: opts.command ?? [path.basename(process.argv[1] ?? 'node'), ...process.argv.slice(2)].join(' ').slice(0, 300),
    procStart: procStartOf(process.pid),
    token: randomBytes(8).toString('hex'),
  };
  acquireLock(dir, info, log);
  const lockFile = path.join(dir, RUN_LOCK_FILE);
  let released = false;

  const cleanup = (): void => {
    if (released) return;
    released = true;
    removeInFlightTemps(dir);
    removeTempsIn(dir, 'mine');
    removeTempsIn(path.join(dir, CHECKPOINTS_DIR), 'mine');
    if (readRunLock(dir)?.token === info.token) fs.rmSync(lockFile, { force: true });
    process.off('exit', cleanup);
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  // A signal someone else handles (the training loop's graceful stop) is theirs; this hook then steps aside, so a
  // second Ctrl-C quits at once (a later run takes the stale lock over). A signal nobody handles: clean up, then die of it.
  const onSignal = (sig: NodeJS.Signals): void => {
    const others = process.listeners(sig).filter((l) => l !== onSignal).length;
    for (const s of SIGNALS) process.off(s, onSignal);
    if (others > 0) return;
    cleanup();
    process.kill(process.pid, sig);
  };

  try {
    const previous = previousRunFiles(dir);
    if (previous.length && !opts.resume) {
      if (!opts.overwrite) {
        throw new OutputDirError(
          `outputDir: --output_dir ${dir} holds a previous run (${previous.join(', ')}); a new run would mix with it. Pass ` +
            "--resume_from_checkpoint latest to continue it, --overwrite_output_dir to replace it (as options: resumeFromCheckpoint: 'latest', " +
            'overwriteOutputDir: true), or choose another outputDir',
        );
      }
      const gone = RUN_STATE.filter((f) => fs.existsSync(path.join(dir, f)));
      for (const f of gone) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
      const what = gone.length ? `deleted the previous run's ${gone.map((f) => (f === CHECKPOINTS_DIR ? 'checkpoints' : f)).join(' and ')} in ${dir}; its` : `${dir}: the`;
      log(`rlhfkit: --overwrite_output_dir: ${what} model files stay until this run saves its own`);
    }
    for (const line of formatScan(dir, [removeTempsIn(dir, 'dead'), removeTempsIn(path.join(dir, CHECKPOINTS_DIR), 'dead')])) log(line);
  } catch (e) {
    cleanup();
    throw e;
  }
  process.on('exit', cleanup);
  for (const s of SIGNALS) process.prependListener(s, onSignal);

  return {
    dir,
    lockFile,
    info,
    check(): void {
      const now = readRunLock(dir);
      if (released || now?.token !== info.token) {
        const who = now ? `it is held by ${describeHolder(now)}` : 'the lock file is gone';
        throw new OutputDirError(`${dir} is no longer this run's (${who}); nothing more is written there, so nothing of another run is overwritten`);
      }
    },
    release: cleanup,
  };
}

/**
 * claimOutputDir, `fn`, then release() whatever happens: the one call a trainer's whole run goes in. With `held` (a
 * claim the caller took earlier, as the CLIs do before loading any model), `fn` runs on it and the caller releases it.
 */
export async function withOutputDir<T>(
  outputDir: string, opts: ClaimOutputDirOptions & { held?: OutputDirClaim | null }, fn: (claim: OutputDirClaim) => Promise<T>,
): Promise<T> {
  if (opts.held) return fn(opts.held);
  const claim = claimOutputDir(outputDir, opts);
  try {
    return await fn(claim);
  } finally {
    claim.release();
  }
}

/** The claim of a rank other than 0: the run's folder is rank 0's to lock, check and clean. */
function followerClaim(dir: string, rank: number): OutputDirClaim {
  const info: RunLockInfo = {
    pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command: `rank ${rank}`, procStart: null, token: `rank-${rank}`,
  };
  return { dir, lockFile: path.join(dir, RUN_LOCK_FILE), info, check: () => undefined, release: () => undefined };
}
