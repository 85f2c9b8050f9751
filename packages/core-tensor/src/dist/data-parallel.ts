// Data parallelism for one optimizer: parameters broadcast from rank 0, gradients averaged with one all-reduce per step, ZeRO 1/2.
import * as tf from '@tensorflow/tfjs';
import type { AdamW, AdamWStateDict } from '../train/adamw';
import { clipGradNorm } from '../train/grad-clip';
import type { Communicator } from './communicator';
import { flatLayout, packFlat, scaleInPlace, ZeroShard, type FlatEntry } from './zero';

/** DeepSpeed's ZeRO stages that rlhfkit runs: 0 (replicated state), 1 (sharded AdamW state), 2 (+ sharded gradients). */
export type ZeroStage = 0 | 1 | 2;

/**
 * `--zero_stage N` as rlhfkit runs it, with the line to print when it differs from what was asked (stage 3; any stage in
 * one process, where there is nothing to shard).
 */
export function resolveZeroStage(asked: number | null | undefined, worldSize: number): { stage: ZeroStage; note: string | null } {
  const n = asked ?? 0;
  if (n === 3) {
    return {
      stage: worldSize > 1 ? 2 : 0,
      note: '--zero_stage 3: not supported; stage 3 also partitions the parameters and gathers each layer before use, which rlhfkit does not do. ' +
        (worldSize > 1 ? 'Running stage 2 (optimizer state and gradients sharded, parameters replicated).' : 'One process holds everything (stage 0).'),
    };
  }
  if ((n === 1 || n === 2) && worldSize <= 1) {
    return {
      stage: 0,
      note: `--zero_stage ${n}: one process holds everything (stage 0); ZeRO shards the optimizer state${n === 2 ? ' and gradients' : ''} across the ranks of a data-parallel run (mpirun -np N rlhfkit ..., or rlhfkit launch).`,
    };
  }
  return { stage: n === 1 || n === 2 ? n : 0, note: null };
}

/** What one data-parallel optimizer step reports. */
export interface DataParallelStepResult {
  /** The global gradient norm before clipping (of the averaged gradient). */
  totalNorm: number;
  /** False when the norm is NaN/Inf: nothing was applied, on any rank. */
  finite: boolean;
  /** Seconds spent in the gradient collectives. */
  commSeconds: number;
}

/** Memory a rank holds for one model's training state, in bytes (the figures a `--zero_stage` choice changes). */
export interface RankMemory {
  parameters: number;
  /** Gradients kept past the collective (stage 2: this rank's slice only). */
  reducedGradients: number;
  /** AdamW's moments (stage 1/2: this rank's slice, plus the float32 slice of the parameters it updates). */
  optimizer: number;
}

/**
 * Wraps one AdamW and its variables for a data-parallel run. `step()` replaces `clipGradNorm + optimizer.step` at an
 * accumulation boundary; the caller steps its scheduler as before (it drives `optimizer`'s learning rate, which ZeRO
 * copies into its shards). With one rank nothing is exchanged and the numbers are stage 0's.
 */
export class DataParallel {
  private readonly layout: { entries: FlatEntry[]; total: number };
  private readonly shard: ZeroShard | null;

  constructor(
    readonly comm: Communicator,
    private readonly variables: Map<string, tf.Variable>,
    private readonly optimizer: AdamW,
    readonly stage: ZeroStage = 0,
  ) {
    this.layout = flatLayout(variables);
    this.shard = stage > 0 && comm.size > 1 ? new ZeroShard(comm, variables, optimizer, stage as 1 | 2) : null;
  }

  /** Rank 0's parameter values on every rank (DeepSpeed's broadcast at engine start). */
  broadcastParameters(): void {
    if (this.comm.size === 1) return;
    const { entries, total } = this.layout;
    const buf = this.comm.rank === 0 ? packFlat(entries, total, (n) => this.variables.get(n)) : new Float32Array(total);
    this.comm.broadcast(buf, 0);
    if (this.comm.rank === 0) return;
    for (const e of entries) {
      const v = this.variables.get(e.name) as tf.Variable;
      tf.tidy(() => v.assign(tf.tensor(buf.slice(e.offset, e.offset + e.size), e.shape, 'float32')));
    }
  }

  /**
   * Averages the accumulated `grads` over the ranks, clips them by their global norm and applies AdamW (ZeRO: each
   * rank its slice, then an all-gather). Entries of `grads` may be replaced (the caller still frees the map). Every rank
   * gets the same norm, so a non-finite one stops all of them together.
   */
  step(grads: Map<string, tf.Tensor>, maxGradNorm: number): DataParallelStepResult {
    const stats = (this.comm as { stats?: { seconds: number } }).stats;
    const before = stats?.seconds ?? 0;
    const res = this.shard ? this.shard.step(grads, maxGradNorm) : this.stepReplicated(grads, maxGradNorm);
    return { ...res, commSeconds: (stats?.seconds ?? 0) - before };
  }

  private stepReplicated(grads: Map<string, tf.Tensor>, maxGradNorm: number): { totalNorm: number; finite: boolean } {
    if (this.comm.size > 1) {
      const { entries, total } = this.layout;
      const buf = packFlat(entries, total, (n) => grads.get(n));
      this.comm.allReduce(buf, 'sum');
      scaleInPlace(buf, 1 / this.comm.size);
      for (const e of entries) {
        grads.get(e.name)?.dispose();
        grads.set(e.name, tf.tensor(buf.slice(e.offset, e.offset + e.size), e.shape, 'float32'));
      }
    }
    const clip = clipGradNorm(grads, maxGradNorm);
    if (!clip.finite) return { totalNorm: clip.totalNorm, finite: false };
    this.optimizer.step(grads);
    return { totalNorm: clip.totalNorm, finite: true };
  }

  /** The whole AdamW state (ZeRO: gathered from every rank, so every rank must call this together). */
  optimizerState(): AdamWStateDict {
    return this.shard ? this.shard.stateDict() : this.optimizer.stateDict();
  }

  /** Restores a whole AdamW state (ZeRO: each rank keeps its slice). */
  loadOptimizerState(sd: AdamWStateDict): void {
    if (this.shard) this.shard.loadStateDict(sd);
    else this.optimizer.loadStateDict(sd);
  }

  /** This rank's memory for the model's training state (float32), by what each ZeRO stage shards. */
  memory(): RankMemory {
    const n = this.layout.total;
    const w = this.comm.size;
    const slice = this.shard ? this.shard.hi - this.shard.lo : n;
    return {
      parameters: n * 4,
      reducedGradients: (this.stage === 2 && w > 1 ? slice : n) * 4,
      optimizer: this.shard ? this.shard.stateBytes() : n * 8,
    };
  }

  dispose(): void {
    this.shard?.dispose();
  }
}
