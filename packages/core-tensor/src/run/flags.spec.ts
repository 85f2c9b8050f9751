// DeepSpeed-Chat flags through yargs: snake_case and kebab-case, step defaults, grouped --help, one note per unusable flag.
import yargs, { type Argv } from 'yargs';
import { addDsChatFlags, camelToSnake, checkFlag, configFromArgs, DATA_FLAG_NAMES, FlagError, snakeToCamel, TRAINING_FLAG_NAMES, unsupportedFlagNotes } from './flags';

function parse(argv: string[], defaults: Record<string, unknown> = {}): Record<string, unknown> {
  const y = addDsChatFlags(yargs(argv) as Argv, [...DATA_FLAG_NAMES, ...TRAINING_FLAG_NAMES], defaults).strict().fail((msg, err) => {
    throw err ?? new Error(msg);
  });
  return y.parseSync() as Record<string, unknown>;
}

describe('DeepSpeed-Chat flags', () => {
  test("DeepSpeed-Chat's own step-1 command line parses, with its defaults", () => {
    const a = parse([
      '--data_path', 'Dahoas/rm-static', 'Dahoas/full-hh-rlhf', '--data_split', '2,4,4', '--model_name_or_path', 'facebook/opt-1.3b',
      '--per_device_train_batch_size', '8', '--learning_rate', '9.65e-6', '--lr_scheduler_type', 'cosine', '--gradient_checkpointing',
      '--zero_stage', '2', '--deepspeed', '--output_dir', './out',
    ]);
    expect(a.data_path).toEqual(['Dahoas/rm-static', 'Dahoas/full-hh-rlhf']);
    expect(a.per_device_train_batch_size).toBe(8);
    expect(a.per_device_eval_batch_size).toBe(16);
    expect(a.learning_rate).toBe(9.65e-6);
    expect(a.max_seq_len).toBe(512);
    expect(a.weight_decay).toBe(0);
    expect(a.num_train_epochs).toBe(1);
    expect(a.lora_module_name).toBe('decoder.layers.');
    expect(a.lora_learning_rate).toBe(5e-4);
    expect(a.seed).toBe(1234);
    expect(a.gradient_checkpointing).toBe(true);
    expect(a.tensorboard_path).toBe('step1_tensorboard');
  });

  test('kebab-case aliases set the snake_case names', () => {
    const a = parse(['--per-device-train-batch-size', '4', '--lora-dim', '8', '--resume-from-checkpoint', 'latest']);
    expect(a.per_device_train_batch_size).toBe(4);
    expect(a.lora_dim).toBe(8);
    expect(a.resume_from_checkpoint).toBe('latest');
  });

  test("a step's defaults (camelCase keys) replace DeepSpeed-Chat's", () => {
    const a = parse([], { learningRate: 5e-5, tensorboard_path: 'step2_tensorboard' });
    expect(a.learning_rate).toBe(5e-5);
    expect(a.tensorboard_path).toBe('step2_tensorboard');
  });

  test('unknown flags and bad choices are errors that name the flag', () => {
    expect(() => parse(['--learning_rat', '1'])).toThrow(/Unknown arguments?: .*learning_rat/);
    expect(() => parse(['--lr_scheduler_type', 'warmup'])).toThrow(/lr_scheduler_type.*Given: "warmup"/s);
  });

  test('--help groups the flags', async () => {
    const help = await addDsChatFlags(yargs([]) as Argv, [...DATA_FLAG_NAMES, ...TRAINING_FLAG_NAMES]).getHelp();
    const sections = ['Data:', 'Model:', 'Training:', 'LoRA:', 'Checkpoints:', 'Logging:', 'Backend:', 'DeepSpeed flags'];
    const at = sections.map((s) => help.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect(help.indexOf('--zero_stage')).toBeGreaterThan(at[7]);
    expect(help.indexOf('--lora_dim')).toBeGreaterThan(at[3]);
  });

  test('flags rlhfkit cannot honour get one note each, only when set', () => {
    expect(unsupportedFlagNotes(parse([]))).toEqual([]);
    const notes = unsupportedFlagNotes(parse(['--zero_stage', '3', '--offload', '--dtype', 'bf16', '--local_rank', '0', '--deepspeed', '--compute_fp32_loss']));
    expect(notes).toHaveLength(6);
    expect(notes[0]).toMatch(/^--compute_fp32_loss: always on/);
    expect(notes.find((n) => n.startsWith('--zero_stage 3'))).toMatch(/not supported/);
    expect(notes.find((n) => n.startsWith('--dtype bf16'))).toMatch(/float32/);
    expect(notes.every((n) => !n.includes('\n'))).toBe(true);
  });

  test('configFromArgs maps snake_case flags onto camelCase config keys', () => {
    const cfg = configFromArgs({ perDeviceTrainBatchSize: 16, computeFp32Loss: false, loraDim: 0, notAFlag: 'x' }, { per_device_train_batch_size: 2, compute_fp32_loss: true });
    expect(cfg).toEqual({ perDeviceTrainBatchSize: 2, computeFp32Loss: true, loraDim: 0, notAFlag: 'x' });
    expect(snakeToCamel('compute_fp32_loss')).toBe('computeFp32Loss');
    expect(camelToSnake('computeFp32Loss')).toBe('compute_fp32_loss');
  });

  test('checkFlag errors say which flag, what it got and what it needs', () => {
    expect(() => checkFlag.int(0, 'per_device_train_batch_size', 1)).toThrow(new FlagError('perDeviceTrainBatchSize: --per_device_train_batch_size must be an integer >= 1, got 0'));
    expect(() => checkFlag.number(NaN, 'learning_rate', 0)).toThrow('--learning_rate must be a number >= 0, got a value that is not a number');
    expect(() => checkFlag.nonEmpty('', 'model_name_or_path', 'a model folder')).toThrow('--model_name_or_path is required: a model folder');
  });
});
