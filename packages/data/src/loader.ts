// A seeded, resumable batch sampler: a fresh permutation every epoch (seed + epoch), a serialisable position, optional data-parallel sharding.
import { getShuffleIdx } from './np-random';

export interface SamplerOptions {
  batchSize: number;
  /** Shuffle each epoch with get_shuffle_idx(seed + epoch, n); false keeps dataset order (an eval sampler). */
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch smaller than batchSize. */
  dropLast?: boolean;
  /** Data parallelism, as torch's DistributedSampler: this rank's share of every epoch. */
  rank?: number;
  worldSize?: number;
}

/** Everything needed to resume exactly: store it in a checkpoint, pass it back to `restore`. */
export interface SamplerState {
  readonly size: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly epoch: number;
  /** Batches already served in this epoch. */
  readonly step: number;
  readonly rank: number;
  readonly worldSize: number;
}

export interface SampledBatch {
  readonly indices: number[];
  readonly epoch: number;
  /** Index of this batch within its epoch. */
  readonly step: number;
}

/**
 * Serves dataset indices batch by batch across epochs. DeepSpeed-Chat's DistributedSampler is never told
 * the epoch, so it repeats one order; here epoch e uses the permutation of seed+e (numpy's, as in the data
 * split), which keeps runs reproducible and still reshuffles.
 */
export class BatchSampler {
  private readonly o: Required<SamplerOptions>;
  private epochIndices: number[] = [];
  private epoch = 0;
  private step = 0;

  constructor(
    readonly size: number,
    options: SamplerOptions,
  ) {
    this.o = { shuffle: true, seed: 1234, dropLast: false, rank: 0, worldSize: 1, ...options };
    const { batchSize, rank, worldSize } = this.o;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(worldSize) || worldSize < 1 || rank < 0 || rank >= worldSize) throw new RangeError(`rank ${rank} is not in a world of ${worldSize}`);
    if (size < 1) throw new RangeError('cannot sample batches from an empty dataset');
    this.load(0);
  }

  /** This rank's indices for an epoch: permute, pad by wrapping to a multiple of worldSize, take every worldSize-th. */
  indicesForEpoch(epoch: number): number[] {
    const order = this.o.shuffle ? getShuffleIdx(this.o.seed + epoch, this.size) : Array.from({ length: this.size }, (_, i) => i);
    const total = Math.ceil(this.size / this.o.worldSize) * this.o.worldSize;
    const padded = order.concat(Array.from({ length: total - order.length }, (_, i) => order[i % order.length]));
    return padded.filter((_, i) => i % this.o.worldSize === this.o.rank);
  }

  private load(epoch: number): void {
    this.epoch = epoch;
    this.step = 0;
    this.epochIndices = this.indicesForEpoch(epoch);
  }

  /** Batches per epoch for this rank. */
  get batchesPerEpoch(): number {
    const n = this.epochIndices.length;
    return this.o.dropLast ? Math.floor(n / this.o.batchSize) : Math.ceil(n / this.o.batchSize);
  }

  /** The next batch, moving on to the next epoch when this one is used up. */
  next(): SampledBatch {
    if (this.step >= this.batchesPerEpoch) this.load(this.epoch + 1);
    const start = this.step * this.o.batchSize;
    const batch = { indices: this.epochIndices.slice(start, start + this.o.batchSize), epoch: this.epoch, step: this.step };
    this.step++;
    return batch;
  }

  /** All remaining batches of the current epoch. */
  *restOfEpoch(): Generator<SampledBatch> {
    while (this.step < this.batchesPerEpoch) yield this.next();
  }

  /** Whether the current epoch has no batches left. */
  get epochDone(): boolean {
    return this.step >= this.batchesPerEpoch;
  }

  state(): SamplerState {
    const { seed, shuffle, batchSize, dropLast, rank, worldSize } = this.o;
    return { size: this.size, seed, shuffle, batchSize, dropLast, epoch: this.epoch, step: this.step, rank, worldSize };
  }

  /** Continue from a saved state; the dataset and options must be the ones it was saved with. */
  static restore(state: SamplerState): BatchSampler {
    const s = new BatchSampler(state.size, state);
    s.load(state.epoch);
    if (state.step > s.batchesPerEpoch) throw new RangeError(`saved step ${state.step} is past the ${s.batchesPerEpoch} batches of an epoch`);
    s.step = state.step;
    return s;
  }
}
