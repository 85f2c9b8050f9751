// The communicator data-parallel training talks to (rank, size, collectives), its single-process form, and JSON/number helpers.

/** A typed array a collective can carry. */
export type CommBuffer = Float32Array | Float64Array | Int32Array | Uint8Array;
export type ReduceOp = 'sum' | 'max' | 'min';

/**
 * The processes of one training run and the collectives between them (MPI_COMM_WORLD semantics): every rank calls
 * every collective in the same order with the same sizes. Buffers are reduced/filled in place unless said otherwise.
 */
export interface Communicator {
  /** This process's index, 0..size-1; rank 0 writes checkpoints, metrics and the final model. */
  readonly rank: number;
  readonly size: number;
  /** Index among the ranks on this host (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK). */
  readonly localRank: number;
  /** Ranks on this host. */
  readonly localSize: number;
  /** 'single' (one process) or 'mpi'. */
  readonly kind: 'single' | 'mpi';
  /** Every rank's `buf` combined with `op`; each rank gets the result in `buf`. */
  allReduce(buf: CommBuffer, op?: ReduceOp): void;
  /**
   * `send` (the same length everywhere) is split into `counts` (one per rank, adding up to send.length); rank r gets the
   * reduction of its piece in `recv` (counts[r] long).
   */
  reduceScatter(send: Float32Array | Float64Array, recv: Float32Array | Float64Array, counts: readonly number[], op?: ReduceOp): void;
  /** Every rank's `send` (counts[rank] long) concatenated in rank order into `recv` (sum of counts long). */
  allGather<T extends CommBuffer>(send: T, recv: T, counts: readonly number[]): void;
  /** `buf` as `root` has it, on every rank. */
  broadcast(buf: CommBuffer, root?: number): void;
  /** Returns when every rank has called it. */
  barrier(): void;
}

/** One process, no peers: every collective is the identity (today's behaviour, and what tests use). */
export class SingleProcessCommunicator implements Communicator {
  readonly rank = 0;
  readonly size = 1;
  readonly localRank = 0;
  readonly localSize = 1;
  readonly kind = 'single' as const;

  allReduce(buf: CommBuffer, op: ReduceOp = 'sum'): void {
    void buf; // one rank: the buffer already holds the reduction
    void op;
  }

  reduceScatter(send: Float32Array | Float64Array, recv: Float32Array | Float64Array, counts: readonly number[]): void {
    checkCounts(counts, 1, send.length, 'reduceScatter');
    recv.set(send);
  }

  allGather<T extends CommBuffer>(send: T, recv: T, counts: readonly number[]): void {
    checkCounts(counts, 1, recv.length, 'allGather');
    recv.set(send as never);
  }

  broadcast(buf: CommBuffer, root = 0): void {
    if (root !== 0) throw new RangeError(`broadcast: root ${root} is not a rank of a one-process run`);
    void buf; // nothing to send
  }

  barrier(): void {
    // nobody to wait for
  }
}

/** Throws unless `counts` has one non-negative integer per rank adding up to `total`. */
export function checkCounts(counts: readonly number[], size: number, total: number, what: string): void {
  if (counts.length !== size || counts.some((c) => !Number.isInteger(c) || c < 0)) {
    throw new RangeError(`${what}: counts must be ${size} non-negative integers (one per rank), got [${counts.join(', ')}]`);
  }
  const sum = counts.reduce((a, b) => a + b, 0);
  if (sum !== total) throw new RangeError(`${what}: counts add up to ${sum} but the buffer holds ${total}`);
}

/** Splits n elements into `size` contiguous pieces as evenly as possible (the first n % size get one more). */
export function evenCounts(n: number, size: number): number[] {
  const base = Math.floor(n / size);
  const extra = n % size;
  return Array.from({ length: size }, (_, r) => base + (r < extra ? 1 : 0));
}

/** Sums (or max/min) a few numbers over every rank, in float64. */
export function allReduceNumbers(comm: Communicator, values: readonly number[], op: ReduceOp = 'sum'): number[] {
  if (comm.size === 1) return [...values];
  const buf = Float64Array.from(values);
  comm.allReduce(buf, op);
  return Array.from(buf);
}

/** True on every rank when `flag` is true on any rank (a stop or skip decision all ranks take together). */
export function anyRank(comm: Communicator, flag: boolean): boolean {
  if (comm.size === 1) return flag;
  return allReduceNumbers(comm, [flag ? 1 : 0], 'max')[0] > 0;
}

/** Rank `root`'s JSON-able value, on every rank. */
export function broadcastJson<T>(comm: Communicator, value: T, root = 0): T {
  if (comm.size === 1) return value;
  const bytes = comm.rank === root ? new TextEncoder().encode(JSON.stringify(value ?? null)) : new Uint8Array(0);
  const len = Int32Array.of(bytes.length);
  comm.broadcast(len, root);
  const buf = comm.rank === root ? bytes : new Uint8Array(len[0]);
  comm.broadcast(buf, root);
  return JSON.parse(new TextDecoder().decode(buf)) as T;
}

/** Every rank's JSON-able value, in rank order, on every rank. */
export function allGatherJson<T>(comm: Communicator, value: T): T[] {
  if (comm.size === 1) return [value];
  const bytes = new TextEncoder().encode(JSON.stringify(value ?? null));
  const lens = new Int32Array(comm.size);
  comm.allGather(Int32Array.of(bytes.length), lens, new Array(comm.size).fill(1));
  const all = new Uint8Array(lens.reduce((a, b) => a + b, 0));
  comm.allGather(bytes, all, Array.from(lens));
  const out: T[] = [];
  let at = 0;
  for (const n of lens) {
    out.push(JSON.parse(new TextDecoder().decode(all.subarray(at, at + n))) as T);
    at += n;
  }
  return out;
}
