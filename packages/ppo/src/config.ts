// PpoConfig: every step-3 setting under DeepSpeed-Chat's names (camelCase here, snake_case flags), defaults in one place, validated.
import { checkFlag, FlagError, SCHEDULE_NAMES, type ScheduleName } from '@rlhfkit/core-tensor';
import { parseDataSplit } from '@rlhfkit/data';

export const ADVANTAGE_ESTIMATORS = ['gae', 'grpo', 'rloo', 'reinforce_baseline'] as const;
export type AdvantageEstimator = (typeof ADVANTAGE_ESTIMATORS)[number];

/** Where the roles live: all in this heap, or each in its own worker thread with its own backend and heap; auto picks by size. */
export const PLACEMENTS = ['auto', 'colocated', 'per_role'] as const;
export type Placement = (typeof PLACEMENTS)[number];

export const FROZEN_DTYPES = ['fp32', 'bf16'] as const;
export type FrozenDtype = (typeof FROZEN_DTYPES)[number];

/** Step 3's settings: DeepSpeed-Chat's step3 main.py flags plus rlhfkit's additions (all off by default). */
export interface PpoConfig {
  // ---- data
  dataPath: string[];
  dataSplit: string;
  dataOutputPath: string;
  /** Folder with train.json/eval.json for local/jsonfile (an rlhfkit addition). */
  dataDir: string;
  /** A local text dataset (file or folder) for unsupervised mixing, or null. */
  unsupervisedDatasetName: string | null;
  unsupervisedDatasetConfigName: string | null;
  /** γ of InstructGPT's eq. 2: the unsupervised loss's weight. */
  unsupCoef: number;
  maxPromptSeqLen: number;
  maxAnswerSeqLen: number;
  addEotToken: boolean;
  eotToken: string;
  /** Prompts padded to the batch's longest ('longest', same maths, faster) or to --max_prompt_seq_len (DeepSpeed-Chat). */
  padTo: 'longest' | 'max_length';
  // ---- models
  actorModelNameOrPath: string;
  criticModelNameOrPath: string;
  /** Only the critic's pairwise loss reads it (never used in step 3); null: the value saved with the reward model. */
  numPaddingAtBeginning: number | null;
  actorDropout: number | null;
  criticDropout: number | null;
  actorGradientCheckpointing: boolean;
  criticGradientCheckpointing: boolean;
  /** `--strict`: checkpoint tensors a model does not use are an error instead of a warning. */
  strict: boolean;
  // ---- batches and schedule
  perDeviceGenerationBatchSize: number;
  perDeviceTrainingBatchSize: number;
  generationBatches: number;
  ppoEpochs: number;
  numTrainEpochs: number;
  gradientAccumulationSteps: number;
  actorLearningRate: number;
  criticLearningRate: number;
  actorWeightDecay: number;
  criticWeightDecay: number;
  lrSchedulerType: ScheduleName;
  numWarmupSteps: number;
  seed: number;
  /** ds_config gradient_clipping (DeepSpeed-Chat: 1.0 for both engines). */
  maxGradNorm: number;
  // ---- LoRA
  actorLoraDim: number;
  actorLoraModuleName: string;
  criticLoraDim: number;
  criticLoraModuleName: string;
  onlyOptimizeLora: boolean;
  actorLoraLearningRate: number;
  criticLoraLearningRate: number;
  // ---- EMA
  enableEma: boolean;
  /** moving_average's beta (DeepSpeed-Chat hard-codes 0.992). */
  emaBeta: number;
  // ---- output, checkpoints, logging
  outputDir: string;
  /** A fresh run may replace a previous run's checkpoints and metrics in --output_dir (transformers' flag). */
  overwriteOutputDir: boolean;
  /** Save a resumable checkpoint every N steps (prompt batches; at the next training-round end); 0 = only at the end. */
  saveSteps: number;
  saveTotalLimit: number;
  resumeFromCheckpoint: string | null;
  enableTensorboard: boolean;
  tensorboardPath: string;
  printAnswers: boolean;
  printAnswersInterval: number;
  /** DeepSpeed-Chat's test mode: stop after --test_stop_step steps. */
  enableTestMode: boolean;
  testStopStep: number;
  /** Stop after this many steps (prompt batches), saving as at the end; null = no limit (an rlhfkit flag). */
  maxSteps: number | null;
  // ---- PPO maths (DeepSpeed-Chat's constants, as flags)
  klCtl: number;
  clipRewardValue: number;
  cliprange: number;
  cliprangeValue: number;
  gamma: number;
  lam: number;
  // ---- beyond DeepSpeed-Chat (off by default)
  /** Adaptive KL controller (Ziegler et al.): the KL per answer it steers to; null = fixed --kl_ctl. */
  klTarget: number | null;
  klHorizon: number;
  /** Whiten the reward scores over each generation batch before they enter the rewards. */
  whitenRewards: boolean;
  /** Whiten the advantages over each micro-batch's answer tokens. */
  whitenAdvantages: boolean;
  /** Subtracted from the score of an answer that never emitted EOS within --max_answer_seq_len (TRL's missing_eos_penalty); null = none. */
  eosPenalty: number | null;
  /** Sampling for rollouts; null keeps the model's generation_config (DeepSpeed-Chat: greedy for OPT, forced greedy for LLaMA). */
  doSample: boolean | null;
  temperature: number | null;
  topK: number | null;
  topP: number | null;
  repetitionPenalty: number | null;
  /** How advantages are formed: DeepSpeed-Chat's GAE with a critic, or a critic-free group estimator. */
  advantageEstimator: AdvantageEstimator;
  /** Sampled answers per prompt (group estimators need >= 2). */
  nSamplesPerPrompt: number;
  /** Put the KL to the reference in the loss (GRPO's k3 form, weight --kl_ctl) instead of in the rewards. */
  klInLoss: boolean;
  // ---- backend, placement and memory
  backend: string | null;
  threads: number | null;
  /** colocated (one heap, one thread), per_role (a worker thread, backend and heap per role), or auto (by the models' sizes). */
  placement: Placement;
  /**
   * How frozen weights are held: the reference's and reward model's, and the actor's and critic's base weights under LoRA.
   * bf16 halves them and keeps them outside the tensor heap (products widen them as they pack); null: bf16 when --dtype
   * bf16, else fp32. Trained weights stay float32.
   */
  frozenDtype: FrozenDtype | null;
  // ---- DeepSpeed flags, kept for the record; rlhfkit explains each in one line
  enableHybridEngine: boolean;
  unpinActorParameters: boolean;
  releaseInferenceCache: boolean;
  inferenceTpSize: number;
  tpGatherPartitionSize: number;
  offload: boolean;
  dtype: 'fp16' | 'bf16' | 'fp32';
  offloadReferenceModel: boolean;
  offloadRewardModel: boolean;
  actorZeroStage: number;
  criticZeroStage: number;
  enableMixedPrecisionLora: boolean;
  computeFp32Loss: boolean;
  alignOverflow: boolean;
  localRank: number;
  deepspeed: boolean;
  deepspeedConfig: string | null;
}

/** DeepSpeed-Chat step 3's defaults (training/step3_rlhf_finetuning/main.py), plus rlhfkit's for what it adds. */
export const PPO_DEFAULTS: Readonly<PpoConfig> = Object.freeze({
  dataPath: ['Dahoas/rm-static'],
  dataSplit: '2,4,4',
  dataOutputPath: '/tmp/data_files',
  dataDir: './data',
  unsupervisedDatasetName: null,
  unsupervisedDatasetConfigName: null,
  unsupCoef: 27.8,
  maxPromptSeqLen: 256,
  maxAnswerSeqLen: 256,
  addEotToken: false,
  eotToken: '<|endoftext|>',
  padTo: 'longest',
  actorModelNameOrPath: '',
  criticModelNameOrPath: '',
  numPaddingAtBeginning: null,
  actorDropout: null,
  criticDropout: null,
  actorGradientCheckpointing: false,
  criticGradientCheckpointing: false,
  strict: false,
  perDeviceGenerationBatchSize: 16,
  perDeviceTrainingBatchSize: 16,
  generationBatches: 1,
  ppoEpochs: 1,
  numTrainEpochs: 1,
  gradientAccumulationSteps: 1,
  actorLearningRate: 9.65e-6,
  criticLearningRate: 5e-6,
  actorWeightDecay: 0,
  criticWeightDecay: 0,
  lrSchedulerType: 'cosine',
  numWarmupSteps: 100,
  seed: 1234,
  maxGradNorm: 1.0,
  actorLoraDim: 0,
  actorLoraModuleName: 'decoder.layers.',
  criticLoraDim: 0,
  criticLoraModuleName: 'decoder.layers.',
  onlyOptimizeLora: false,
  actorLoraLearningRate: 5e-4,
  criticLoraLearningRate: 5e-4,
  enableEma: false,
  emaBeta: 0.992,
  outputDir: './output',
  overwriteOutputDir: false,
  saveSteps: 50,
  saveTotalLimit: 2,
  resumeFromCheckpoint: null,
  enableTensorboard: false,
  tensorboardPath: 'step3_tensorboard',
  printAnswers: false,
  printAnswersInterval: 1,
  enableTestMode: false,
  testStopStep: 0,
  maxSteps: null,
  klCtl: 0.1,
  clipRewardValue: 5,
  cliprange: 0.2,
  cliprangeValue: 0.2,
  gamma: 1.0,
  lam: 0.95,
  klTarget: null,
  klHorizon: 10000,
  whitenRewards: false,
  whitenAdvantages: false,
  eosPenalty: null,
  doSample: null,
  temperature: null,
  topK: null,
  topP: null,
  repetitionPenalty: null,
  advantageEstimator: 'gae',
  nSamplesPerPrompt: 1,
  klInLoss: false,
  backend: null,
  threads: null,
  placement: 'auto',
  frozenDtype: null,
  enableHybridEngine: false,
  unpinActorParameters: false,
  releaseInferenceCache: false,
  inferenceTpSize: 1,
  tpGatherPartitionSize: 8,
  offload: false,
  dtype: 'fp32',
  offloadReferenceModel: false,
  offloadRewardModel: false,
  actorZeroStage: 0,
  criticZeroStage: 0,
  enableMixedPrecisionLora: false,
  computeFp32Loss: false,
  alignOverflow: false,
  localRank: -1,
  deepspeed: false,
  deepspeedConfig: null,
} satisfies PpoConfig);

/** DeepSpeed-Chat's step-3 TensorBoard folder: <tensorboard_path>/step3_tensorboard_logs. */
export const PPO_TENSORBOARD_JOB = 'step3_tensorboard_logs';

/** What a resumed run must share with the checkpoint's run to continue it exactly. */
export const PPO_RESUME_MUST_MATCH: readonly (keyof PpoConfig)[] = [
  'dataPath', 'dataSplit', 'maxPromptSeqLen', 'maxAnswerSeqLen', 'padTo', 'seed', 'perDeviceGenerationBatchSize', 'perDeviceTrainingBatchSize',
  'generationBatches', 'ppoEpochs', 'gradientAccumulationSteps', 'lrSchedulerType', 'numWarmupSteps', 'actorLoraDim', 'actorLoraModuleName',
  'criticLoraDim', 'criticLoraModuleName', 'onlyOptimizeLora', 'enableEma', 'unsupervisedDatasetName', 'addEotToken', 'advantageEstimator',
  'nSamplesPerPrompt',
];

/** Keys that may change on resume (a note is printed). */
export const PPO_RESUME_MAY_CHANGE: readonly (keyof PpoConfig)[] = [
  'numTrainEpochs', 'actorLearningRate', 'criticLearningRate', 'saveSteps', 'saveTotalLimit', 'maxSteps', 'printAnswers', 'actorModelNameOrPath',
  'criticModelNameOrPath', 'overwriteOutputDir',
];

function checkProb(v: number | null, flag: string): void {
  if (v !== null && !(Number.isFinite(v) && v >= 0 && v < 1)) throw new FlagError(`--${flag} must be in [0, 1), got ${v}`);
}

/** Checks every value; errors name the --flag. */
export function validatePpoConfig(c: PpoConfig): void {
  checkFlag.nonEmpty(c.actorModelNameOrPath, 'actor_model_name_or_path', 'the step-1 (SFT) model folder the actor starts from');
  checkFlag.nonEmpty(c.criticModelNameOrPath, 'critic_model_name_or_path', 'the step-2 reward model folder (the reward model, and the critic for GAE, start from it)');
  if (!Array.isArray(c.dataPath) || c.dataPath.length === 0 || c.dataPath.some((p) => typeof p !== 'string' || p === '')) {
    throw new FlagError(`--data_path needs at least one dataset name or folder, e.g. rlhfkit/demo; got ${JSON.stringify(c.dataPath)}`);
  }
  parseDataSplit(c.dataSplit);
  checkFlag.nonEmpty(c.outputDir, 'output_dir', 'a folder for the actor, critic, checkpoints and metrics');
  checkFlag.int(c.maxPromptSeqLen, 'max_prompt_seq_len', 1);
  checkFlag.int(c.maxAnswerSeqLen, 'max_answer_seq_len', 2);
  c.padTo = checkFlag.oneOf(c.padTo, 'pad_to', ['longest', 'max_length'] as const);
  checkFlag.int(c.perDeviceGenerationBatchSize, 'per_device_generation_batch_size', 1);
  checkFlag.int(c.perDeviceTrainingBatchSize, 'per_device_training_batch_size', 1);
  checkFlag.int(c.generationBatches, 'generation_batches', 1);
  checkFlag.int(c.ppoEpochs, 'ppo_epochs', 1);
  checkFlag.int(c.numTrainEpochs, 'num_train_epochs', 1);
  checkFlag.int(c.gradientAccumulationSteps, 'gradient_accumulation_steps', 1);
  checkFlag.number(c.actorLearningRate, 'actor_learning_rate', 0);
  checkFlag.number(c.criticLearningRate, 'critic_learning_rate', 0);
  checkFlag.number(c.actorWeightDecay, 'actor_weight_decay', 0);
  checkFlag.number(c.criticWeightDecay, 'critic_weight_decay', 0);
  c.lrSchedulerType = checkFlag.oneOf(c.lrSchedulerType, 'lr_scheduler_type', SCHEDULE_NAMES);
  checkFlag.int(c.numWarmupSteps, 'num_warmup_steps', 0);
  checkFlag.int(c.seed, 'seed', 0);
  checkFlag.number(c.maxGradNorm, 'max_grad_norm', 0, true);
  checkProb(c.actorDropout, 'actor_dropout');
  checkProb(c.criticDropout, 'critic_dropout');
  checkFlag.int(c.actorLoraDim, 'actor_lora_dim', 0);
  checkFlag.int(c.criticLoraDim, 'critic_lora_dim', 0);
  checkFlag.number(c.actorLoraLearningRate, 'actor_lora_learning_rate', 0);
  checkFlag.number(c.criticLoraLearningRate, 'critic_lora_learning_rate', 0);
  if (c.onlyOptimizeLora && c.actorLoraDim === 0 && c.criticLoraDim === 0) {
    throw new FlagError('--only_optimize_lora needs --actor_lora_dim or --critic_lora_dim > 0: without LoRA layers there would be nothing to train');
  }
  if (!(c.emaBeta >= 0 && c.emaBeta <= 1)) throw new FlagError(`--ema_beta must be in [0, 1], got ${c.emaBeta}`);
  checkFlag.int(c.saveSteps, 'save_steps', 0);
  checkFlag.int(c.saveTotalLimit, 'save_total_limit', 0);
  checkFlag.int(c.printAnswersInterval, 'print_answers_interval', 1);
  checkFlag.int(c.testStopStep, 'test_stop_step', 0);
  if (c.maxSteps !== null) checkFlag.int(c.maxSteps, 'max_steps', 1);
  checkFlag.number(c.unsupCoef, 'unsup_coef', 0);
  checkFlag.number(c.klCtl, 'kl_ctl', 0);
  checkFlag.number(c.clipRewardValue, 'clip_reward_value', 0);
  checkFlag.number(c.cliprange, 'cliprange', 0);
  checkFlag.number(c.cliprangeValue, 'cliprange_value', 0);
  checkFlag.number(c.gamma, 'gamma', 0);
  checkFlag.number(c.lam, 'lam', 0);
  if (c.klTarget !== null) checkFlag.number(c.klTarget, 'kl_target', 0, true);
  checkFlag.number(c.klHorizon, 'kl_horizon', 0, true);
  if (c.eosPenalty !== null) checkFlag.number(c.eosPenalty, 'eos_penalty', 0);
  if (c.temperature !== null) checkFlag.number(c.temperature, 'temperature', 0, true);
  if (c.topK !== null) checkFlag.int(c.topK, 'top_k', 0);
  if (c.topP !== null && !(c.topP > 0 && c.topP <= 1)) throw new FlagError(`--top_p must be in (0, 1], got ${c.topP}`);
  if (c.repetitionPenalty !== null) checkFlag.number(c.repetitionPenalty, 'repetition_penalty', 0, true);
  c.advantageEstimator = checkFlag.oneOf(c.advantageEstimator, 'advantage_estimator', ADVANTAGE_ESTIMATORS);
  checkFlag.int(c.nSamplesPerPrompt, 'n_samples_per_prompt', 1);
  if (c.advantageEstimator !== 'gae' && c.advantageEstimator !== 'reinforce_baseline' && c.nSamplesPerPrompt < 2) {
    throw new FlagError(`--advantage_estimator ${c.advantageEstimator} compares several answers to each prompt: give --n_samples_per_prompt 2 or more`);
  }
  if (c.nSamplesPerPrompt > 1 && c.doSample === false) {
    throw new FlagError('--n_samples_per_prompt > 1 with --do_sample false would give identical answers; sample (--do_sample) or use 1');
  }
  if (c.threads !== null) checkFlag.int(c.threads, 'threads', 1);
  c.dtype = checkFlag.oneOf(c.dtype, 'dtype', ['fp16', 'bf16', 'fp32'] as const);
  c.placement = checkFlag.oneOf(c.placement, 'placement', PLACEMENTS);
  // DeepSpeed-Chat's --dtype bf16 holds every weight in bf16; rlhfkit holds the frozen ones so (training stays float32).
  c.frozenDtype = c.frozenDtype === null ? (c.dtype === 'bf16' ? 'bf16' : 'fp32') : checkFlag.oneOf(c.frozenDtype, 'frozen_dtype', FROZEN_DTYPES);
}

/** PPO_DEFAULTS wherever `partial` has no value (undefined counts as none), then validated. */
export function resolvePpoConfig(partial: Partial<PpoConfig>): PpoConfig {
  const merged: Record<string, unknown> = { ...PPO_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) merged[k] = v;
  for (const [k, v] of Object.entries(merged)) if (Array.isArray(v)) merged[k] = [...(v as unknown[])];
  const c = merged as unknown as PpoConfig;
  validatePpoConfig(c);
  return c;
}

/**
 * DeepSpeed-Chat's num_total_iters (the schedule length of both engines): min(prompt batches, unsupervised batches)
 * x (generation batch / training batch) x ppo_epochs / gradient_accumulation_steps, per epoch, truncated.
 */
export function numTotalIters(c: PpoConfig, promptBatches: number, unsupBatches: number | null): number {
  const perEpoch = (Math.min(promptBatches, unsupBatches ?? promptBatches) * (c.perDeviceGenerationBatchSize / c.perDeviceTrainingBatchSize) * c.ppoEpochs) / c.gradientAccumulationSteps;
  return Math.max(1, Math.trunc(c.numTrainEpochs * perEpoch));
}
