// The Open MPI communicator (MPI_COMM_WORLD through the native-mpi addon) and the process-wide default: MPI under mpirun, else one process.
import { checkCounts, SingleProcessCommunicator, type CommBuffer, type Communicator, type ReduceOp } from './communicator';
import { buildMpiAddon, type MpiAddon } from './mpi-build';
import { worldFromEnv, type WorldInfo } from './world';

/** MPI_COMM_WORLD. Collectives block the calling (main) thread until every rank has joined. */
export class MpiCommunicator implements Communicator {
  readonly kind = 'mpi' as const;
  readonly rank: number;
  readonly size: number;
  readonly localRank: number;
  readonly localSize: number;
  /** Open MPI's version line and this host's name. */
  readonly version: string;
  readonly processor: string;
  /** Seconds spent in collectives, and how many (for the all-reduce time per step). */
  readonly stats = { calls: 0, seconds: 0, bytes: 0 };

  constructor(private readonly addon: MpiAddon, world: WorldInfo) {
    const info = addon.init();
    this.rank = info.rank;
    this.size = info.size;
    this.localRank = world.localRank;
    this.localSize = world.localSize;
    this.version = info.version;
    this.processor = info.processor;
  }

  private timed(bytes: number, f: () => void): void {
    const t0 = performance.now();
    f();
    this.stats.calls += 1;
    this.stats.seconds += (performance.now() - t0) / 1000;
    this.stats.bytes += bytes;
  }

  allReduce(buf: CommBuffer, op: ReduceOp = 'sum'): void {
    this.timed(buf.byteLength, () => this.addon.allReduce(buf, op));
  }

  reduceScatter(send: Float32Array | Float64Array, recv: Float32Array | Float64Array, counts: readonly number[], op: ReduceOp = 'sum'): void {
    checkCounts(counts, this.size, send.length, 'reduceScatter');
    this.timed(send.byteLength, () => this.addon.reduceScatter(send, recv, Int32Array.from(counts), op));
  }

  allGather<T extends CommBuffer>(send: T, recv: T, counts: readonly number[]): void {
    checkCounts(counts, this.size, recv.length, 'allGather');
    this.timed(recv.byteLength, () => this.addon.allGather(send, recv, Int32Array.from(counts)));
  }

  broadcast(buf: CommBuffer, root = 0): void {
    this.timed(buf.byteLength, () => this.addon.broadcast(buf, root));
  }

  barrier(): void {
    this.timed(0, () => this.addon.barrier());
  }

  /** MPI_Finalize (idempotent); called at a clean exit. */
  finalize(): void {
    this.addon.finalize();
  }
}

let current: Communicator | null = null;

/** An error that says how to get MPI, for runs started by mpirun on a machine where rlhfkit cannot bind it. */
export class MpiUnavailableError extends Error {
  constructor(world: WorldInfo, reason: string) {
    super(`this process is rank ${world.rank} of ${world.size} under mpirun, but rlhfkit cannot use MPI: ${reason}`);
    this.name = 'MpiUnavailableError';
  }
}

/**
 * The communicator of this process: MPI_COMM_WORLD when mpirun started it with more than one rank (the addon is built
 * on first use; MPI is finalized at a clean exit), else the single-process one. Throws MpiUnavailableError when mpirun
 * started several ranks but MPI cannot be bound: ranks training apart would silently compute something else.
 */
export function defaultCommunicator(): Communicator {
  if (current) return current;
  const world = worldFromEnv();
  if (world.size <= 1) return (current = new SingleProcessCommunicator());
  const built = buildMpiAddon();
  if (!built.ok) throw new MpiUnavailableError(world, built.reason);
  const comm = new MpiCommunicator(built.addon, world);
  // A clean exit (0) or a stop every rank agreed on (130, Ctrl-C) finalizes; an error exit does not (a rank blocked in a
  // collective would never join the finalize): mpirun then sees the non-zero status and stops the other ranks.
  process.on('exit', (code) => {
    const status = code || Number(process.exitCode ?? 0);
    if (status === 0 || status === 130) comm.finalize();
  });
  return (current = comm);
}

/** Replaces the process's communicator (tests; a program embedding rlhfkit with its own). Returns the previous one. */
export function setDefaultCommunicator(comm: Communicator | null): Communicator | null {
  const prev = current;
  current = comm;
  return prev;
}
