// RewardConfig: DeepSpeed-Chat step 2's defaults (main.py's argparse), filled in for missing values, and errors that name the flag.
import { REWARD_DEFAULTS, resolveRewardConfig } from './config';

describe('RewardConfig', () => {
  test("defaults are DeepSpeed-Chat's step-2 main.py defaults where rlhfkit keeps them", () => {
    // training/step2_reward_model_finetuning/main.py parse_args(), value by value
    expect(REWARD_DEFAULTS).toMatchObject({
      dataPath: ['Dahoas/rm-static'], dataSplit: '2,4,4', dataOutputPath: '/tmp/data_files/', perDeviceTrainBatchSize: 16,
      perDeviceEvalBatchSize: 16, maxSeqLen: 512, learningRate: 5e-5, weightDecay: 0, numTrainEpochs: 1, gradientAccumulationSteps: 1,
      lrSchedulerType: 'cosine', numWarmupSteps: 0, outputDir: null, seed: 1234, gradientCheckpointing: false, dropout: null, loraDim: 0,
      loraModuleName: 'decoder.layers.', onlyOptimizeLora: false, loraLearningRate: 5e-4, evalInterval: 0, evalIters: 100,
      enableTensorboard: false, tensorboardPath: 'step2_tensorboard', addEotToken: false, printLoss: false,
    });
    // rlhfkit detects num_padding_at_beginning from the tokenizer instead of DeepSpeed-Chat's fixed 1.
    expect(REWARD_DEFAULTS.numPaddingAtBeginning).toBeNull();
  });

  test('resolveRewardConfig fills defaults (undefined counts as missing) and keeps what was given', () => {
    const c = resolveRewardConfig({ modelNameOrPath: 'm', evalInterval: 5, seed: undefined });
    expect([c.evalInterval, c.seed, c.learningRate]).toEqual([5, 1234, 5e-5]);
    expect(c.dataPath).not.toBe(REWARD_DEFAULTS.dataPath);
  });

  test.each([
    [{}, /--model_name_or_path is required: a step-1 output folder/],
    [{ modelNameOrPath: 'm', evalInterval: -1 }, /--eval_interval must be an integer >= 0, got -1/],
    [{ modelNameOrPath: 'm', evalIters: 0 }, /--eval_iters must be an integer >= 1, got 0/],
    [{ modelNameOrPath: 'm', numPaddingAtBeginning: 0.5 }, /--num_padding_at_beginning must be an integer >= 0, got 0.5/],
    [{ modelNameOrPath: 'm', initValueHead: 'random' as 'zeros' }, /--init_value_head must be linear or zeros, got random/],
    [{ modelNameOrPath: 'm', dataSplit: '2,4' }, /--data_split '2,4'/],
    [{ modelNameOrPath: 'm', maxGradNorm: 0 }, /--max_grad_norm must be a number > 0, got 0/],
  ])('rejects %p', (partial, message) => {
    expect(() => resolveRewardConfig(partial)).toThrow(message);
  });
});
