// The settings steps 1 and 2 share (DeepSpeed-Chat's common flags, camelCase), their defaults and their checks.
import { SCHEDULE_NAMES, type ScheduleName } from '../train/lr-schedule';
import { checkFlag, FlagError, optionLabel } from './flags';

/** What every training step's XConfig holds; each step adds its own settings and its `outputDir`. */
export interface TrainingConfig {
  // ---- data
  /** `--data_path`: dataset names or folders, blended. */
  dataPath: string[];
  dataSplit: string;
  dataOutputPath: string;
  /** `--data_dir`: where local/jsonfile reads train.json / eval.json (an rlhfkit addition). */
  dataDir: string;
  maxSeqLen: number;
  addEotToken: boolean;
  eotToken: string;
  /**
   * How a micro-batch is padded: its 'longest' row (default) or 'max_length' (DeepSpeed-Chat's padding to
   * max_seq_len). The models are causal, so both give the same loss; 'longest' is faster.
   */
  padTo: 'longest' | 'max_length';
  // ---- model
  modelNameOrPath: string;
  /** null keeps the model config's dropout rates. */
  dropout: number | null;
  gradientCheckpointing: boolean;
  /** `--strict`: tensors in the checkpoint that the model does not use are an error, not a warning. */
  strict?: boolean;
  // ---- training
  perDeviceTrainBatchSize: number;
  perDeviceEvalBatchSize: number;
  learningRate: number;
  weightDecay: number;
  numTrainEpochs: number;
  gradientAccumulationSteps: number;
  lrSchedulerType: ScheduleName;
  numWarmupSteps: number;
  seed: number;
  computeFp32Loss: boolean;
  /** Gradient clipping by global norm (DeepSpeed-Chat's ds_config gradient_clipping). */
  maxGradNorm: number;
  /** `--max_steps`: stop after this many optimizer steps, saving as at the end of training; null = no limit. */
  maxSteps?: number | null;
  /** `--zero_stage`: in a data-parallel run (mpirun), 1 shards the AdamW state, 2 also the gradients; 3 runs as 2. */
  zeroStage?: number;
  // ---- LoRA
  loraDim: number;
  loraModuleName: string;
  onlyOptimizeLora: boolean;
  loraLearningRate: number;
  // ---- checkpoints (rlhfkit additions: DeepSpeed-Chat has none)
  saveSteps: number;
  saveTotalLimit: number;
  resumeFromCheckpoint: string | null;
  /** `--overwrite_output_dir`: a fresh run may replace a previous run in the output folder (see claimOutputDir). */
  overwriteOutputDir?: boolean;
  // ---- logging
  enableTensorboard: boolean;
  tensorboardPath: string;
  printLoss: boolean;
}

/**
 * DeepSpeed-Chat's defaults for the shared settings (its step-1 main.py; the flags' defaults in DSCHAT_FLAGS), plus
 * rlhfkit's for what it adds. A step spreads these into its own XxxDefaults and overrides where its main.py differs.
 */
export const TRAINING_DEFAULTS: Readonly<TrainingConfig> = Object.freeze({
  dataPath: ['Dahoas/rm-static'],
  dataSplit: '2,4,4',
  dataOutputPath: '/tmp/data_files/',
  dataDir: './data',
  maxSeqLen: 512,
  addEotToken: false,
  eotToken: '<|endoftext|>',
  padTo: 'longest',
  modelNameOrPath: '',
  dropout: null,
  gradientCheckpointing: false,
  strict: false,
  perDeviceTrainBatchSize: 16,
  perDeviceEvalBatchSize: 16,
  learningRate: 1e-3,
  weightDecay: 0,
  numTrainEpochs: 1,
  gradientAccumulationSteps: 1,
  lrSchedulerType: 'cosine',
  numWarmupSteps: 0,
  seed: 1234,
  computeFp32Loss: false,
  maxGradNorm: 1.0,
  maxSteps: null,
  zeroStage: 0,
  loraDim: 0,
  loraModuleName: 'decoder.layers.',
  onlyOptimizeLora: false,
  loraLearningRate: 5e-4,
  saveSteps: 500,
  saveTotalLimit: 2,
  resumeFromCheckpoint: null,
  overwriteOutputDir: false,
  enableTensorboard: false,
  tensorboardPath: 'step1_tensorboard',
  printLoss: false,
} satisfies TrainingConfig);

/**
 * Checks the shared settings; each error is a FlagError naming the --flag. `modelHint` says what
 * --model_name_or_path should be for this step. The data split's syntax is the data package's to check.
 */
export function validateTrainingConfig(c: TrainingConfig, modelHint: string): void {
  checkFlag.nonEmpty(c.modelNameOrPath, 'model_name_or_path', modelHint);
  if (!Array.isArray(c.dataPath) || c.dataPath.length === 0 || c.dataPath.some((p) => typeof p !== 'string' || p === '')) {
    throw new FlagError(`${optionLabel('data_path')} needs at least one dataset name or folder, e.g. rlhfkit/demo; got ${JSON.stringify(c.dataPath)}`);
  }
  checkFlag.int(c.maxSeqLen, 'max_seq_len', 2);
  c.padTo = checkFlag.oneOf(c.padTo, 'pad_to', ['longest', 'max_length'] as const);
  if (c.dropout !== null) {
    if (!(Number.isFinite(c.dropout) && c.dropout >= 0 && c.dropout < 1)) throw new FlagError(`${optionLabel('dropout')} must be in [0, 1), got ${c.dropout}`);
  }
  checkFlag.int(c.perDeviceTrainBatchSize, 'per_device_train_batch_size', 1);
  checkFlag.int(c.perDeviceEvalBatchSize, 'per_device_eval_batch_size', 1);
  checkFlag.number(c.learningRate, 'learning_rate', 0);
  checkFlag.number(c.weightDecay, 'weight_decay', 0);
  checkFlag.int(c.numTrainEpochs, 'num_train_epochs', 1);
  checkFlag.int(c.gradientAccumulationSteps, 'gradient_accumulation_steps', 1);
  c.lrSchedulerType = checkFlag.oneOf(c.lrSchedulerType, 'lr_scheduler_type', SCHEDULE_NAMES);
  checkFlag.int(c.numWarmupSteps, 'num_warmup_steps', 0);
  checkFlag.int(c.seed, 'seed', 0);
  checkFlag.number(c.maxGradNorm, 'max_grad_norm', 0, true);
  if (c.maxSteps != null) checkFlag.int(c.maxSteps, 'max_steps', 1);
  checkFlag.int(c.loraDim, 'lora_dim', 0);
  checkFlag.number(c.loraLearningRate, 'lora_learning_rate', 0);
  if (c.onlyOptimizeLora && c.loraDim === 0) {
    throw new FlagError(`${optionLabel('only_optimize_lora')} needs --lora_dim > 0 (loraDim): without LoRA layers there would be nothing to train`);
  }
  checkFlag.int(c.saveSteps, 'save_steps', 0);
  checkFlag.int(c.saveTotalLimit, 'save_total_limit', 0);
}

/**
 * A step's config from what the user set: `defaults` filled in wherever `partial` has no value (undefined counts
 * as none), arrays copied so no run shares one. Validate the result (validateTrainingConfig + the step's own).
 */
export function withDefaults<C extends object>(defaults: Readonly<C>, partial: Partial<C>): C {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) merged[k] = v;
  for (const [k, v] of Object.entries(merged)) if (Array.isArray(v)) merged[k] = [...(v as unknown[])];
  return merged as C;
}
