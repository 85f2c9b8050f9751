// DpoConfig: DeepSpeed-Chat step2_dpo_finetuning/main.py's settings (camelCase here, snake_case flags), defaults in one place, validated.
import { checkFlag, FlagError, TRAINING_DEFAULTS, validateTrainingConfig, withDefaults, type TrainingConfig } from '@rlhfkit/core-tensor';
import { parseDataSplit } from '@rlhfkit/data';

/** DPO's settings: the shared training ones plus DPO's own. */
export interface DpoConfig extends TrainingConfig {
  /** DPO temperature: rewards are beta x the policy/reference log-ratio. */
  beta: number;
  /** Conservative DPO: preferences assumed flipped with this probability. */
  labelSmoothing: number;
  /** Model, checkpoints, metrics.jsonl (DeepSpeed-Chat's default is none = no save; rlhfkit always needs a folder). */
  outputDir: string;
  // ---- backend
  backend: string | null;
  threads: number | null;
  // ---- DeepSpeed engine flags, kept in the config for the record; none changes what rlhfkit does
  zeroStage: number;
  offload: boolean;
  /** ZeRO-Offload of the frozen reference model. */
  offloadReferenceModel: boolean;
  /** rlhfkit trains in fp32 whatever is given; DeepSpeed-Chat's default is fp16. */
  dtype: 'fp16' | 'bf16' | 'fp32';
  localRank: number;
  deepspeed: boolean;
  deepspeedConfig: string | null;
  // ---- rlhfkit additions
  /** The frozen reference; null = --model_name_or_path, as DeepSpeed-Chat (which has no such flag). */
  referenceModelNameOrPath: string | null;
  /** Also evaluate every N optimizer steps (0: before training and after each epoch only, as DeepSpeed-Chat). */
  evalInterval: number;
}

/** DeepSpeed-Chat step2_dpo_finetuning/main.py's defaults, plus rlhfkit's own flags. */
export const DPO_DEFAULTS: Readonly<DpoConfig> = Object.freeze({
  ...TRAINING_DEFAULTS,
  beta: 0.1,
  labelSmoothing: 0.0,
  learningRate: 1e-3,
  loraLearningRate: 5e-4,
  outputDir: './output',
  tensorboardPath: 'step2_tensorboard',
  backend: null,
  threads: null,
  zeroStage: 0,
  offload: false,
  offloadReferenceModel: false,
  dtype: 'fp32',
  localRank: -1,
  deepspeed: false,
  deepspeedConfig: null,
  referenceModelNameOrPath: null,
  evalInterval: 0,
} satisfies DpoConfig);

/** DeepSpeed-Chat's step-2 TensorBoard job name (tb_name "step2_model", shared with the reward step): <tensorboard_path>/step2_model_tensorboard. */
export const DPO_TENSORBOARD_JOB = 'step2_model_tensorboard';

const MODEL_HINT = 'a step-1 output folder (the policy starts from it and it is also the frozen reference)';

/**
 * Defaults filled in and every value checked; errors name the --flag. Pass what the user set (camelCase keys);
 * anything left out takes DPO_DEFAULTS.
 */
export function resolveDpoConfig(partial: Partial<DpoConfig>): DpoConfig {
  const c = withDefaults(DPO_DEFAULTS, partial);
  validateTrainingConfig(c, MODEL_HINT);
  parseDataSplit(c.dataSplit);
  checkFlag.number(c.beta, 'beta', 0, true);
  if (!(Number.isFinite(c.labelSmoothing) && c.labelSmoothing >= 0 && c.labelSmoothing < 0.5)) {
    throw new FlagError(`labelSmoothing: --label_smoothing must be in [0, 0.5), got ${JSON.stringify(c.labelSmoothing)} (0.5 and above reverse the preference)`);
  }
  checkFlag.nonEmpty(c.outputDir, 'output_dir', 'a folder for the model, checkpoints and metrics');
  c.dtype = checkFlag.oneOf(c.dtype, 'dtype', ['fp16', 'bf16', 'fp32'] as const);
  if (c.threads !== null) checkFlag.int(c.threads, 'threads', 1);
  checkFlag.int(c.evalInterval, 'eval_interval', 0);
  if (c.referenceModelNameOrPath === '') c.referenceModelNameOrPath = null;
  return c;
}

/** The reference model's folder or name: --reference_model_name_or_path, else the policy's starting model. */
export function referencePath(c: Pick<DpoConfig, 'modelNameOrPath' | 'referenceModelNameOrPath'>): string {
  return c.referenceModelNameOrPath ?? c.modelNameOrPath;
}
