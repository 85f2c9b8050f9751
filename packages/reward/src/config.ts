// RewardConfig: every step-2 setting with DeepSpeed-Chat's defaults (training/step2_reward_model_finetuning/main.py), in one place.
import type { ScheduleName } from '@rlhfkit/core-tensor';
import type { ValueHeadInit } from './load';

export interface RewardConfig {
  // ---- data
  dataPath: string[];
  dataSplit: string;
  dataOutputPath: string;
  dataDir: string;
  maxSeqLen: number;
  addEotToken: boolean;
  eotToken: string;
  /**
   * How a micro-batch is padded: 'longest' row of the batch (default) or 'max_length' (DeepSpeed-Chat's
   * padding to max_seq_len). The model is causal, so both give the same loss and scores; 'longest' is faster.
   */
  padTo: 'longest' | 'max_length';
  // ---- model
  modelNameOrPath: string;
  /** null = detect: 1 when the tokenizer starts rows with a BOS equal to the pad (OPT with pad = eos), else 0. */
  numPaddingAtBeginning: number | null;
  dropout: number | null;
  gradientCheckpointing: boolean;
  /** A safetensors file with v_head.weight to start from (rlhfkit addition). */
  valueHead: string | null;
  /** How to start the value head when the model folder has none (DeepSpeed-Chat: nn.Linear's init). */
  initValueHead: ValueHeadInit;
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
  outputDir: string | null;
  computeFp32Loss: boolean;
  /** Global gradient-norm clip (DeepSpeed-Chat's ds_config gradient_clipping). */
  maxGradNorm: number;
  // ---- evaluation
  /** Evaluate every N optimizer steps (0: only before training and after each epoch). */
  evalInterval: number;
  /** At most this many eval batches per evaluation. */
  evalIters: number;
  // ---- LoRA
  loraDim: number;
  loraModuleName: string;
  onlyOptimizeLora: boolean;
  loraLearningRate: number;
  // ---- checkpoints and logging (rlhfkit additions)
  saveSteps: number;
  saveTotalLimit: number;
  resumeFromCheckpoint: string | null;
  enableTensorboard: boolean;
  tensorboardPath: string;
  printLoss: boolean;
}

/** DeepSpeed-Chat step 2's defaults, plus rlhfkit's for what it adds. */
export const REWARD_DEFAULTS: Readonly<RewardConfig> = Object.freeze({
  dataPath: ['Dahoas/rm-static'],
  dataSplit: '2,4,4',
  dataOutputPath: '/tmp/data_files/',
  dataDir: './data',
  maxSeqLen: 512,
  addEotToken: false,
  eotToken: '<|endoftext|>',
  padTo: 'longest',
  modelNameOrPath: '',
  numPaddingAtBeginning: null,
  dropout: null,
  gradientCheckpointing: false,
  valueHead: null,
  initValueHead: 'linear',
  perDeviceTrainBatchSize: 16,
  perDeviceEvalBatchSize: 16,
  learningRate: 5e-5,
  weightDecay: 0,
  numTrainEpochs: 1,
  gradientAccumulationSteps: 1,
  lrSchedulerType: 'cosine',
  numWarmupSteps: 0,
  seed: 1234,
  outputDir: null,
  computeFp32Loss: false,
  maxGradNorm: 1.0,
  evalInterval: 0,
  evalIters: 100,
  loraDim: 0,
  loraModuleName: 'decoder.layers.',
  onlyOptimizeLora: false,
  loraLearningRate: 5e-4,
  saveSteps: 500,
  saveTotalLimit: 2,
  resumeFromCheckpoint: null,
  enableTensorboard: false,
  tensorboardPath: 'step2_tensorboard',
  printLoss: false,
});

/** Checks a config; each error names the --flag to fix. */
export function validateRewardConfig(c: RewardConfig): void {
  const bad = (flag: string, msg: string): never => {
    throw new Error(`--${flag} ${msg}`);
  };
  if (!c.modelNameOrPath) bad('model_name_or_path', 'is required: a step-1 output folder, an HF model folder or a hub name in the local cache');
  const posInt = (v: number, flag: string, min = 1): void => {
    if (!Number.isInteger(v) || v < min) bad(flag, `must be an integer >= ${min}, got ${v}`);
  };
  posInt(c.perDeviceTrainBatchSize, 'per_device_train_batch_size');
  posInt(c.perDeviceEvalBatchSize, 'per_device_eval_batch_size');
  posInt(c.numTrainEpochs, 'num_train_epochs');
  posInt(c.gradientAccumulationSteps, 'gradient_accumulation_steps');
  posInt(c.maxSeqLen, 'max_seq_len', 2);
  posInt(c.evalInterval, 'eval_interval', 0);
  posInt(c.evalIters, 'eval_iters');
  posInt(c.loraDim, 'lora_dim', 0);
  posInt(c.numWarmupSteps, 'num_warmup_steps', 0);
  posInt(c.saveSteps, 'save_steps', 0);
  posInt(c.saveTotalLimit, 'save_total_limit', 0);
  if (c.numPaddingAtBeginning !== null) posInt(c.numPaddingAtBeginning, 'num_padding_at_beginning', 0);
  if (!(c.learningRate > 0)) bad('learning_rate', `must be > 0, got ${c.learningRate}`);
  if (!(c.weightDecay >= 0)) bad('weight_decay', `must be >= 0, got ${c.weightDecay}`);
  if (!(c.maxGradNorm > 0)) bad('max_grad_norm', `must be > 0, got ${c.maxGradNorm}`);
  if (c.dropout !== null && !(c.dropout >= 0 && c.dropout < 1)) bad('dropout', `must be in [0, 1), got ${c.dropout}`);
  if (c.onlyOptimizeLora && c.loraDim === 0) bad('only_optimize_lora', 'needs --lora_dim > 0 (there are no LoRA weights to train)');
  if (!['linear', 'zeros'].includes(c.initValueHead)) bad('init_value_head', `must be linear or zeros, got ${c.initValueHead}`);
  if (!['longest', 'max_length'].includes(c.padTo)) bad('pad_to', `must be longest or max_length, got ${c.padTo}`);
}
