// What a step hands the shared TrainingLoop (its variables, data, loss, eval, save/load) and what the loop hands back.
import type * as tf from '@tensorflow/tfjs';
import type { MetricValues } from '../metrics/metrics-logger';
import type { ProgressStream } from '../metrics/progress';
import type { Communicator } from '../dist/communicator';
import type { RankMemory, ZeroStage } from '../dist/data-parallel';
import type { Rng } from '../rng';
import type { AdamW } from '../train/adamw';
import type { OutputDirClaim } from './output-dir';
import type { LrScheduler } from '../train/lr-schedule';

/** A batch sampler that can say where it is and be rebuilt there (data's BatchSampler fits). */
export interface ResumableSampler {
  next(): { indices: number[]; epoch: number; step: number };
  readonly batchesPerEpoch: number;
  /** True when the current epoch has no batches left. */
  readonly epochDone: boolean;
  /** JSON-able; must contain the current `epoch`. */
  state(): { epoch: number };
}

/** What a step supplies to the loop: its model's variables, optimizer, data and loss. */
export interface TrainingTask<B> {
  /** Trainable variables by name: what gets gradients (the optimizer's parameters). */
  readonly variables: Map<string, tf.Variable>;
  readonly optimizer: AdamW;
  readonly scheduler: LrScheduler;
  readonly sampler: ResumableSampler;
  /** A sampler positioned at a state saved by sampler.state(). */
  restoreSampler(state: unknown): ResumableSampler;
  /** Host-side batch for these dataset indices. */
  makeBatch(indices: number[]): B;
  /** The micro-batch loss (a differentiable scalar); runs inside tf.variableGrads, which frees its temporaries. */
  loss(batch: B): tf.Scalar;
  /** Tokens the batch trains on (for tokens/s). */
  tokens(batch: B): number;
  /** Dropout etc. on (true) or off. */
  setTraining(training: boolean): void;
  /**
   * Evaluation metrics with grouped names (`eval/loss`, `eval/perplexity`); run before training, every `evalInterval`
   * optimizer steps when that is set, and after each epoch. `at` says which, for the task's own printed lines.
   */
  evaluate?(at: EvalPoint): Promise<MetricValues>;
  /** Writes the model into a checkpoint folder (an HF folder loadPretrained reads, plus anything needed to resume). */
  saveModel(dir: string): Promise<void>;
  /** Restores the model saved by saveModel. */
  loadModel(dir: string): Promise<void>;
  /** RNG streams to save and restore (e.g. the model's dropout RNG). */
  readonly rngs?: Record<string, Rng>;
  /** Step-specific JSON state for the checkpoint, and its restore. */
  extraState?(): Record<string, unknown>;
  restoreExtraState?(state: Record<string, unknown>): void;
}

export interface TrainingLoopOptions {
  /** metrics.jsonl, the run config and checkpoints/ go here. */
  outputDir: string;
  /**
   * The caller's claim on outputDir (claimOutputDir), held past the loop for the final save; the caller releases it.
   * Without one, run() claims outputDir itself and releases it when it returns.
   */
  outputDirClaim?: OutputDirClaim;
  /**
   * `--overwrite_output_dir`, for the claim run() makes itself: a previous run's checkpoints and metrics are deleted.
   * Unset: `config.overwriteOutputDir`, so a step whose config extends TrainingConfig needs to pass nothing.
   */
  overwriteOutputDir?: boolean;
  /** Names the step in the saved config and progress line, e.g. 'sft'. */
  stepName: string;
  /** The resolved config, saved beside every checkpoint. */
  config: object;
  numEpochs: number;
  gradientAccumulationSteps?: number;
  /** Global-norm clipping (DeepSpeed-Chat's gradient_clipping 1.0). */
  maxGradNorm?: number;
  /** Checkpoint every N optimizer steps; 0 = only at the end of each epoch. */
  saveSteps?: number;
  /** Keep the newest N checkpoints; 0 = all. */
  saveTotalLimit?: number;
  /** A checkpoint folder or 'latest'. */
  resumeFromCheckpoint?: string | null;
  /** Print every micro-batch loss, as DeepSpeed-Chat's --print_loss. */
  printLoss?: boolean;
  /** Folder for TensorBoard event files; null/undefined = none. */
  tensorboardDir?: string | null;
  /** Evaluate before the first step (default true; skipped when resuming). */
  evalAtStart?: boolean;
  /**
   * Also evaluate every N optimizer steps (0 or unset: never). DeepSpeed-Chat's step-2 --eval_interval counts the
   * same steps: `total_micro_steps // gradient_accumulation_steps`, checked at accumulation boundaries.
   */
  evalInterval?: number;
  /** What is evaluated, for the eval headers (DeepSpeed-Chat: `***** Evaluating reward, Epoch 1/1 *****`). */
  evalName?: string;
  /** Stop (with a checkpoint) after this many optimizer steps, as if interrupted. */
  stopAfterSteps?: number;
  /**
   * Config keys that must equal the checkpoint's for a resume to continue the same run (batch size, seed, data,
   * ...); a difference is an error naming the flag. Keys in `resumeMayChange` differing only get a note.
   */
  resumeMustMatch?: readonly string[];
  resumeMayChange?: readonly string[];
  /** Stop cleanly on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Message lines (default: stderr). */
  log?: (line: string) => void;
  /** Progress line stream (default: stderr). */
  progressStream?: ProgressStream;
  /** Called after every optimizer step (tests, custom logging). */
  onStep?: (info: StepInfo) => void;
  /**
   * The ranks of a data-parallel run (default: defaultCommunicator(): Open MPI's world under mpirun, else one process).
   * With more than one rank the task's sampler must shard the data by rank (BatchSampler's rank/worldSize).
   */
  communicator?: Communicator;
  /** DeepSpeed's ZeRO stage (0, 1, 2; 3 runs as 2). Unset: `config.zeroStage`, else 0. Only matters with several ranks. */
  zeroStage?: number;
}

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

/** When an evaluation runs: before training, at an --eval_interval step, or after an epoch. */
export interface EvalPoint {
  kind: 'start' | 'interval' | 'epoch';
  /** Optimizer steps done. */
  step: number;
  /** Epochs finished (0 = before training, or during the first epoch). */
  epoch: number;
}

export interface EvalRecord extends EvalPoint {
  metrics: MetricValues;
}

export interface TrainingResult {
  status: 'completed' | 'interrupted';
  /** Optimizer steps done (including those before a resume). */
  globalStep: number;
  totalSteps: number;
  /** Mean micro-batch loss of each optimizer step run in this process, by step. */
  losses: Map<number, number>;
  evals: EvalRecord[];
  lastCheckpoint: string | null;
  resumedFrom: string | null;
  /** Set in a data-parallel run (several ranks): the ranks, the ZeRO stage and this rank's training-state memory. */
  dataParallel?: { worldSize: number; zeroStage: ZeroStage; memory: RankMemory };
}

/** A NaN or infinite loss or gradient: the run stops before the update, so nothing broken is applied or saved. */
export class NonFiniteLossError extends Error {
  constructor(readonly step: number, readonly epoch: number, readonly microBatch: number, what: string, lastCheckpoint: string | null) {
    super(
      `${what} at step ${step} (epoch ${epoch + 1}, micro-batch ${microBatch + 1}); the update was not applied and nothing was saved. ` +
        `Lower --learning_rate, check the data, or resume from ${lastCheckpoint ?? 'an earlier checkpoint'} with --resume_from_checkpoint.`,
    );
    this.name = 'NonFiniteLossError';
  }
}
