// SftConfig: step 1's settings under DeepSpeed-Chat's names (camelCase here, snake_case flags), defaults in one place, validated.
import { checkFlag, TRAINING_DEFAULTS, validateTrainingConfig, withDefaults, type TrainingConfig } from '@rlhfkit/core-tensor';
import { parseDataSplit } from '@rlhfkit/data';

/** Step 1's settings: the shared training ones plus step 1's own. */
export interface SftConfig extends TrainingConfig {
  sftOnlyDataPath: string[];
  /** Model, checkpoints, metrics.jsonl (DeepSpeed-Chat's default is none = no save; rlhfkit always needs a folder). */
  outputDir: string;
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
}

/** DeepSpeed-Chat step 1's defaults (training/step1_supervised_finetuning/main.py), plus rlhfkit's own flags. */
export const SFT_DEFAULTS: Readonly<SftConfig> = Object.freeze({
  ...TRAINING_DEFAULTS,
  sftOnlyDataPath: [],
  learningRate: 1e-3,
  outputDir: './output',
  tensorboardPath: 'step1_tensorboard',
  backend: null,
  threads: null,
  zeroStage: 0,
  offload: false,
  dtype: 'fp32',
  localRank: -1,
  deepspeed: false,
  deepspeedConfig: null,
  maskPrompt: false,
} satisfies SftConfig);

/** DeepSpeed-Chat's step-1 TensorBoard job name: events go to <tensorboard_path>/step1_model_tensorboard. */
export const SFT_TENSORBOARD_JOB = 'step1_model_tensorboard';

/**
 * Defaults filled in and every value checked; errors name the --flag. Pass what the user set (camelCase keys);
 * anything left out takes SFT_DEFAULTS.
 */
export function resolveSftConfig(partial: Partial<SftConfig>): SftConfig {
  const c = withDefaults(SFT_DEFAULTS, partial);
  validateTrainingConfig(c, 'a model folder (config.json + weights + tokenizer), e.g. one made by `rlhfkit init-model`');
  parseDataSplit(c.dataSplit);
  checkFlag.nonEmpty(c.outputDir, 'output_dir', 'a folder for the model, checkpoints and metrics');
  c.dtype = checkFlag.oneOf(c.dtype, 'dtype', ['fp16', 'bf16', 'fp32'] as const);
  if (c.threads !== null) checkFlag.int(c.threads, 'threads', 1);
  return c;
}
