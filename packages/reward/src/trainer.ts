// RewardTrainer: DeepSpeed-Chat step 2 (main.py) on rlhfkit's shared training loop: data, model, LoRA, optimizer, eval, save.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW, applyLora, assignWeights, checkMaxSeqLen, defaultCommunicator, findWeightsFile, getOptimizerGroupedParameters, loadLoraResume, loadModelForTraining, loadStateDict,
  LrScheduler, readModelConfigs, resolveModelDir, saveLoraResume, setUpGradientCheckpointing, TrainingLoop, withOutputDir, writeRunConfig, type MetricValues,
  type Communicator, type OutputDirClaim, type ProgressStream, type StepInfo, type TrainingResult, type TrainingTask,
} from '@rlhfkit/core-tensor';
import { attendedTokens, BatchSampler, collatePhase2, createStepDatasets, type Phase2Batch, type Phase2Item, type SamplerState } from '@rlhfkit/data';
import { resolveRewardConfig, type RewardConfig } from './config';
import { evaluateReward, type RewardEvalResult } from './evaluate';
import { rewardModelFromLoadedBody } from './load';
import { rewardLoss } from './loss';
import { readRewardConfigBlock, V_HEAD_KEY } from './reward-config';
import type { RewardModel } from './reward-model';
import { detectNumPaddingAtBeginning, loadRewardTokenizer, type RewardTokenizer } from './tokenizer-setup';

/** DeepSpeed-Chat's step-2 TensorBoard job name (tb_name "step2_model"): events go to <tensorboard_path>/step2_model_tensorboard. */
export const REWARD_TENSORBOARD_JOB = 'step2_model_tensorboard';

export interface RewardTrainerOptions {
  /** Message lines (default stderr). */
  log?: (line: string) => void;
  /** Stop after this many optimizer steps as if interrupted (tests). */
  stopAfterSteps?: number;
  /** Called after every optimizer step. */
  onStep?: (info: StepInfo, trainer: RewardTrainer) => void;
  /** Handle SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
  /** Progress line stream (default stderr). */
  progressStream?: ProgressStream;
  /**
   * The caller's claim on --output_dir (the CLI claims it before loading anything); without one, train() claims the
   * folder for the run and the final save, and releases it.
   */
  outputDirClaim?: OutputDirClaim;
  /** The ranks of a data-parallel run (default: Open MPI's under mpirun, else one process). */
  communicator?: Communicator;
}

export interface RewardTrainResult extends TrainingResult {
  /** Every evaluation, in order: before training, at each --eval_interval, after each epoch. */
  rewardEvals: { step: number; result: RewardEvalResult }[];
  /** Where the final model was saved, or null without --output_dir. */
  savedTo: string | null;
}

/** The eval metrics under grouped names. */
function evalMetrics(r: RewardEvalResult): MetricValues {
  return {
    'eval/acc': r.acc,
    'eval/chosen_score': r.chosenScore,
    'eval/rejected_score': r.rejectedScore,
    'eval/score_diff': r.chosenScore - r.rejectedScore,
    'eval/loss': r.loss,
  };
}

/**
 * Step 2 of RLHF: trains a pairwise reward model. Build with `RewardTrainer.create(config, options)` (loads tokenizer,
 * data and model; the options as every rlhfkit trainer takes them), then train(); the model is at trainer.model.
 * Mirrors DeepSpeed-Chat's main.py: evaluation before training, every --eval_interval steps and after each epoch;
 * AdamW(0.9, 0.95) with DeepSpeed-Chat's parameter groups; the value head is a fresh nn.Linear-initialised head unless
 * the model folder (or --value_head) has one.
 */
export class RewardTrainer {
  readonly evals: { step: number; result: RewardEvalResult }[] = [];
  private readonly log: (line: string) => void;
  /** This run's ranks (set by train(); evaluate() shards over them). */
  private comm: Communicator | null = null;

  private constructor(
    readonly config: RewardConfig,
    readonly model: RewardModel,
    readonly tok: RewardTokenizer,
    readonly trainItems: Phase2Item[],
    readonly evalItems: Phase2Item[],
    private readonly options: RewardTrainerOptions,
  ) {
    this.log = options.log ?? ((l) => process.stderr.write(`${l}\n`));
  }

  /** Builds everything a run needs from a (partial) config; `options` are kept for train(). */
  static async create(config: Partial<RewardConfig> & { modelNameOrPath: string }, options: RewardTrainerOptions = {}): Promise<RewardTrainer> {
    const c = resolveRewardConfig(config);
    const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    const dir = resolveModelDir(c.modelNameOrPath);
    const { configFile, raw } = readModelConfigs(dir);
    const saved = readRewardConfigBlock(raw, configFile);
    const tok = await loadRewardTokenizer(dir, String(raw.model_type), {
      addEotToken: c.addEotToken,
      eotToken: c.eotToken,
      padTokenId: saved?.pad_token_id,
    });
    log(`tokenizer: ${tok.note}`);
    const npb = c.numPaddingAtBeginning ?? saved?.num_padding_at_beginning ?? (await detectNumPaddingAtBeginning(tok.tokenizer, tok.padTokenId));
    log(`num_padding_at_beginning: ${npb}${c.numPaddingAtBeginning === null ? ' (detected: rows start with that many pad-id tokens)' : ''}`);

    const data = await createStepDatasets({
      phase: 2,
      dataPath: c.dataPath,
      dataSplit: c.dataSplit,
      dataDir: c.dataDir,
      seed: c.seed,
      tokenizer: tok.tokenizer,
      tokenizerName: c.modelNameOrPath,
      maxSeqLen: c.maxSeqLen,
      dataOutputPath: c.dataOutputPath || undefined,
      endOfConversationToken: c.eotToken,
      log,
    });
    if (data.train.length === 0) {
      throw new Error(`dataPath (--data_path) ${c.dataPath.join(' ')}: phase 2 got no training pairs; check dataSplit (--data_split ${c.dataSplit})`);
    }

    const body = await loadModelForTraining(dir, { tokenizer: tok.tokenizer, dropout: c.dropout, bodyOnly: true, seed: c.seed, log, strict: c.strict });
    try {
      checkMaxSeqLen(c.maxSeqLen, body, c.modelNameOrPath, log);
    } catch (e) {
      body.dispose();
      throw e;
    }
    const model = rewardModelFromLoadedBody(body, dir, {
      valueHead: c.valueHead ?? undefined,
      initValueHead: c.initValueHead,
      seed: c.seed,
      padTokenId: tok.padTokenId,
      numPaddingAtBeginning: npb,
    });
    try {
      if (c.loraDim > 0) {
        applyLora(model.body, c, log);
        // DeepSpeed-Chat's step 2 force-optimizes v_head.weight next to the LoRA weights.
        if (c.onlyOptimizeLora) model.vHead.trainable = true;
      }
      if (c.gradientCheckpointing) setUpGradientCheckpointing(model.body, log);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return new RewardTrainer(c, model, tok, data.train, data.eval, options);
  }

  /** evaluation_reward over the eval split (at most --eval_iters batches). */
  evaluate(): RewardEvalResult {
    return evaluateReward(this.model, this.evalItems, {
      batchSize: this.config.perDeviceEvalBatchSize,
      evalIters: this.config.evalIters,
      padTokenId: this.model.padTokenId,
      maxSeqLen: this.config.maxSeqLen,
      comm: this.comm ?? undefined,
    });
  }

  private makeBatch(indices: number[]): Phase2Batch {
    return collatePhase2(
      indices.map((i) => this.trainItems[i]),
      { padTokenId: this.model.padTokenId, maxSeqLen: this.config.maxSeqLen, padTo: this.config.padTo },
    );
  }

  /** Trains for numTrainEpochs, then saves the model to outputDir (when given), with the options given to create(). */
  async train(): Promise<RewardTrainResult> {
    const c = this.config;
    const opts = this.options;
    const log = this.log;
    const outputDir = c.outputDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-reward-run-'));
    try {
      const claiming = { resume: c.resumeFromCheckpoint, overwrite: c.overwriteOutputDir, log, held: opts.outputDirClaim };
      return await withOutputDir(outputDir, claiming, (claim) => this.trainClaimed(opts, outputDir, claim));
    } finally {
      if (!c.outputDir) fs.rmSync(outputDir, { recursive: true, force: true });
    }
  }

  private async trainClaimed(opts: RewardTrainerOptions, outputDir: string, claim: OutputDirClaim): Promise<RewardTrainResult> {
    const c = this.config;
    const log = opts.log ?? this.log;
    const comm = (this.comm = opts.communicator ?? defaultCommunicator());
    const params = this.model.trainableParameters();
    const groups = getOptimizerGroupedParameters([...params.keys()], c.weightDecay, { loraLr: c.loraLearningRate });
    const optimizer = new AdamW(groups, params, { lr: c.learningRate, betas: [0.9, 0.95] });
    let sampler = new BatchSampler(this.trainItems.length, { batchSize: c.perDeviceTrainBatchSize, shuffle: true, seed: c.seed, rank: comm.rank, worldSize: comm.size });
    const totalSteps = Math.ceil(sampler.batchesPerEpoch / c.gradientAccumulationSteps) * c.numTrainEpochs;
    const scheduler = new LrScheduler(optimizer, c.lrSchedulerType, { warmupSteps: c.numWarmupSteps, totalSteps });
    const model = this.model;

    const task: TrainingTask<Phase2Batch> = {
      variables: params,
      optimizer,
      scheduler,
      sampler,
      restoreSampler: (state) => (sampler = BatchSampler.restore(state as SamplerState)),
      makeBatch: (indices) => this.makeBatch(indices),
      loss: (batch) => rewardLoss(model, { inputIds: batch.inputIds, attentionMask: batch.attentionMask }),
      tokens: attendedTokens,
      setTraining: (t) => void model.train(t),
      evaluate: async (at) => {
        const r = this.evaluate();
        this.evals.push({ step: at.step, result: r });
        // DeepSpeed-Chat's main.py prints the interval and the epoch evaluations differently.
        log(
          at.kind === 'interval'
            ? `Iter ${at.step}: c_scores: ${r.chosenScore}, r_scores: ${r.rejectedScore}, diff: ${r.chosenScore - r.rejectedScore}, acc: ${r.acc}`
            : `chosen_last_scores (higher is better) : ${r.chosenScore}, rejected_last_scores (lower is better) : ${r.rejectedScore}, acc (higher is better) : ${r.acc}`,
        );
        return evalMetrics(r);
      },
      saveModel: (dir) => this.saveCheckpointModel(dir),
      loadModel: async (dir) => this.loadCheckpointModel(dir),
      rngs: { dropout: model.body.rng },
    };
    const loop = new TrainingLoop(task, {
      outputDir,
      outputDirClaim: claim,
      stepName: 'reward',
      config: c,
      numEpochs: c.numTrainEpochs,
      gradientAccumulationSteps: c.gradientAccumulationSteps,
      maxGradNorm: c.maxGradNorm,
      saveSteps: c.outputDir ? c.saveSteps : 0,
      saveTotalLimit: c.saveTotalLimit,
      resumeFromCheckpoint: c.resumeFromCheckpoint,
      printLoss: c.printLoss,
      evalInterval: c.evalInterval,
      evalName: 'reward',
      tensorboardDir: c.enableTensorboard ? path.join(c.tensorboardPath, REWARD_TENSORBOARD_JOB) : null,
      stopAfterSteps: opts.stopAfterSteps,
      handleSignals: opts.handleSignals,
      progressStream: opts.progressStream,
      log: opts.log,
      onStep: opts.onStep ? (info) => opts.onStep?.(info, this) : undefined,
      communicator: comm,
    });
    let result: TrainingResult;
    try {
      result = await loop.run();
    } finally {
      optimizer.dispose();
    }
    let savedTo: string | null = null;
    if (c.outputDir && result.status === 'completed') {
      savedTo = c.outputDir;
      if (comm.rank === 0) {
        log('saving model ...');
        claim.check();
        await this.model.save(c.outputDir, { tokenizer: this.tok.tokenizer });
        writeRunConfig(c.outputDir, 'reward', c, { worldSize: comm.size });
      }
    }
    return { ...result, rewardEvals: this.evals.slice(), savedTo };
  }

  /**
   * A checkpoint: the same folder as the final save (LoRA fused, v_head, reward config; loadRewardModel reads it) plus,
   * for LoRA runs, the resume-only LoRA file (as step 1), so a resume is exact.
   */
  private async saveCheckpointModel(dir: string): Promise<void> {
    await this.model.save(dir, { tokenizer: this.tok.tokenizer });
    saveLoraResume(this.model.body, dir);
  }

  /** Puts a checkpoint's weights back into the model built with the same flags. */
  private loadCheckpointModel(dir: string): void {
    const m = this.model;
    const file = findWeightsFile(dir).file;
    const sd = loadStateDict(file);
    assignWeights(m.body, sd, file);
    const head = sd.get(V_HEAD_KEY);
    if (!head || head.shape.join(',') !== `1,${m.vHead.shape[0]}`) throw new Error(`${file}: no '${V_HEAD_KEY}' of shape [1, ${m.vHead.shape[0]}]; the checkpoint is not from this reward model`);
    tf.tidy(() => m.vHead.assign(tf.tensor2d(head.data as Float32Array, [m.vHead.shape[0], 1])));
    loadLoraResume(m.body, dir);
  }

  dispose(): void {
    this.model.dispose();
  }
}
