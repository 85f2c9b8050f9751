// DeepSpeed-Chat's command-line flags for yargs, shared by every step: names, defaults, --help groups, and the ones rlhfkit only accepts.
import type { Argv, Options } from 'yargs';
import { BACKEND_CHOICES } from '../backend/init-backend';
import { resolveZeroStage } from '../dist/data-parallel';
import { worldFromEnv } from '../dist/world';
import { SCHEDULE_NAMES } from '../train/lr-schedule';
import { flagRules, type FlagRule } from './cli-checks';

/** The --help sections, in the order they are printed. */
export const FLAG_GROUPS = {
  data: 'Data:',
  model: 'Model:',
  training: 'Training:',
  lora: 'LoRA:',
  checkpoints: 'Checkpoints:',
  logging: 'Logging:',
  backend: 'Backend:',
  deepspeed: 'DeepSpeed flags (accepted for compatibility, see notes printed at start):',
} as const;
export type FlagGroup = keyof typeof FLAG_GROUPS;

/** One flag: a yargs option plus its --help group and, for flags rlhfkit cannot honour, why. */
export interface FlagSpec {
  type: 'string' | 'number' | 'boolean';
  describe: string;
  group: FlagGroup;
  array?: boolean;
  choices?: readonly (string | number)[];
  default?: unknown;
  /** For number flags: the values allowed, checked when the command line is parsed (see flagRules). */
  rule?: FlagRule;
  /**
   * For accepted-but-not-honoured flags: the note printed (once) when the flag is given a value that would
   * matter in DeepSpeed-Chat; null when the value needs no note.
   */
  unsupported?: (value: unknown) => string | null;
}

/** Every DeepSpeed-Chat flag any step shares, with DeepSpeed-Chat's defaults (a step may override them). */
export const DSCHAT_FLAGS = {
  // ---- data
  data_path: { type: 'string', array: true, default: ['Dahoas/rm-static'], group: 'data', describe: 'dataset names or folders (several are blended), e.g. rlhfkit/demo, Dahoas/rm-static, local/jsonfile' },
  data_split: { type: 'string', default: '2,4,4', group: 'data', describe: 'proportions of each dataset for steps 1,2,3, e.g. 2,4,4' },
  sft_only_data_path: { type: 'string', array: true, default: [], group: 'data', describe: 'datasets used whole, in step 1 only' },
  data_output_path: { type: 'string', default: '/tmp/data_files/', group: 'data', describe: 'where the tokenized datasets are cached' },
  data_dir: { type: 'string', default: './data', group: 'data', describe: 'folder with train.json/eval.json for local/jsonfile' },
  max_seq_len: { type: 'number', rule: { int: true, min: 2 }, default: 512, group: 'data', describe: 'maximum sequence length (longer rows are truncated)' },
  max_prompt_seq_len: { type: 'number', rule: { int: true, min: 1 }, default: 256, group: 'data', describe: 'maximum prompt length (step 3)' },
  add_eot_token: { type: 'boolean', default: false, group: 'data', describe: 'add --eot_token to the tokenizer as a special token' },
  eot_token: { type: 'string', default: '<|endoftext|>', group: 'data', describe: 'the end-of-text token --add_eot_token adds' },
  pad_to: {
    type: 'string', default: 'longest', choices: ['longest', 'max_length'], group: 'data',
    describe: "pad each batch to its 'longest' row (same loss, faster) or to --max_seq_len as DeepSpeed-Chat (an rlhfkit addition)",
  },
  // ---- model
  model_name_or_path: { type: 'string', group: 'model', describe: 'model folder, or a hub name found in the local Hugging Face cache' },
  dropout: { type: 'number', rule: { min: 0, max: 1, maxExclusive: true }, group: 'model', describe: "set the model's dropout / attention_dropout / activation_dropout (default: keep the config's)" },
  gradient_checkpointing: { type: 'boolean', default: false, group: 'model', describe: 'recompute each decoder layer in the backward pass (less memory, more time)' },
  strict: {
    type: 'boolean', default: false, group: 'model',
    describe: "fail when the model's weights hold tensors its config.json does not use (default: warn, naming them, as transformers does)",
  },
  // ---- training
  per_device_train_batch_size: { type: 'number', rule: { int: true, min: 1 }, default: 16, group: 'training', describe: 'micro-batch size for training' },
  per_device_eval_batch_size: { type: 'number', rule: { int: true, min: 1 }, default: 16, group: 'training', describe: 'batch size for evaluation' },
  learning_rate: { type: 'number', rule: { min: 0 }, default: 1e-3, group: 'training', describe: 'peak learning rate (after warm-up)' },
  weight_decay: { type: 'number', rule: { min: 0 }, default: 0, group: 'training', describe: 'AdamW weight decay (biases and norm weights never decay)' },
  num_train_epochs: { type: 'number', rule: { int: true, min: 1 }, default: 1, group: 'training', describe: 'passes over the training data' },
  gradient_accumulation_steps: { type: 'number', rule: { int: true, min: 1 }, default: 1, group: 'training', describe: 'micro-batches per optimizer step' },
  lr_scheduler_type: { type: 'string', default: 'cosine', choices: SCHEDULE_NAMES, group: 'training', describe: 'learning-rate schedule over ceil(batches/accumulation) x epochs updates' },
  num_warmup_steps: { type: 'number', rule: { int: true, min: 0 }, default: 0, group: 'training', describe: 'linear warm-up steps of the schedule' },
  seed: { type: 'number', rule: { int: true, min: 0 }, default: 1234, group: 'training', describe: 'seed for the data split, data order, initialisation and dropout' },
  output_dir: { type: 'string', group: 'training', describe: 'where the model, checkpoints and metrics.jsonl go (one run at a time: a live run holds a lock there)' },
  overwrite_output_dir: {
    type: 'boolean', default: false, group: 'training',
    describe: "start a fresh run in an --output_dir that holds a previous run's checkpoints or model, deleting its checkpoints and metrics (transformers' flag)",
  },
  max_grad_norm: { type: 'number', rule: { min: 0, minExclusive: true }, default: 1.0, group: 'training', describe: 'gradient clipping by global norm (DeepSpeed-Chat: 1.0; an rlhfkit flag)' },
  max_steps: { type: 'number', rule: { int: true, min: 1 }, group: 'training', describe: 'stop after this many optimizer steps, saving as at the end of training (an rlhfkit flag)' },
  compute_fp32_loss: {
    type: 'boolean', default: false, group: 'training', describe: 'compute the loss in float32 (always the case in rlhfkit)',
    unsupported: (v) => (v === true ? '--compute_fp32_loss: always on in rlhfkit, which computes everything in float32.' : null),
  },
  // ---- LoRA
  lora_dim: { type: 'number', rule: { int: true, min: 0 }, default: 0, group: 'lora', describe: 'LoRA rank; > 0 adds LoRA to the linear layers matching --lora_module_name' },
  lora_module_name: { type: 'string', default: 'decoder.layers.', group: 'lora', describe: 'LoRA goes into linear layers whose name contains this' },
  only_optimize_lora: { type: 'boolean', default: false, group: 'lora', describe: 'train only the LoRA weights (the base weights are frozen)' },
  lora_learning_rate: { type: 'number', rule: { min: 0 }, default: 5e-4, group: 'lora', describe: 'learning rate of the LoRA parameter group' },
  // ---- checkpoints (rlhfkit additions: DeepSpeed-Chat has none)
  save_steps: { type: 'number', rule: { int: true, min: 0 }, default: 500, group: 'checkpoints', describe: 'save a resumable checkpoint every N optimizer steps (0: only at the end of each epoch)' },
  save_total_limit: { type: 'number', rule: { int: true, min: 0 }, default: 2, group: 'checkpoints', describe: 'keep only the newest N checkpoints' },
  resume_from_checkpoint: { type: 'string', group: 'checkpoints', describe: "continue a run from a checkpoint folder, or 'latest' under --output_dir" },
  // ---- logging
  enable_tensorboard: { type: 'boolean', default: false, group: 'logging', describe: 'also write TensorBoard event files' },
  tensorboard_path: { type: 'string', default: 'step1_tensorboard', group: 'logging', describe: 'folder for the TensorBoard event files' },
  print_loss: { type: 'boolean', default: false, group: 'logging', describe: 'print the loss of every micro-batch' },
  // ---- backend
  backend: { type: 'string', choices: BACKEND_CHOICES, group: 'backend', describe: 'compute backend (default: env RLHFKIT_BACKEND, else auto = node-gpu > node > wasm > cpu)' },
  threads: { type: 'number', rule: { int: true, min: 1 }, group: 'backend', describe: 'compute threads (default: env RLHFKIT_THREADS, else every CPU this process may use)' },
  // ---- DeepSpeed engine flags: accepted so that DeepSpeed-Chat scripts run unchanged
  zero_stage: {
    type: 'number', rule: { int: true, min: 0, max: 3 }, group: 'deepspeed',
    describe: 'ZeRO stage of a data-parallel run (mpirun): 1 shards the AdamW state across ranks, 2 also the gradients; 3 runs as 2',
    unsupported: (v) => (typeof v === 'number' && v > 0 ? resolveZeroStage(v, worldFromEnv().size).note : null),
  },
  offload: {
    type: 'boolean', group: 'deepspeed', describe: 'ZeRO-Offload (no effect: state already lives in host memory)',
    unsupported: (v) => (v === true ? '--offload: not used; ZeRO-Offload moves optimizer state from GPU to CPU memory, and rlhfkit already keeps it in host memory.' : null),
  },
  dtype: {
    type: 'string', choices: ['fp16', 'bf16', 'fp32'], group: 'deepspeed', describe: 'training dtype (rlhfkit computes in fp32)',
    unsupported: (v) => (v === 'fp16' || v === 'bf16' ? `--dtype ${v}: not used; rlhfkit trains in float32 (TensorFlow.js has no ${v} training), so runs need about twice the memory of a DeepSpeed ${v} run.` : null),
  },
  local_rank: {
    type: 'number', rule: { int: true, min: -1 }, group: 'deepspeed', describe: 'torch.distributed rank (no effect)',
    unsupported: (v) => (typeof v === 'number' && v >= 0 ? `--local_rank ${v}: not used; the ranks of a data-parallel run come from mpirun (Open MPI's OMPI_COMM_WORLD_* variables; see rlhfkit launch).` : null),
  },
  deepspeed: {
    type: 'boolean', group: 'deepspeed', describe: 'enable the DeepSpeed engine (no effect)',
    unsupported: (v) => (v === true ? '--deepspeed: not used; rlhfkit has its own training loop (AdamW, schedule, clipping and accumulation as DeepSpeed-Chat configures them).' : null),
  },
  deepspeed_config: {
    type: 'string', group: 'deepspeed', describe: 'DeepSpeed JSON config (not read)',
    unsupported: (v) => (typeof v === 'string' && v !== '' ? `--deepspeed_config ${v}: not read; set batch sizes, accumulation and the optimizer with rlhfkit's flags instead.` : null),
  },
} satisfies Record<string, FlagSpec>;

export type DsChatFlagName = keyof typeof DSCHAT_FLAGS;

/** Every flag of the shared training loop (what steps 1 and 2 both take), data flags excluded. */
export const TRAINING_FLAG_NAMES: readonly DsChatFlagName[] = [
  'model_name_or_path', 'dropout', 'gradient_checkpointing', 'strict',
  'per_device_train_batch_size', 'per_device_eval_batch_size', 'learning_rate', 'weight_decay', 'num_train_epochs',
  'gradient_accumulation_steps', 'lr_scheduler_type', 'num_warmup_steps', 'seed', 'output_dir', 'overwrite_output_dir', 'compute_fp32_loss', 'max_grad_norm',
  'max_steps', 'lora_dim', 'lora_module_name', 'only_optimize_lora', 'lora_learning_rate',
  'save_steps', 'save_total_limit', 'resume_from_checkpoint',
  'enable_tensorboard', 'tensorboard_path', 'print_loss',
  'backend', 'threads',
  'zero_stage', 'offload', 'dtype', 'local_rank', 'deepspeed', 'deepspeed_config',
];

/** The data flags steps 1 and 2 take. */
export const DATA_FLAG_NAMES: readonly DsChatFlagName[] = [
  'data_path', 'data_split', 'sft_only_data_path', 'data_output_path', 'data_dir', 'max_seq_len', 'add_eot_token', 'eot_token', 'pad_to',
];

/** `data_path` -> `data-path`. */
export function kebabCase(name: string): string {
  return name.replace(/_/g, '-');
}

/** `data_path` -> `dataPath`. */
export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `dataPath` -> `data_path`. */
export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The yargs option of one flag: snake_case name, kebab-case alias, its group, and a default (spec's unless overridden). */
export function flagOption(name: DsChatFlagName, defaultValue?: unknown): Options {
  const spec: FlagSpec = DSCHAT_FLAGS[name];
  const opt: Options = { type: spec.type, describe: spec.describe, group: FLAG_GROUPS[spec.group] };
  if (name.includes('_')) opt.alias = kebabCase(name);
  if (spec.array) opt.array = true;
  if (spec.choices) opt.choices = [...spec.choices];
  const d = defaultValue !== undefined ? defaultValue : spec.default;
  if (d !== undefined && d !== null && d !== '') opt.default = d;
  return opt;
}

/**
 * Adds flags to a yargs builder. `defaults` (camelCase or snake_case keys, e.g. a step's config defaults)
 * replace DeepSpeed-Chat's where a step differs, so --help shows the values the step really uses.
 */
export function addDsChatFlags<T>(y: Argv<T>, names: readonly DsChatFlagName[], defaults: Record<string, unknown> = {}): Argv<T> {
  let out = y;
  const rules: Record<string, FlagRule> = {};
  for (const name of names) {
    const d = defaults[name] !== undefined ? defaults[name] : defaults[snakeToCamel(name)];
    out = out.option(name, flagOption(name, d)) as Argv<T>;
    const rule = (DSCHAT_FLAGS[name] as FlagSpec).rule;
    if (rule) rules[name] = rule;
  }
  // Ranges are checked as the command line is parsed, so a bad value fails before any data or model loads.
  return Object.keys(rules).length ? (out.check(flagRules(rules)) as Argv<T>) : out;
}

/** The one-line notes for flags given values rlhfkit cannot honour (zero_stage, offload, fp16, ...). */
export function unsupportedFlagNotes(args: Record<string, unknown>): string[] {
  const notes: string[] = [];
  for (const [name, spec] of Object.entries(DSCHAT_FLAGS) as [string, FlagSpec][]) {
    if (!spec.unsupported) continue;
    const note = spec.unsupported(args[name]);
    if (note) notes.push(note);
  }
  return notes;
}

/** Prints unsupportedFlagNotes, one line each, and returns them. */
export function explainUnsupportedFlags(args: Record<string, unknown>, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string[] {
  const notes = unsupportedFlagNotes(args);
  for (const n of notes) log(`rlhfkit: ${n}`);
  return notes;
}

/**
 * A config object from parsed flags: each key of `defaults` (camelCase) takes the value of its snake_case flag
 * when the flag was given or has a yargs default, else keeps the default. Keys with no flag keep their default.
 * Arrays are copied, so the config never shares one with the defaults (yargs hands defaults back as they are).
 */
export function configFromArgs<C extends object>(defaults: C, args: Record<string, unknown>): C {
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(defaults)) {
    const given: unknown = args[camelToSnake(key)];
    const v = given !== undefined ? given : d;
    out[key] = Array.isArray(v) ? [...(v as unknown[])] : v;
  }
  return out as C;
}

/** `data_path` -> `dataPath: --data_path`: how a message names a setting for library and command-line users alike. */
export function optionLabel(flag: string): string {
  return `${snakeToCamel(flag)}: --${flag}`;
}

/** A flag value a user can fix: names the flag, what it got and what it needs. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/**
 * Checks for config values; each throws a FlagError naming the option as the library takes it and as the flag
 * (`learningRate: --learning_rate must be ...`), so the message fits both a config object and a command line.
 */
export const checkFlag = {
  int(value: number, flag: string, min: number): void {
    if (!Number.isInteger(value) || value < min) throw new FlagError(`${optionLabel(flag)} must be an integer >= ${min}, got ${formatValue(value)}`);
  },
  number(value: number, flag: string, min: number, exclusiveMin = false): void {
    const ok = Number.isFinite(value) && (exclusiveMin ? value > min : value >= min);
    if (!ok) throw new FlagError(`${optionLabel(flag)} must be a number ${exclusiveMin ? '>' : '>='} ${min}, got ${formatValue(value)}`);
  },
  oneOf<T extends string>(value: string, flag: string, choices: readonly T[]): T {
    if (!(choices as readonly string[]).includes(value)) throw new FlagError(`${optionLabel(flag)} must be one of ${choices.join(', ')}, got ${formatValue(value)}`);
    return value as T;
  },
  nonEmpty(value: string | null | undefined, flag: string, hint: string): string {
    if (typeof value !== 'string' || value.trim() === '') throw new FlagError(`${optionLabel(flag)} is required: ${hint}`);
    return value;
  },
};

function formatValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'a value that is not a number' : String(v);
  return JSON.stringify(v) ?? String(v);
}
