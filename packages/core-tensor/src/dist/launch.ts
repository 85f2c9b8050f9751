// Launching a data-parallel run the way DeepSpeed's launcher does, with Open MPI: ranks on this host, or on the hosts of a DeepSpeed hostfile.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCpus } from '../backend/cpu-count';
import { MPI_INSTALL_HINT } from './mpi-build';

export const DEPLOYMENT_KINDS = ['single_node', 'multi_node'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

/** DeepSpeed's default hostfile location. */
export const DEFAULT_HOSTFILE = '/job/hostfile';

/** One `host slots=N` line of a DeepSpeed hostfile. */
export interface HostSlots {
  host: string;
  slots: number;
}

/** A hostfile problem a user can fix (names the file and the line). */
export class HostfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostfileError';
  }
}

/** DeepSpeed's hostfile: `hostname slots=N` per line; `#` comments and blank lines ignored; each host once. */
export function parseHostfile(text: string, file: string): HostSlots[] {
  const hosts: HostSlots[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const m = /^(\S+)\s+slots\s*=\s*(\d+)$/.exec(line);
    if (!m || Number(m[2]) < 1) throw new HostfileError(`${file}:${i + 1}: expected "hostname slots=N" (N >= 1), got ${JSON.stringify(raw.trim())}`);
    if (hosts.some((h) => h.host === m[1])) throw new HostfileError(`${file}:${i + 1}: host ${m[1]} is listed twice`);
    hosts.push({ host: m[1], slots: Number(m[2]) });
  });
  if (hosts.length === 0) throw new HostfileError(`${file}: no hosts (one line per host: "worker-1 slots=4")`);
  return hosts;
}

export function readHostfile(file: string): HostSlots[] {
  if (!fs.existsSync(file)) {
    throw new HostfileError(`hostfile ${file} does not exist; multi_node needs one (--hostfile FILE, default ${DEFAULT_HOSTFILE}) with a line per host: "worker-1 slots=4"`);
  }
  return parseHostfile(fs.readFileSync(file, 'utf8'), file);
}

export interface LaunchOptions {
  deploymentType: DeploymentKind;
  /** Ranks per host (DeepSpeed's --num_gpus); single_node default: this host's CPUs; multi_node: each host's slots. */
  numGpus?: number | null;
  /** Use only the first N hosts of the hostfile (DeepSpeed's --num_nodes). */
  numNodes?: number | null;
  /** multi_node: the DeepSpeed hostfile (default /job/hostfile). */
  hostfile?: string | null;
  /** The rlhfkit command every rank runs, e.g. ['sft', 'train', '--data_path', ...]. */
  command: string[];
  /** How to start rlhfkit on a rank (default: this Node and this script). */
  program?: string[];
  /** Extra mpirun arguments (also from RLHFKIT_MPIRUN_ARGS). */
  mpirunArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** CPUs of this host (default: what this process may use). */
  cpus?: number;
  /** Folder for the hostfile written for mpirun when --num_nodes/--num_gpus trim the given one. */
  tmpDir?: string;
}

export interface LaunchPlan {
  /** The mpirun executable and its arguments. */
  mpirun: string;
  args: string[];
  ranks: number;
  hosts: HostSlots[];
  /** Lines to print before starting (what was chosen and why). */
  notes: string[];
}

/** Environment every remote rank needs (mpirun passes the whole environment to ranks on this host only). */
function exportedEnv(env: NodeJS.ProcessEnv): string[] {
  const names = Object.keys(env).filter((k) => /^(RLHFKIT_|HF_|TRANSFORMERS_)/.test(k) || ['PATH', 'LD_LIBRARY_PATH', 'NODE_OPTIONS', 'NODE_PATH', 'CXX'].includes(k));
  return names.sort().flatMap((k) => ['-x', k]);
}

/** The mpirun command line for a launch (nothing is started; see runLaunch). */
export function planLaunch(o: LaunchOptions): LaunchPlan {
  const env = o.env ?? process.env;
  const notes: string[] = [];
  const mpirun = env.RLHFKIT_MPIRUN || 'mpirun';
  const program = o.program ?? [process.execPath, ...process.execArgv, process.argv[1]];
  if (o.command.length === 0) throw new Error('launch: give the command every rank runs after --, e.g. rlhfkit launch -- sft train --data_path rlhfkit/demo ...');
  const args: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--allow-run-as-root');
  // Ranks use threads (RLHFKIT_THREADS: this host's CPUs / its ranks), so they must not be pinned to one core each.
  args.push('--bind-to', 'none');
  let hosts: HostSlots[];
  let ranks: number;
  if (o.deploymentType === 'single_node') {
    const cpus = o.cpus ?? availableCpus();
    ranks = o.numGpus ?? (Number(env.RLHFKIT_NUM_GPUS) || cpus);
    hosts = [{ host: os.hostname(), slots: ranks }];
    notes.push(`single_node: ${ranks} ranks on this host (${o.numGpus ? '--num_gpus' : env.RLHFKIT_NUM_GPUS ? 'RLHFKIT_NUM_GPUS' : `one per CPU of ${cpus}`})`);
    if (ranks > cpus) {
      args.push('--oversubscribe');
      notes.push(`note: ${ranks} ranks on ${cpus} CPUs; they will share them`);
    }
    args.push('-np', String(ranks));
  } else {
    const file = path.resolve(o.hostfile || env.RLHFKIT_HOSTFILE || DEFAULT_HOSTFILE);
    hosts = readHostfile(file);
    if (o.numNodes) {
      if (o.numNodes > hosts.length) throw new HostfileError(`--num_nodes ${o.numNodes}: ${file} lists only ${hosts.length} host(s)`);
      hosts = hosts.slice(0, o.numNodes);
    }
    if (o.numGpus) hosts = hosts.map((h) => ({ host: h.host, slots: Math.min(h.slots, o.numGpus as number) }));
    ranks = hosts.reduce((a, h) => a + h.slots, 0);
    let mpiHostfile = file;
    if (o.numNodes || o.numGpus) {
      const dir = fs.mkdtempSync(path.join(o.tmpDir ?? os.tmpdir(), 'rlhfkit-hostfile-'));
      mpiHostfile = path.join(dir, 'hostfile');
      fs.writeFileSync(mpiHostfile, hosts.map((h) => `${h.host} slots=${h.slots}\n`).join(''));
    }
    notes.push(`multi_node: ${ranks} ranks on ${hosts.length} host(s) from ${file}: ${hosts.map((h) => `${h.host} x${h.slots}`).join(', ')}`);
    args.push('--hostfile', mpiHostfile, '-np', String(ranks), ...exportedEnv(env));
  }
  const extra = [...(env.RLHFKIT_MPIRUN_ARGS ?? '').split(/\s+/).filter(Boolean), ...(o.mpirunArgs ?? [])];
  args.push(...extra, ...program, ...o.command);
  return { mpirun, args, ranks, hosts, notes };
}

/** Why mpirun cannot be started here, or null. */
export function mpirunProblem(mpirun = process.env.RLHFKIT_MPIRUN || 'mpirun'): string | null {
  const r = spawnSync(mpirun, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error || r.status !== 0) return `${mpirun} was not found (${MPI_INSTALL_HINT})`;
  return /Open MPI/i.test(r.stdout) ? null : `${mpirun} is not Open MPI's (rlhfkit reads Open MPI's OMPI_COMM_WORLD_* variables); ${MPI_INSTALL_HINT}`;
}

/** The signal that asks every rank for a graceful stop: mpirun forwards SIGUSR2 to the ranks (it aborts the job on SIGINT). */
export const GRACEFUL_STOP_SIGNAL: NodeJS.Signals = 'SIGUSR2';

/**
 * Starts mpirun with the plan (its output is this process's) and resolves with its exit code. mpirun runs in its own
 * process group: the first Ctrl-C (or SIGTERM) reaches the ranks as SIGUSR2, so they stop after the current optimizer
 * step with a checkpoint; a second one aborts the job.
 */
export function runLaunch(plan: LaunchPlan, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const problem = mpirunProblem(plan.mpirun);
  if (problem) throw new Error(problem);
  for (const n of plan.notes) log(n);
  log(`cmd = ${[plan.mpirun, ...plan.args].map((a) => (/[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(plan.mpirun, plan.args, { stdio: 'inherit', detached: true });
    let asked = 0;
    const forward = (sig: NodeJS.Signals): void => {
      asked += 1;
      if (asked === 1) log(`\n${sig}: asking every rank to stop after its current step with a checkpoint (again to abort at once)`);
      child.kill(asked === 1 ? GRACEFUL_STOP_SIGNAL : 'SIGTERM');
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    const onExit = (): void => void (child.exitCode === null && child.kill('SIGTERM'));
    for (const s of signals) process.on(s, forward);
    process.on('exit', onExit);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const s of signals) process.off(s, forward);
      process.off('exit', onExit);
      resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1));
    });
  });
}
