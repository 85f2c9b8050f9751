// DpoTrainer: DeepSpeed-Chat's step2_dpo_finetuning/main.py as a class (policy + frozen reference, step-2 batches, DPO loss, eval, HF save).
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import {
  AdamW, applyLora, checkMaxSeqLen, defaultCommunicator, getOptimizerGroupedParameters, loadModelForTraining, loadTrainingTokenizer, LrScheduler, readModelConfigs,
  resolveModelDir, roundUpVocab, setUpGradientCheckpointing, TrainingLoop, withOutputDir, writeRunConfig, type CausalLM, type EvalPoint, type OutputDirClaim,
  type ProgressStream, type StepInfo, type Tokenizer, type TrainingResult, type TrainingTask,
} from '@rlhfkit/core-tensor';
import { attendedTokens, BatchSampler, createStepDatasets, type Phase2Item, type SamplerState, type StepDatasets } from '@rlhfkit/data';
import { loadCheckpointModel, saveCheckpointModel, saveFinalModel } from '@rlhfkit/sft';
import { dpoTrainingLoss, makeDpoBatch, type DpoBatch } from './batch';
import { DPO_TENSORBOARD_JOB, referencePath, resolveDpoConfig, type DpoConfig } from './config';
import { dpoEvalMetrics, evaluateDpo, formatDpoEval, type DpoEvalResult } from './evaluate';

/** What a resumed run must share with the checkpoint's run to continue it exactly (data order, batches, LoRA, schedule, loss). */
export const DPO_RESUME_MUST_MATCH: readonly (keyof DpoConfig)[] = [
  'dataPath', 'dataSplit', 'maxSeqLen', 'padTo', 'seed', 'perDeviceTrainBatchSize', 'gradientAccumulationSteps', 'lrSchedulerType',
  'numWarmupSteps', 'loraDim', 'loraModuleName', 'onlyOptimizeLora', 'addEotToken', 'eotToken', 'beta', 'labelSmoothing',
];

/**
 * Both models get the policy's tokenizer and are resized to it (as create_hf_model does), so a reference from another
 * tokenizer would be silently wrong: their config.json vocab sizes, rounded up to a multiple of 8, must agree.
 */
function checkSameVocabulary(policyDir: string, referenceDir: string): void {
  const vocab = (d: string): number => roundUpVocab(Number(readModelConfigs(resolveModelDir(d)).raw.vocab_size));
  const [p, r] = [vocab(policyDir), vocab(referenceDir)];
  if (p !== r) {
    throw new Error(
      `the reference ${referenceDir} has a ${r}-token vocabulary but the policy ${policyDir} has ${p}; DPO compares their log-probs of the ` +
        "same tokens, so use a reference with the policy's tokenizer (by default the reference is --model_name_or_path itself)",
    );
  }
}

/** AdamW betas DeepSpeed-Chat's DPO main.py passes. */
export const DPO_BETAS: [number, number] = [0.9, 0.95];

export interface DpoTrainerOptions {
  /** Message lines (default: stderr). */
  log?: (line: string) => void;
  /** Progress line stream (default: stderr). */
  progressStream?: ProgressStream;
  /** Stop cleanly on Ctrl-C (default true). */
  handleSignals?: boolean;
  /** Stop (with a checkpoint) after this many optimizer steps, as if interrupted. */
  stopAfterSteps?: number;
  /** Called after every optimizer step. */
  onStep?: (info: StepInfo, trainer: DpoTrainer) => void;
  /**
   * The caller's claim on --output_dir (the CLI claims it before loading anything, so a second run is refused at
   * once); without one, train() claims the folder for the run and the final save, and releases it.
   */
  outputDirClaim?: OutputDirClaim;
}

export interface DpoEvalPoint extends EvalPoint {
  result: DpoEvalResult;
}

export interface DpoResult extends TrainingResult {
  /** Where the final HF folder was written (null when the run stopped early). */
  savedTo: string | null;
  /** Every evaluation of this process, in order: before training, at --eval_interval steps, after each epoch. */
  dpoEvals: DpoEvalPoint[];
}

/**
 * DPO. `await DpoTrainer.create(config)` loads the tokenizer (pad = eos, right padding, as step 1), the policy (dropout,
 * vocab resized to a multiple of 8, LoRA, gradient checkpointing) and the frozen reference (the same folder unless
 * --reference_model_name_or_path, always in eval mode), the phase-2 datasets, AdamW with DeepSpeed-Chat's groups and
 * betas (0.9, 0.95), and the schedule; `train()` runs the shared TrainingLoop and saves the policy as an HF folder.
 */
export class DpoTrainer {
  readonly optimizer: AdamW;
  readonly scheduler: LrScheduler;
  readonly sampler: BatchSampler;
  /** The variables the optimizer updates (all of the policy's, or only LoRA with --only_optimize_lora). */
  readonly trainable: Map<string, tf.Variable>;
  private readonly log: (line: string) => void;
  private readonly evals: DpoEvalPoint[] = [];

  private constructor(
    readonly config: DpoConfig,
    readonly policy: CausalLM,
    readonly reference: CausalLM,
    readonly tokenizer: Tokenizer,
    readonly datasets: StepDatasets<Phase2Item>,
    private readonly options: DpoTrainerOptions,
  ) {
    this.log = options.log ?? ((l) => process.stderr.write(`${l}\n`));
    const c = config;
    this.trainable = policy.trainableParameters();
    const groups = getOptimizerGroupedParameters([...this.trainable.keys()], c.weightDecay, { loraLr: c.loraLearningRate });
    this.optimizer = new AdamW(groups, this.trainable, { lr: c.learningRate, betas: DPO_BETAS });
    // Data parallel under mpirun: each rank its shard (DistributedSampler), rank 0 saves; evaluation runs whole on every rank.
    const comm = defaultCommunicator();
    this.sampler = new BatchSampler(datasets.train.length, { batchSize: c.perDeviceTrainBatchSize, shuffle: true, seed: c.seed, rank: comm.rank, worldSize: comm.size });
    this.scheduler = new LrScheduler(this.optimizer, c.lrSchedulerType, { warmupSteps: c.numWarmupSteps, totalSteps: this.totalSteps });
  }

  /** Builds everything a run needs from a (partial) config; starts the default backend unless initBackend chose one. */
  static async create(partial: Partial<DpoConfig>, options: DpoTrainerOptions = {}): Promise<DpoTrainer> {
    const c = resolveDpoConfig(partial);
    const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const tokenizer = await loadTrainingTokenizer(c.modelNameOrPath, { addEotToken: c.addEotToken, eotToken: c.eotToken });
    if (tokenizer.padTokenId === undefined) throw new Error(`${c.modelNameOrPath}: the tokenizer has no pad token after DeepSpeed-Chat's set-up; DPO's label mask needs one`);
    checkSameVocabulary(c.modelNameOrPath, referencePath(c));
    const policy = await loadModelForTraining(c.modelNameOrPath, { tokenizer, dropout: c.dropout, seed: c.seed, log, strict: c.strict });
    let reference: CausalLM | null = null;
    try {
      checkMaxSeqLen(c.maxSeqLen, policy, c.modelNameOrPath, log);
      // DeepSpeed-Chat builds the reference with the same create_hf_model call (same tokenizer, same --dropout) and ref_model.eval().
      reference = await loadModelForTraining(referencePath(c), { tokenizer, dropout: c.dropout, seed: c.seed, trainable: false, log, strict: c.strict });
      reference.eval();
      checkMaxSeqLen(c.maxSeqLen, reference, referencePath(c), log);
      if (c.loraDim > 0) applyLora(policy, c, log);
      if (c.gradientCheckpointing) setUpGradientCheckpointing(policy, log);
      const datasets = await createStepDatasets({
        phase: 2,
        dataPath: c.dataPath,
        dataSplit: c.dataSplit,
        dataDir: c.dataDir,
        seed: c.seed,
        tokenizer,
        tokenizerName: c.modelNameOrPath,
        maxSeqLen: c.maxSeqLen,
        dataOutputPath: c.dataOutputPath || undefined,
        endOfConversationToken: c.eotToken,
        log,
      });
      if (datasets.train.length === 0) throw new Error(`DPO has no training pairs from dataPath (--data_path) ${c.dataPath.join(' ')} with dataSplit (--data_split) ${c.dataSplit}; check the data and the split (phase 2's share)`);
      if (datasets.eval.length === 0) throw new Error(`DPO has no evaluation pairs from dataPath (--data_path) ${c.dataPath.join(' ')}; DeepSpeed-Chat evaluates the rewards on them`);
      return new DpoTrainer(c, policy, reference, tokenizer, datasets, options);
    } catch (e) {
      policy.dispose();
      reference?.dispose();
      throw e;
    }
  }

  /** Optimizer steps of the whole run: ceil(batches / accumulation) x epochs. */
  get totalSteps(): number {
    return Math.ceil(this.sampler.batchesPerEpoch / this.config.gradientAccumulationSteps) * this.config.numTrainEpochs;
  }

  get padTokenId(): number {
    return this.tokenizer.padTokenId as number;
  }

  /** DeepSpeed-Chat's evaluation(): rewards, loss and accuracy over the eval split; the policy's mode is restored. */
  evaluate(): DpoEvalResult {
    const c = this.config;
    return evaluateDpo(this.policy, this.reference, this.datasets.eval, {
      batchSize: c.perDeviceEvalBatchSize, padTokenId: this.padTokenId, maxSeqLen: c.maxSeqLen, beta: c.beta, labelSmoothing: c.labelSmoothing,
    });
  }

  /** A training micro-batch (the reference's log-probs included) for these train-set indices. */
  makeBatch(indices: readonly number[]): DpoBatch {
    const c = this.config;
    return makeDpoBatch(indices.map((i) => this.datasets.train[i]), this.reference, { padTokenId: this.padTokenId, maxSeqLen: c.maxSeqLen, padTo: c.padTo });
  }

  /** The TrainingTask the shared loop runs. */
  task(): TrainingTask<DpoBatch> {
    const c = this.config;
    return {
      variables: this.trainable,
      optimizer: this.optimizer,
      scheduler: this.scheduler,
      sampler: this.sampler,
      restoreSampler: (s) => BatchSampler.restore(s as SamplerState),
      makeBatch: (indices) => this.makeBatch(indices),
      loss: (batch) => dpoTrainingLoss(this.policy, batch, c),
      tokens: attendedTokens,
      setTraining: (t) => void this.policy.train(t),
      evaluate: async (at) => {
        const result = this.evaluate();
        this.evals.push({ ...at, result });
        this.log(formatDpoEval(result));
        return dpoEvalMetrics(result);
      },
      saveModel: (dir) => saveCheckpointModel(this.policy, this.tokenizer, dir),
      loadModel: async (dir) => loadCheckpointModel(this.policy, dir),
      rngs: { dropout: this.policy.rng },
    };
  }

  /** Trains as configured (resuming if asked), then saves the policy's HF folder to --output_dir when the run completed. */
  async train(): Promise<DpoResult> {
    const c = this.config;
    const held = this.options.outputDirClaim;
    return withOutputDir(c.outputDir, { resume: c.resumeFromCheckpoint, overwrite: c.overwriteOutputDir, log: this.log, held }, (claim) => this.trainClaimed(claim));
  }

  private async trainClaimed(claim: OutputDirClaim): Promise<DpoResult> {
    const c = this.config;
    this.log('***** Running training *****');
    const loop = new TrainingLoop(this.task(), {
      outputDir: c.outputDir,
      outputDirClaim: claim,
      stepName: 'dpo',
      config: c,
      numEpochs: c.numTrainEpochs,
      gradientAccumulationSteps: c.gradientAccumulationSteps,
      maxGradNorm: c.maxGradNorm,
      saveSteps: c.saveSteps,
      saveTotalLimit: c.saveTotalLimit,
      resumeFromCheckpoint: c.resumeFromCheckpoint,
      printLoss: c.printLoss,
      evalInterval: c.evalInterval,
      evalName: 'rewards',
      tensorboardDir: c.enableTensorboard ? path.join(c.tensorboardPath, DPO_TENSORBOARD_JOB) : null,
      handleSignals: this.options.handleSignals,
      stopAfterSteps: this.options.stopAfterSteps,
      resumeMustMatch: DPO_RESUME_MUST_MATCH,
      resumeMayChange: ['numTrainEpochs', 'learningRate', 'saveSteps', 'saveTotalLimit', 'evalInterval', 'modelNameOrPath', 'referenceModelNameOrPath'],
      log: this.options.log,
      progressStream: this.options.progressStream,
      onStep: this.options.onStep ? (info) => this.options.onStep?.(info, this) : undefined,
    });
    const first = this.evals.length;
    const result = await loop.run();
    let savedTo: string | null = null;
    if (result.status === 'completed') {
      savedTo = c.outputDir;
      if (defaultCommunicator().rank === 0) {
        this.log('saving the final model ...');
        claim.check();
        await this.save(c.outputDir);
      }
    }
    return { ...result, savedTo, dpoEvals: this.evals.slice(first) };
  }

  /** Writes the policy's HF folder (LoRA fused, no LoRA tensors) with tokenizer files and the resolved config (rlhfkit_config.json). */
  async save(dir: string = this.config.outputDir): Promise<void> {
    await saveFinalModel(this.policy, this.tokenizer, dir);
    writeRunConfig(dir, 'dpo', this.config);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.policy.dispose();
    this.reference.dispose();
  }
}
