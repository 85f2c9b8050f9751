// Step 3's command-line flags: DeepSpeed-Chat's step3 main.py names (snake_case, kebab-case aliases), defaults from PPO_DEFAULTS.
import type { Argv, Options } from 'yargs';
import { addDsChatFlags, camelToSnake, FLAG_GROUPS, kebabCase, type DsChatFlagName } from '@rlhfkit/core-tensor';
import { ADVANTAGE_ESTIMATORS, FROZEN_DTYPES, PLACEMENTS, PPO_DEFAULTS, type PpoConfig } from './config';

type Group = keyof typeof FLAG_GROUPS;

interface PpoFlag {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  group: Group;
  choices?: readonly string[];
  /** For DeepSpeed engine flags: the one-line note printed when a value would matter in DeepSpeed-Chat. */
  note?: (v: unknown) => string | null;
}

/** Shared flags step 3 takes from core-tensor's table (same names and meaning as in steps 1 and 2). */
export const PPO_SHARED_FLAGS: readonly DsChatFlagName[] = [
  'data_path', 'data_split', 'data_output_path', 'data_dir', 'max_prompt_seq_len', 'add_eot_token', 'eot_token', 'pad_to',
  'num_train_epochs', 'gradient_accumulation_steps', 'lr_scheduler_type', 'num_warmup_steps', 'seed', 'output_dir', 'overwrite_output_dir', 'max_grad_norm', 'compute_fp32_loss',
  'only_optimize_lora', 'strict', 'save_steps', 'save_total_limit', 'resume_from_checkpoint', 'enable_tensorboard', 'tensorboard_path', 'backend', 'threads',
  'offload', 'dtype', 'local_rank', 'deepspeed', 'deepspeed_config',
];

const ds = (what: string) => (v: unknown): string | null => (v === true ? `--${what}: not used; rlhfkit runs the roles in one process without DeepSpeed, so there is nothing to ${what === 'offload_reference_model' || what === 'offload_reward_model' ? 'offload (the model already lives in host memory)' : 'configure'}.` : null);

/** Step 3's own flags (DeepSpeed-Chat's step3 main.py), plus rlhfkit's additions. */
export const PPO_FLAGS: Record<string, PpoFlag> = {
  actor_model_name_or_path: { type: 'string', group: 'model', describe: 'the step-1 (SFT) model the actor and the reference start from' },
  critic_model_name_or_path: { type: 'string', group: 'model', describe: 'the step-2 reward model: the frozen reward model and the critic start from it' },
  num_padding_at_beginning: { type: 'number', group: 'model', describe: "pad-id tokens before the padding proper (used only by the critic's pairwise loss, never in step 3); default: saved with the reward model" },
  actor_dropout: { type: 'number', group: 'model', describe: "set the actor's dropout (default: keep its config's)" },
  critic_dropout: { type: 'number', group: 'model', describe: "set the critic's and reward model's dropout (default: keep their config's)" },
  actor_gradient_checkpointing: { type: 'boolean', group: 'model', describe: "recompute the actor's layers in its backward pass" },
  critic_gradient_checkpointing: { type: 'boolean', group: 'model', describe: "recompute the critic's layers in its backward pass" },
  unsupervised_dataset_name: { type: 'string', group: 'data', describe: 'a local text dataset (.txt/.json/.jsonl/.parquet file or folder, or a dataset in the HF cache) mixed in with --unsup_coef' },
  unsupervised_dataset_config_name: { type: 'string', group: 'data', describe: 'its config name (HF cache datasets)' },
  unsup_coef: { type: 'number', group: 'training', describe: "γ of InstructGPT's eq. 2: weight of the unsupervised loss" },
  max_answer_seq_len: { type: 'number', group: 'data', describe: 'new tokens per generated answer at most' },
  per_device_generation_batch_size: { type: 'number', group: 'training', describe: 'prompts per generation batch' },
  per_device_training_batch_size: { type: 'number', group: 'training', describe: 'rows per PPO micro-batch' },
  generation_batches: { type: 'number', group: 'training', describe: 'generation batches collected before each round of PPO training' },
  ppo_epochs: { type: 'number', group: 'training', describe: 'passes over each round of generated experience' },
  actor_learning_rate: { type: 'number', group: 'training', describe: "the actor's peak learning rate" },
  critic_learning_rate: { type: 'number', group: 'training', describe: "the critic's peak learning rate" },
  actor_weight_decay: { type: 'number', group: 'training', describe: "the actor's AdamW weight decay" },
  critic_weight_decay: { type: 'number', group: 'training', describe: "the critic's AdamW weight decay" },
  actor_lora_dim: { type: 'number', group: 'lora', describe: "LoRA rank of the actor (0 = none)" },
  actor_lora_module_name: { type: 'string', group: 'lora', describe: "the actor's LoRA goes into linear layers whose name contains this" },
  critic_lora_dim: { type: 'number', group: 'lora', describe: 'LoRA rank of the critic (0 = none)' },
  critic_lora_module_name: { type: 'string', group: 'lora', describe: "the critic's LoRA goes into linear layers whose name contains this" },
  actor_lora_learning_rate: { type: 'number', group: 'lora', describe: "learning rate of the actor's LoRA parameters" },
  critic_lora_learning_rate: { type: 'number', group: 'lora', describe: "learning rate of the critic's LoRA parameters" },
  enable_ema: { type: 'boolean', group: 'training', describe: 'keep an EMA copy of the actor (saved as actor_ema)' },
  ema_beta: { type: 'number', group: 'training', describe: "the EMA's beta (DeepSpeed-Chat: 0.992; an rlhfkit flag)" },
  print_answers: { type: 'boolean', group: 'logging', describe: 'print prompts and generated answers during training' },
  print_answers_interval: { type: 'number', group: 'logging', describe: 'with --print_answers, every this many steps' },
  enable_test_mode: { type: 'boolean', group: 'training', describe: 'stop after --test_stop_step steps' },
  test_stop_step: { type: 'number', group: 'training', describe: 'with --enable_test_mode, the step to stop at' },
  max_steps: { type: 'number', group: 'training', describe: 'stop after this many steps (prompt batches), saving as at the end' },
  placement: {
    type: 'string', group: 'backend', choices: PLACEMENTS,
    describe: "colocated: every role in this process's heap; per_role: each role in its own worker thread with its own backend and heap (the wasm backend's heap stops at 4 GiB); auto: per_role when the models need more than one heap",
  },
  frozen_dtype: {
    type: 'string', group: 'backend', choices: FROZEN_DTYPES,
    describe: "frozen weights (reference, reward model, the actor's and critic's base under LoRA) as bf16 outside the tensor heap, or fp32 (default: bf16 with --dtype bf16, else fp32)",
  },
  kl_ctl: { type: 'number', group: 'training', describe: 'KL penalty coefficient (DeepSpeed-Chat: 0.1); the start value with --kl_target' },
  clip_reward_value: { type: 'number', group: 'training', describe: 'reward scores are clipped to ± this' },
  cliprange: { type: 'number', group: 'training', describe: 'policy ratio clip ε' },
  cliprange_value: { type: 'number', group: 'training', describe: 'value clip around the old values' },
  gamma: { type: 'number', group: 'training', describe: 'discount γ' },
  lam: { type: 'number', group: 'training', describe: 'GAE λ' },
  kl_target: { type: 'number', group: 'training', describe: 'adaptive KL control: the KL per answer to steer to (default: fixed --kl_ctl)' },
  kl_horizon: { type: 'number', group: 'training', describe: 'adaptive KL control: the horizon (answers)' },
  whiten_rewards: { type: 'boolean', group: 'training', describe: 'whiten the reward scores over each generation batch' },
  whiten_advantages: { type: 'boolean', group: 'training', describe: "whiten the advantages over each micro-batch's answer tokens" },
  eos_penalty: { type: 'number', group: 'training', describe: 'subtract this from the score of an answer that never ends (no EOS within --max_answer_seq_len)' },
  do_sample: { type: 'boolean', group: 'training', describe: "sample rollouts (default: the actor's generation_config; greedy for OPT as in DeepSpeed-Chat)" },
  temperature: { type: 'number', group: 'training', describe: 'sampling temperature' },
  top_k: { type: 'number', group: 'training', describe: 'sampling: keep the k most likely tokens (0 = all)' },
  top_p: { type: 'number', group: 'training', describe: 'sampling: nucleus probability' },
  repetition_penalty: { type: 'number', group: 'training', describe: 'HF repetition penalty for rollouts' },
  advantage_estimator: { type: 'string', group: 'training', choices: ADVANTAGE_ESTIMATORS, describe: "gae (DeepSpeed-Chat's PPO with a critic), or critic-free grpo, rloo, reinforce_baseline" },
  n_samples_per_prompt: { type: 'number', group: 'training', describe: 'answers sampled per prompt (group estimators need 2 or more)' },
  kl_in_loss: { type: 'boolean', group: 'training', describe: "put the KL to the reference in the loss (GRPO's k3 form, weight --kl_ctl) instead of the rewards" },
  enable_hybrid_engine: { type: 'boolean', group: 'deepspeed', describe: "DeepSpeed's hybrid engine (rlhfkit always fuses LoRA for generation)", note: (v) => (v === true ? '--enable_hybrid_engine: rlhfkit always generates with LoRA fused into the weights and the KV cache; nothing else to switch on.' : null) },
  unpin_actor_parameters: { type: 'boolean', group: 'deepspeed', describe: 'hybrid engine memory option (no effect)', note: ds('unpin_actor_parameters') },
  release_inference_cache: { type: 'boolean', group: 'deepspeed', describe: 'hybrid engine memory option (no effect)', note: ds('release_inference_cache') },
  inference_tp_size: { type: 'number', group: 'deepspeed', describe: 'tensor parallelism for generation (no effect)', note: (v) => (typeof v === 'number' && v > 1 ? `--inference_tp_size ${v}: not used; rlhfkit generates in one process.` : null) },
  tp_gather_partition_size: { type: 'number', group: 'deepspeed', describe: 'hybrid engine option (no effect)' },
  offload_reference_model: { type: 'boolean', group: 'deepspeed', describe: 'ZeRO-Offload of the reference (no effect)', note: ds('offload_reference_model') },
  offload_reward_model: { type: 'boolean', group: 'deepspeed', describe: 'ZeRO-Offload of the reward model (no effect)', note: ds('offload_reward_model') },
  actor_zero_stage: { type: 'number', group: 'deepspeed', describe: 'ZeRO stage of the actor (no effect: step 3 keeps the whole state on every rank)', note: (v) => (typeof v === 'number' && v > 0 ? `--actor_zero_stage ${v}: not used; step 3 keeps the actor's whole optimizer state on every rank (stage 0); ZeRO 1/2 shard it in steps 1 and 2 (--zero_stage under mpirun).` : null) },
  critic_zero_stage: { type: 'number', group: 'deepspeed', describe: 'ZeRO stage of the critic (no effect: step 3 keeps the whole state on every rank)', note: (v) => (typeof v === 'number' && v > 0 ? `--critic_zero_stage ${v}: not used; step 3 keeps the critic's whole optimizer state on every rank (stage 0); ZeRO 1/2 shard it in steps 1 and 2 (--zero_stage under mpirun).` : null) },
  enable_mixed_precision_lora: { type: 'boolean', group: 'deepspeed', describe: 'ZeRO++ mixed-precision LoRA (no effect)', note: (v) => (v === true ? '--enable_mixed_precision_lora: not used; to hold the frozen base weights at half size use --frozen_dtype bf16.' : null) },
  align_overflow: { type: 'boolean', group: 'deepspeed', describe: 'align fp16 overflow skips of actor and critic (no effect)', note: (v) => (v === true ? '--align_overflow: not needed; rlhfkit trains in float32, which has no loss-scale overflow.' : null) },
};

/** Adds every step-3 flag to a yargs builder, defaults from PPO_DEFAULTS. */
export function addPpoFlags<T>(y: Argv<T>): Argv<T> {
  const { actorModelNameOrPath: _a, criticModelNameOrPath: _c, ...defaults } = PPO_DEFAULTS;
  let out = addDsChatFlags(y, PPO_SHARED_FLAGS, defaults as unknown as Record<string, unknown>);
  const d = PPO_DEFAULTS as unknown as Record<string, unknown>;
  for (const [name, f] of Object.entries(PPO_FLAGS)) {
    const key = name.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
    const opt: Options = { type: f.type, describe: f.describe, group: FLAG_GROUPS[f.group] };
    if (name.includes('_')) opt.alias = kebabCase(name);
    if (f.choices) opt.choices = [...f.choices];
    const def = d[key];
    if (def !== null && def !== undefined && def !== '') opt.default = def;
    out = out.option(name, opt) as Argv<T>;
  }
  return out;
}

/** The one-line notes for step-3 DeepSpeed flags given values rlhfkit cannot honour. */
export function ppoFlagNotes(args: Record<string, unknown>): string[] {
  const notes: string[] = [];
  for (const [name, f] of Object.entries(PPO_FLAGS)) {
    const n = f.note?.(args[name]);
    if (n) notes.push(n);
  }
  return notes;
}

/** The snake_case flag of a PpoConfig key. */
export function ppoFlagName(key: keyof PpoConfig): string {
  return camelToSnake(key);
}
