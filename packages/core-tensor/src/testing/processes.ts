// Spec helpers for process ownership: a pid that is surely dead, a live process that is not this one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** The pid of a process that ran and exited (so no live process has it, barring immediate reuse). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** A live process that sleeps until killed (kill it in afterEach/afterAll). */
export function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 600000)'], { stdio: 'ignore' });
}
