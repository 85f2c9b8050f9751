// RewardConfig: every step-2 setting with DeepSpeed-Chat's defaults (training/step2_reward_model_finetuning/main.py), in one place.
import { checkFlag, FlagError, TRAINING_DEFAULTS, validateTrainingConfig, withDefaults, type TrainingConfig } from '@rlhfkit/core-tensor';
import { parseDataSplit } from '@rlhfkit/data';
import type { ValueHeadInit } from './load';

/** Step 2's settings: the shared training ones plus step 2's own. */
export interface RewardConfig extends TrainingConfig {
  // ---- model
  /** null = detect: 1 when the tokenizer starts rows with a BOS equal to the pad (OPT with pad = eos), else 0. */
  numPaddingAtBeginning: number | null;
  /** A safetensors file with v_head.weight to start from (rlhfkit addition). */
  valueHead: string | null;
  /** How to start the value head when the model folder has none (DeepSpeed-Chat: nn.Linear's init). */
  initValueHead: ValueHeadInit;
  // ---- training
  /** Where the model goes; null (DeepSpeed-Chat's default) saves nothing. */
  outputDir: string | null;
  // ---- evaluation
  /** Evaluate every N optimizer steps (0: only before training and after each epoch). */
  evalInterval: number;
  /** At most this many eval batches per evaluation. */
  evalIters: number;
}

/** DeepSpeed-Chat step 2's defaults, plus rlhfkit's for what it adds. */
export const REWARD_DEFAULTS: Readonly<RewardConfig> = Object.freeze({
  ...TRAINING_DEFAULTS,
  numPaddingAtBeginning: null,
  valueHead: null,
  initValueHead: 'linear',
  learningRate: 5e-5,
  outputDir: null,
  evalInterval: 0,
  evalIters: 100,
  tensorboardPath: 'step2_tensorboard',
} satisfies RewardConfig);

const MODEL_HINT = 'a step-1 output folder, an HF model folder or a hub name in the local cache';

/** Checks a config; each error names the --flag to fix. */
export function validateRewardConfig(c: RewardConfig): void {
  validateTrainingConfig(c, MODEL_HINT);
  parseDataSplit(c.dataSplit);
  checkFlag.int(c.evalInterval, 'eval_interval', 0);
  checkFlag.int(c.evalIters, 'eval_iters', 1);
  if (c.numPaddingAtBeginning !== null) checkFlag.int(c.numPaddingAtBeginning, 'num_padding_at_beginning', 0);
  if (!['linear', 'zeros'].includes(c.initValueHead)) throw new FlagError(`initValueHead: --init_value_head must be linear or zeros, got ${c.initValueHead}`);
}

/** REWARD_DEFAULTS wherever `partial` has no value, then validated. */
export function resolveRewardConfig(partial: Partial<RewardConfig>): RewardConfig {
  const c = withDefaults(REWARD_DEFAULTS, partial);
  validateRewardConfig(c);
  return c;
}
