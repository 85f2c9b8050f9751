// SftTrainer: DeepSpeed-Chat's step-1 main.py as a class (model + tokenizer set-up, AdamW groups, schedule, eval perplexity, HF save).
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import {
  AdamW, applyLora, checkMaxSeqLen, defaultCommunicator, evaluateMeanLoss, getOptimizerGroupedParameters, loadModelForTraining, loadTrainingTokenizer, LrScheduler,
  setUpGradientCheckpointing, TrainingLoop, withOutputDir, writeRunConfig, type CausalLM, type LossEvaluation, type OutputDirClaim, type ProgressStream,
  type Communicator, type StepInfo, type Tokenizer, type TrainingResult, type TrainingTask,
} from '@rlhfkit/core-tensor';
import { attendedTokens, BatchSampler, type Phase1Batch, type Phase1Item, type SamplerState, type StepDatasets } from '@rlhfkit/data';
import { resolveSftConfig, SFT_TENSORBOARD_JOB, type SftConfig } from './config';
import { evalBatches, loadSftDatasets, sftBatch, sftLoss } from './data';
import { loadCheckpointModel, saveCheckpointModel, saveFinalModel } from './model-io';

/** What a resumed run must share with the checkpoint's run to continue it exactly (data order, batches, LoRA, schedule). */
export const SFT_RESUME_MUST_MATCH: readonly (keyof SftConfig)[] = [
  'dataPath', 'dataSplit', 'sftOnlyDataPath', 'maxSeqLen', 'maskPrompt', 'padTo', 'seed', 'perDeviceTrainBatchSize',
  'gradientAccumulationSteps', 'lrSchedulerType', 'numWarmupSteps', 'loraDim', 'loraModuleName', 'onlyOptimizeLora', 'addEotToken',
];

/** AdamW betas DeepSpeed-Chat passes in every step. */
export const SFT_BETAS: [number, number] = [0.9, 0.95];

export interface SftTrainerOptions {
  /** Message lines (default: stderr). */
  log?: (line: string) => void;
  /** Progress line stream (default: stderr). */
  progressStream?: ProgressStream;
  /** Stop cleanly on Ctrl-C (default true). */
  handleSignals?: boolean;
  /** Stop (with a checkpoint) after this many optimizer steps, as if interrupted. */
  stopAfterSteps?: number;
  /** Called after every optimizer step. */
  onStep?: (info: StepInfo, trainer: SftTrainer) => void;
  /**
   * The caller's claim on --output_dir (the CLI claims it before loading anything, so a second run is refused at
   * once); without one, train() claims the folder for the run and the final save, and releases it.
   */
  outputDirClaim?: OutputDirClaim;
  /** The ranks of a data-parallel run (default: Open MPI's under mpirun, else one process). */
  communicator?: Communicator;
}

export interface SftResult extends TrainingResult {
  /** Where the final HF folder was written (null when the run stopped early). */
  savedTo: string | null;
  /** Eval perplexity before training (epoch 0) and after each epoch, from this process. */
  perplexities: { epoch: number; step: number; perplexity: number; loss: number }[];
}

/**
 * Step 1. `await SftTrainer.create(config)` loads the tokenizer (pad = eos, right padding), the model (dropout,
 * vocab resized to a multiple of 8, LoRA), the phase-1 datasets, AdamW with DeepSpeed-Chat's groups and betas
 * (0.9, 0.95), and the schedule; `train()` runs the shared TrainingLoop and saves the HF folder at the end.
 */
export class SftTrainer {
  readonly optimizer: AdamW;
  readonly scheduler: LrScheduler;
  readonly sampler: BatchSampler;
  /** The variables the optimizer updates (all, or only LoRA with --only_optimize_lora). */
  readonly trainable: Map<string, tf.Variable>;
  /** This run's ranks: each trains on its shard of the data (DeepSpeed-Chat's DistributedSampler); rank 0 saves. */
  readonly comm: Communicator;
  private readonly log: (line: string) => void;

  private constructor(
    readonly config: SftConfig,
    readonly model: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly datasets: StepDatasets<Phase1Item>,
    private readonly options: SftTrainerOptions,
  ) {
    this.log = options.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.comm = options.communicator ?? defaultCommunicator();
    const c = config;
    this.trainable = model.trainableParameters();
    const groups = getOptimizerGroupedParameters([...this.trainable.keys()], c.weightDecay, { loraLr: c.loraLearningRate });
    this.optimizer = new AdamW(groups, this.trainable, { lr: c.learningRate, betas: SFT_BETAS });
    this.sampler = new BatchSampler(datasets.train.length, { batchSize: c.perDeviceTrainBatchSize, shuffle: true, seed: c.seed, rank: this.comm.rank, worldSize: this.comm.size });
    const totalSteps = Math.ceil(this.sampler.batchesPerEpoch / c.gradientAccumulationSteps) * c.numTrainEpochs;
    this.scheduler = new LrScheduler(this.optimizer, c.lrSchedulerType, { warmupSteps: c.numWarmupSteps, totalSteps });
  }

  /** Builds everything a run needs from a (partial) config; starts the default backend unless initBackend chose one. */
  static async create(partial: Partial<SftConfig>, options: SftTrainerOptions = {}): Promise<SftTrainer> {
    const config = resolveSftConfig(partial);
    const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const tokenizer = await loadTrainingTokenizer(config.modelNameOrPath, { addEotToken: config.addEotToken, eotToken: config.eotToken });
    const model = await loadModelForTraining(config.modelNameOrPath, { tokenizer, dropout: config.dropout, seed: config.seed, log, strict: config.strict });
    try {
      checkMaxSeqLen(config.maxSeqLen, model, config.modelNameOrPath, log);
      if (config.loraDim > 0) applyLora(model, config, log);
      if (config.gradientCheckpointing) setUpGradientCheckpointing(model, log);
      const datasets = await loadSftDatasets(config, tokenizer, log);
      if (datasets.train.length === 0) throw new Error(`step 1 has no training rows from dataPath (--data_path) ${config.dataPath.join(' ')} with dataSplit (--data_split) ${config.dataSplit}; check the data and the split`);
      if (datasets.eval.length === 0) throw new Error(`step 1 has no evaluation rows from dataPath (--data_path) ${config.dataPath.join(' ')}; DeepSpeed-Chat evaluates perplexity on them`);
      return new SftTrainer(config, model, tokenizer, datasets, options);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Optimizer steps of the whole run: ceil(batches / accumulation) x epochs. */
  get totalSteps(): number {
    return Math.ceil(this.sampler.batchesPerEpoch / this.config.gradientAccumulationSteps) * this.config.numTrainEpochs;
  }

  /** DeepSpeed-Chat's evaluation(): mean eval loss over batches and its exp (perplexity); model in eval mode meanwhile. */
  evaluate(): LossEvaluation {
    const wasTraining = this.model.training;
    this.model.eval();
    try {
      const pad = this.tokenizer.padTokenId;
      return evaluateMeanLoss(evalBatches(this.datasets.eval, this.config.perDeviceEvalBatchSize, this.config, pad), (b) => sftLoss(this.model, b), this.comm);
    } finally {
      this.model.train(wasTraining);
    }
  }

  /** The TrainingTask the shared loop runs. */
  task(): TrainingTask<Phase1Batch> {
    const train = this.datasets.train;
    const pad = this.tokenizer.padTokenId;
    return {
      variables: this.trainable,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      sampler: this.sampler,
      restoreSampler: (s) => BatchSampler.restore(s as SamplerState),
      makeBatch: (indices) => sftBatch(indices.map((i) => train[i]), this.config, pad),
      loss: (batch) => sftLoss(this.model, batch),
      tokens: attendedTokens,
      setTraining: (t) => this.model.train(t),
      evaluate: async () => {
        const e = this.evaluate();
        return { 'eval/loss': e.loss, 'eval/perplexity': e.perplexity };
      },
      saveModel: (dir) => saveCheckpointModel(this.model, this.tokenizer, dir),
      loadModel: async (dir) => loadCheckpointModel(this.model, dir),
      rngs: { dropout: this.model.rng },
    };
  }

  /** Trains as configured (resuming if asked), then saves the HF folder to --output_dir when the run completed. */
  async train(): Promise<SftResult> {
    const c = this.config;
    const held = this.options.outputDirClaim;
    return withOutputDir(c.outputDir, { resume: c.resumeFromCheckpoint, overwrite: c.overwriteOutputDir, log: this.log, held }, (claim) => this.trainClaimed(claim));
  }

  private async trainClaimed(claim: OutputDirClaim): Promise<SftResult> {
    const c = this.config;
    this.log('***** Running training *****');
    const loop = new TrainingLoop(this.task(), {
      outputDir: c.outputDir,
      outputDirClaim: claim,
      stepName: 'sft',
      config: c,
      numEpochs: c.numTrainEpochs,
      gradientAccumulationSteps: c.gradientAccumulationSteps,
      maxGradNorm: c.maxGradNorm,
      saveSteps: c.saveSteps,
      saveTotalLimit: c.saveTotalLimit,
      resumeFromCheckpoint: c.resumeFromCheckpoint,
      printLoss: c.printLoss,
      tensorboardDir: c.enableTensorboard ? path.join(c.tensorboardPath, SFT_TENSORBOARD_JOB) : null,
      handleSignals: this.options.handleSignals,
      stopAfterSteps: this.options.stopAfterSteps,
      resumeMustMatch: SFT_RESUME_MUST_MATCH,
      resumeMayChange: ['numTrainEpochs', 'learningRate', 'saveSteps', 'saveTotalLimit', 'modelNameOrPath'],
      log: this.options.log,
      progressStream: this.options.progressStream,
      onStep: this.options.onStep ? (info) => this.options.onStep?.(info, this) : undefined,
      communicator: this.comm,
    });
    const result = await loop.run();
    const perplexities = result.evals.map((e) => ({ epoch: e.epoch, step: e.step, perplexity: e.metrics['eval/perplexity'], loss: e.metrics['eval/loss'] }));
    let savedTo: string | null = null;
    if (result.status === 'completed') {
      savedTo = c.outputDir;
      if (this.comm.rank === 0) {
        this.log('saving the final model ...');
        claim.check();
        await this.save(c.outputDir);
      }
    }
    return { ...result, savedTo, perplexities };
  }

  /** Writes the HF folder (LoRA fused, no LoRA tensors) with tokenizer files and the resolved config (rlhfkit_config.json). */
  async save(dir: string = this.config.outputDir): Promise<void> {
    await saveFinalModel(this.model, this.tokenizer, dir);
    writeRunConfig(dir, 'sft', this.config, { worldSize: this.comm.size });
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
