// SftConfig: step 1's settings under DeepSpeed-Chat's names (camelCase here, snake_case flags), defaults in one place, validated.
import { checkFlag, FlagError, SCHEDULE_NAMES, type ScheduleName } from '@rlhfkit/core-tensor';
import { parseDataSplit } from '@rlhfkit/data';

export interface SftConfig {
  // ---- data
  /** `--data_path`: dataset names or folders, blended. */
  dataPath: string[];
  dataSplit: string;
  sftOnlyDataPath: string[];
  dataOutputPath: string;
  /** `--data_dir`: where local/jsonfile reads train.json / eval.json (an rlhfkit addition). */
  dataDir: string;
  maxSeqLen: number;
  addEotToken: boolean;
  eotToken: string;
  // ---- model
  modelNameOrPath: string;
  /** null keeps the model config's dropout rates. */
  dropout: number | null;
  gradientCheckpointing: boolean;
  // ---- training
  perDeviceTrainBatchSize: number;
  perDeviceEvalBatchSize: number;
  learningRate: number;
  weightDecay: number;
  numTrainEpochs: number;
  gradientAccumulationSteps: number;
  lrSchedulerType: ScheduleName;
  numWarmupSteps: number;
  /** Model, checkpoints, metrics.jsonl (DeepSpeed-Chat's default is none = no save; rlhfkit always needs a folder). */
  outputDir: string;
  seed: number;
  computeFp32Loss: boolean;
  // ---- LoRA
  loraDim: number;
  loraModuleName: string;
  onlyOptimizeLora: boolean;
  loraLearningRate: number;
  // ---- checkpoints (rlhfkit)
  saveSteps: number;
  saveTotalLimit: number;
  resumeFromCheckpoint: string | null;
  // ---- logging
  enableTensorboard: boolean;
  tensorboardPath: string;
  printLoss: boolean;
  // ---- backend
  backend: string | null;
  threads: number | null;
  // ---- DeepSpeed engine flags, kept in the config for the record; none changes what rlhfkit does
  zeroStage: number;
  offload: boolean;
  /** rlhfkit trains in fp32 whatever is given; DeepSpeed-Chat's default is fp16. */
  dtype: 'fp16' | 'bf16' | 'fp32';
  localRank: number;
  deepspeed: boolean;
  deepspeedConfig: string | null;
  // ---- rlhfkit additions
  /** Leave prompt tokens out of the loss (DeepSpeed-Chat trains on prompt + answer; default false). */
  maskPrompt: boolean;
  /** Pad each batch to its longest row (default; same loss, less compute) or to max_seq_len as DeepSpeed-Chat. */
  padTo: 'longest' | 'max_length';
  /** Gradient clipping by global norm (DeepSpeed-Chat's ds_config gradient_clipping). */
  maxGradNorm: number;
}

/** DeepSpeed-Chat step 1's defaults (training/step1_supervised_finetuning/main.py), plus rlhfkit's own flags. */
export const SFT_DEFAULTS: Readonly<SftConfig> = Object.freeze({
  dataPath: ['Dahoas/rm-static'],
  dataSplit: '2,4,4',
  sftOnlyDataPath: [],
  dataOutputPath: '/tmp/data_files/',
  dataDir: './data',
  maxSeqLen: 512,
  addEotToken: false,
  eotToken: '<|endoftext|>',
  modelNameOrPath: '',
  dropout: null,
  gradientCheckpointing: false,
  perDeviceTrainBatchSize: 16,
  perDeviceEvalBatchSize: 16,
  learningRate: 1e-3,
  weightDecay: 0,
  numTrainEpochs: 1,
  gradientAccumulationSteps: 1,
  lrSchedulerType: 'cosine',
  numWarmupSteps: 0,
  outputDir: './output',
  seed: 1234,
  computeFp32Loss: false,
  loraDim: 0,
  loraModuleName: 'decoder.layers.',
  onlyOptimizeLora: false,
  loraLearningRate: 5e-4,
  saveSteps: 500,
  saveTotalLimit: 2,
  resumeFromCheckpoint: null,
  enableTensorboard: false,
  tensorboardPath: 'step1_tensorboard',
  printLoss: false,
  backend: null,
  threads: null,
  zeroStage: 0,
  offload: false,
  dtype: 'fp32',
  localRank: -1,
  deepspeed: false,
  deepspeedConfig: null,
  maskPrompt: false,
  padTo: 'longest',
  maxGradNorm: 1.0,
});

/** DeepSpeed-Chat's step-1 TensorBoard job name: events go to <tensorboard_path>/step1_model_tensorboard. */
export const SFT_TENSORBOARD_JOB = 'step1_model_tensorboard';

/**
 * Defaults filled in and every value checked; errors name the --flag. Pass what the user set (camelCase keys);
 * anything left out takes SFT_DEFAULTS.
 */
export function resolveSftConfig(partial: Partial<SftConfig>): SftConfig {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<SftConfig>;
  const c: SftConfig = { ...SFT_DEFAULTS, dataPath: [...SFT_DEFAULTS.dataPath], sftOnlyDataPath: [], ...defined };
  checkFlag.nonEmpty(c.modelNameOrPath, 'model_name_or_path', 'a model folder (config.json + weights + tokenizer), e.g. one made by `rlhfkit init-model`');
  if (!Array.isArray(c.dataPath) || c.dataPath.length === 0 || c.dataPath.some((p) => typeof p !== 'string' || p === '')) {
    throw new FlagError(`--data_path needs at least one dataset name or folder, e.g. rlhfkit/demo; got ${JSON.stringify(c.dataPath)}`);
  }
  parseDataSplit(c.dataSplit);
  checkFlag.int(c.maxSeqLen, 'max_seq_len', 2);
  checkFlag.int(c.perDeviceTrainBatchSize, 'per_device_train_batch_size', 1);
  checkFlag.int(c.perDeviceEvalBatchSize, 'per_device_eval_batch_size', 1);
  checkFlag.number(c.learningRate, 'learning_rate', 0);
  checkFlag.number(c.weightDecay, 'weight_decay', 0);
  checkFlag.int(c.numTrainEpochs, 'num_train_epochs', 1);
  checkFlag.int(c.gradientAccumulationSteps, 'gradient_accumulation_steps', 1);
  c.lrSchedulerType = checkFlag.oneOf(c.lrSchedulerType, 'lr_scheduler_type', SCHEDULE_NAMES);
  checkFlag.int(c.numWarmupSteps, 'num_warmup_steps', 0);
  checkFlag.int(c.seed, 'seed', 0);
  checkFlag.nonEmpty(c.outputDir, 'output_dir', 'a folder for the model, checkpoints and metrics');
  if (c.dropout !== null) {
    if (!(Number.isFinite(c.dropout) && c.dropout >= 0 && c.dropout < 1)) throw new FlagError(`--dropout must be in [0, 1), got ${c.dropout}`);
  }
  checkFlag.int(c.loraDim, 'lora_dim', 0);
  checkFlag.number(c.loraLearningRate, 'lora_learning_rate', 0);
  if (c.onlyOptimizeLora && c.loraDim === 0) {
    throw new FlagError('--only_optimize_lora needs --lora_dim > 0: without LoRA layers there would be nothing to train');
  }
  checkFlag.int(c.saveSteps, 'save_steps', 0);
  checkFlag.int(c.saveTotalLimit, 'save_total_limit', 0);
  checkFlag.number(c.maxGradNorm, 'max_grad_norm', 0, true);
  c.padTo = checkFlag.oneOf(c.padTo, 'pad_to', ['longest', 'max_length'] as const);
  c.dtype = checkFlag.oneOf(c.dtype, 'dtype', ['fp16', 'bf16', 'fp32'] as const);
  if (c.threads !== null) checkFlag.int(c.threads, 'threads', 1);
  return c;
}
