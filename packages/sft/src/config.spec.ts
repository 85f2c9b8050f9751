// SftConfig: DeepSpeed-Chat step 1's defaults (main.py's argparse) and validation errors that name the flag.
import { resolveSftConfig, SFT_DEFAULTS } from './config';
import { sftConfigFromArgs } from './cli';

describe('SftConfig', () => {
  test("defaults are DeepSpeed-Chat's step-1 main.py defaults", () => {
    // training/step1_supervised_finetuning/main.py parse_args(), value by value
    expect(SFT_DEFAULTS).toMatchObject({
      dataPath: ['Dahoas/rm-static'], dataSplit: '2,4,4', sftOnlyDataPath: [], dataOutputPath: '/tmp/data_files/',
      perDeviceTrainBatchSize: 16, perDeviceEvalBatchSize: 16, maxSeqLen: 512, learningRate: 1e-3, weightDecay: 0,
      numTrainEpochs: 1, gradientAccumulationSteps: 1, lrSchedulerType: 'cosine', numWarmupSteps: 0, seed: 1234,
      localRank: -1, gradientCheckpointing: false, dropout: null, offload: false, zeroStage: 0, loraDim: 0,
      loraModuleName: 'decoder.layers.', onlyOptimizeLora: false, loraLearningRate: 5e-4, computeFp32Loss: false,
      enableTensorboard: false, tensorboardPath: 'step1_tensorboard', addEotToken: false, eotToken: '<|endoftext|>', printLoss: false,
    });
  });

  test('resolveSftConfig fills defaults and keeps what was given', () => {
    const c = resolveSftConfig({ modelNameOrPath: 'm', loraDim: 8, dropout: 0.2 });
    expect(c.loraDim).toBe(8);
    expect(c.dropout).toBe(0.2);
    expect(c.learningRate).toBe(1e-3);
    expect(c.dataPath).toEqual(['Dahoas/rm-static']);
  });

  test.each([
    [{ modelNameOrPath: 'm', dataPath: [] }, /--data_path needs at least one dataset/],
    [{ modelNameOrPath: 'm', maxSeqLen: 1 }, /--max_seq_len must be an integer >= 2, got 1/],
    [{ modelNameOrPath: 'm', weightDecay: -1 }, /--weight_decay must be a number >= 0, got -1/],
    [{ modelNameOrPath: 'm', gradientAccumulationSteps: 0 }, /--gradient_accumulation_steps must be an integer >= 1, got 0/],
    [{ modelNameOrPath: 'm', dropout: 1.5 }, /--dropout must be in \[0, 1\), got 1.5/],
    [{ modelNameOrPath: 'm', saveSteps: -1 }, /--save_steps must be an integer >= 0, got -1/],
    [{ modelNameOrPath: 'm', dataSplit: '1,x,1' }, /--data_split '1,x,1': 'x' is not a non-negative number/],
  ])('rejects %p', (partial, message) => {
    expect(() => resolveSftConfig(partial)).toThrow(message);
  });

  test('sftConfigFromArgs maps the flags and leaves unset optional flags null', () => {
    const c = sftConfigFromArgs({ model_name_or_path: 'm', per_device_train_batch_size: 4, data_path: ['a', 'b'], lora_dim: 2 });
    expect(c.modelNameOrPath).toBe('m');
    expect(c.perDeviceTrainBatchSize).toBe(4);
    expect(c.dataPath).toEqual(['a', 'b']);
    expect(c.loraDim).toBe(2);
    expect(c.dropout).toBeNull();
    expect(c.resumeFromCheckpoint).toBeNull();
  });
});
