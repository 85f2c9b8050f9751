// Temporary files of this process: one naming scheme that says whose they are, the ones in flight (removed at exit), and those of dead processes.
import * as fs from 'node:fs';
import * as path from 'node:path';

const inFlight = new Set<string>();
let exitHookInstalled = false;

/** `<file>.tmp-<pid>-<ms>`: a temp name beside `file` that names the process writing it (see tempOwner). */
export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Date.now()}`;
}

/**
 * The pid in a temp name rlhfkit writes, or null for names that are not temp files: `<name>.tmp-<pid>[-<n>...]`
 * (atomic file writes), `.tmp-checkpoint-<step>-<pid>` / `.tmp-old-<step>-<pid>` (checkpoint folders) and
 * `.tokenizer.json.native-<pid>` (older tokenizer saves).
 */
export function tempOwner(name: string): number | null {
  const m = /^\.tmp-(?:checkpoint|old)-\d+-(\d+)$/.exec(name) ?? /\.tmp-(\d+)(?:-[0-9a-z]+)*$/.exec(name) ?? /^\.tokenizer\.json\.native-(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Records a temp file or folder this process is writing; the returned function forgets it (call it once the temp
 * was renamed into place or removed). Whatever is still recorded when the process exits is deleted then.
 */
export function trackTemp(p: string): () => void {
  const abs = path.resolve(p);
  inFlight.add(abs);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => removeInFlightTemps());
  }
  return () => void inFlight.delete(abs);
}

/** The temp files and folders this process is writing now. */
export function inFlightTemps(): string[] {
  return [...inFlight];
}

/** Deletes this process's in-flight temps (all, or those under `dir`); returns what it deleted. */
export function removeInFlightTemps(dir?: string): string[] {
  const root = dir === undefined ? null : path.resolve(dir) + path.sep;
  const removed: string[] = [];
  for (const p of inFlight) {
    if (root !== null && !p.startsWith(root)) continue;
    try {
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch {
      // at exit nothing more can be done; a later run removes it as a dead process's temp
    }
    inFlight.delete(p);
  }
  return removed;
}

/** Whether a process with this pid runs on this machine (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface TempScan {
  /** Temps of processes that are gone, deleted (names relative to the folder). */
  removed: string[];
  /** Temps of other live processes, left alone. */
  kept: { name: string; pid: number }[];
}

/**
 * Deletes, directly inside `dir`, the temps whose owner is `which`: 'dead' (processes that no longer run; other
 * live processes' temps are kept and reported) or 'mine' (this process's).
 */
export function removeTempsIn(dir: string, which: 'dead' | 'mine'): TempScan {
  const out: TempScan = { removed: [], kept: [] };
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const pid = tempOwner(name);
    if (pid === null) continue;
    const mine = pid === process.pid;
    if (which === 'mine' ? !mine : mine) continue;
    if (which === 'dead' && isProcessAlive(pid)) {
      out.kept.push({ name, pid });
      continue;
    }
    const p = path.join(dir, name);
    fs.rmSync(p, { recursive: true, force: true });
    inFlight.delete(path.resolve(p));
    out.removed.push(name);
  }
  return out;
}
