// The shared training settings: defaults equal to the flags' (what --help shows), missing values filled, errors naming the flag.
import { DSCHAT_FLAGS, FlagError, snakeToCamel, type FlagSpec } from './flags';
import { TRAINING_DEFAULTS, validateTrainingConfig, withDefaults, type TrainingConfig } from './training-config';

const HINT = 'a model folder';

function valid(over: Partial<TrainingConfig> = {}): TrainingConfig {
  return withDefaults(TRAINING_DEFAULTS, { modelNameOrPath: 'm', ...over });
}

describe('TrainingConfig', () => {
  test('every shared setting with a flag default has the same default as the flag', () => {
    const checked: string[] = [];
    for (const [flag, spec] of Object.entries(DSCHAT_FLAGS) as [string, FlagSpec][]) {
      const key = snakeToCamel(flag);
      if (!(key in TRAINING_DEFAULTS) || spec.default === undefined) continue;
      expect([flag, TRAINING_DEFAULTS[key as keyof TrainingConfig]]).toEqual([flag, spec.default]);
      checked.push(flag);
    }
    expect(checked).toContain('learning_rate');
    expect(checked).toContain('pad_to');
    expect(checked).toContain('max_grad_norm');
    expect(checked.length).toBeGreaterThan(25);
  });

  test('withDefaults fills what is missing or undefined, keeps what is given, and copies arrays', () => {
    const c = withDefaults(TRAINING_DEFAULTS, { modelNameOrPath: 'm', loraDim: 4, seed: undefined });
    expect([c.modelNameOrPath, c.loraDim, c.seed]).toEqual(['m', 4, 1234]);
    expect(c.dataPath).toEqual(['Dahoas/rm-static']);
    expect(c.dataPath).not.toBe(TRAINING_DEFAULTS.dataPath);
    const given = ['a', 'b'];
    const d = withDefaults(TRAINING_DEFAULTS, { dataPath: given });
    expect(d.dataPath).toEqual(given);
    expect(d.dataPath).not.toBe(given);
  });

  test('the defaults with a model path are valid', () => {
    expect(() => validateTrainingConfig(valid(), HINT)).not.toThrow();
  });

  test.each([
    [{ modelNameOrPath: '' }, 'modelNameOrPath: --model_name_or_path is required: a model folder'],
    [{ dataPath: [] }, 'dataPath: --data_path needs at least one dataset name or folder, e.g. rlhfkit/demo; got []'],
    [{ maxSeqLen: 1 }, 'maxSeqLen: --max_seq_len must be an integer >= 2, got 1'],
    [{ padTo: 'shortest' as 'longest' }, 'padTo: --pad_to must be one of longest, max_length, got "shortest"'],
    [{ dropout: 1 }, 'dropout: --dropout must be in [0, 1), got 1'],
    [{ perDeviceEvalBatchSize: 0 }, 'perDeviceEvalBatchSize: --per_device_eval_batch_size must be an integer >= 1, got 0'],
    [{ learningRate: NaN }, 'learningRate: --learning_rate must be a number >= 0, got a value that is not a number'],
    [{ lrSchedulerType: 'warmup' as 'cosine' }, 'lrSchedulerType: --lr_scheduler_type must be one of linear, cosine, cosine_with_restarts, polynomial, constant, constant_with_warmup, inverse_sqrt, cosine_with_min_lr, got "warmup"'],
    [{ seed: -1 }, 'seed: --seed must be an integer >= 0, got -1'],
    [{ maxGradNorm: 0 }, 'maxGradNorm: --max_grad_norm must be a number > 0, got 0'],
    [{ onlyOptimizeLora: true }, 'onlyOptimizeLora: --only_optimize_lora needs --lora_dim > 0 (loraDim): without LoRA layers there would be nothing to train'],
    [{ saveTotalLimit: 0.5 }, 'saveTotalLimit: --save_total_limit must be an integer >= 0, got 0.5'],
  ])('rejects %p', (over, message) => {
    expect(() => validateTrainingConfig(valid(over), HINT)).toThrow(new FlagError(message));
  });
});
