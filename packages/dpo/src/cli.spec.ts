// DpoConfig's DeepSpeed-Chat defaults and `rlhfkit dpo train|eval` through yargs: clear flag errors, DeepSpeed-only flags explained, a demo run end to end.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import { dpoCommand, dpoConfigFromArgs, dpoTrainOptions } from './cli';
import { DPO_DEFAULTS, resolveDpoConfig } from './config';
import type { DpoEvalReport } from './run-eval';
import { makeTempDir, tinyOpt, useWasm, TEST_DEMO } from './testing';

interface Captured {
  out: string;
  err: string;
  error?: Error;
}

async function cli(argv: string[]): Promise<Captured> {
  const c: Captured = { out: '', err: '' };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    c.out += String(chunk);
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    c.err += String(chunk);
    return true;
  });
  try {
    await yargs(argv)
      .command(dpoCommand)
      .strict()
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? new Error(msg);
      })
      .parseAsync();
  } catch (e) {
    c.error = e as Error;
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return c;
}

describe('DpoConfig', () => {
  test("defaults are DeepSpeed-Chat's step2_dpo_finetuning/main.py defaults", () => {
    // parse_args(), value by value (dtype: rlhfkit computes in fp32; output_dir: rlhfkit always saves)
    expect(DPO_DEFAULTS).toMatchObject({
      dataPath: ['Dahoas/rm-static'], dataSplit: '2,4,4', dataOutputPath: '/tmp/data_files/', perDeviceTrainBatchSize: 16,
      perDeviceEvalBatchSize: 16, maxSeqLen: 512, learningRate: 1e-3, weightDecay: 0, numTrainEpochs: 1, beta: 0.1, labelSmoothing: 0,
      gradientAccumulationSteps: 1, lrSchedulerType: 'cosine', numWarmupSteps: 0, seed: 1234, localRank: -1, gradientCheckpointing: false,
      dropout: null, offload: false, offloadReferenceModel: false, zeroStage: 0, loraDim: 0, loraModuleName: 'decoder.layers.',
      onlyOptimizeLora: false, loraLearningRate: 5e-4, computeFp32Loss: false, enableTensorboard: false, tensorboardPath: 'step2_tensorboard',
      addEotToken: false, printLoss: false,
    });
  });

  test('parsed flags: DeepSpeed-Chat names and kebab-case aliases, the last of a repeated flag wins', async () => {
    const args = await dpoTrainOptions(yargs(['--model_name_or_path', 'm', '--beta', '0.3', '--label-smoothing', '0.1', '--offload_reference_model', '--beta', '0.2']))
      .exitProcess(false)
      .parseAsync();
    const c = dpoConfigFromArgs(args as Record<string, unknown>);
    expect(c.beta).toBe(0.2);
    expect(c.labelSmoothing).toBe(0.1);
    expect(c.offloadReferenceModel).toBe(true);
    expect(c.learningRate).toBe(1e-3);
    expect(c.loraLearningRate).toBe(5e-4);
    expect(c.tensorboardPath).toBe('step2_tensorboard');
  });

  test.each([
    [{ beta: 0 }, /--beta must be a number > 0, got 0/],
    [{ labelSmoothing: 0.5 }, /--label_smoothing must be in \[0, 0.5\), got 0.5/],
    [{ evalInterval: -1 }, /--eval_interval must be an integer >= 0, got -1/],
    [{ modelNameOrPath: '' }, /--model_name_or_path is required: a step-1 output folder/],
  ])('resolveDpoConfig(%j) names the flag', (over, message) => {
    expect(() => resolveDpoConfig({ modelNameOrPath: 'm', ...over })).toThrow(message);
  });
});

describe('rlhfkit dpo CLI', () => {
  let root: string;
  let model: string;
  let common: string[];
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
    common = ['--model_name_or_path', model, '--data_path', TEST_DEMO, '--data_split', '9,1,0', '--data_output_path', path.join(root, 'data'), '--output_dir', path.join(root, 'out')];
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const bad: [string, string[], RegExp][] = [
    ['no model', ['--data_path', 'rlhfkit/demo'], /Missing required argument: model_name_or_path/],
    ['a negative beta', ['--beta', '-1'], /--beta must be a number > 0, got -1/],
    ['an unknown flag', ['--num_padding_at_beginning', '1'], /Unknown argument: num_padding_at_beginning/],
  ];
  for (const [what, flags, message] of bad) {
    test(`dpo train with ${what} fails with a clear error`, async () => {
      const r = await cli(['dpo', 'train', ...(what === 'no model' ? flags : [...common, ...flags])]);
      expect(r.error?.message).toMatch(message);
    });
  }

  test('dpo train runs a DeepSpeed-Chat style command line, explaining the DeepSpeed-only flags once each; dpo eval scores the result', async () => {
    const r = await cli([
      'dpo', 'train', ...common, '--max_seq_len', '48', '--per_device_train_batch_size', '16', '--per_device_eval_batch_size', '40',
      '--learning_rate', '1e-2', '--beta', '0.2', '--zero_stage', '2', '--dtype', 'fp16', '--offload_reference_model', '--deepspeed', '--save_steps', '0',
      '--enable_tensorboard', '--tensorboard_path', path.join(root, 'tb'),
    ]);
    expect(r.error).toBeUndefined();
    const lines = r.err.split('\n');
    for (const flag of ['--zero_stage 2', '--dtype fp16', '--offload_reference_model', '--deepspeed']) expect(lines.filter((l) => l.startsWith(`rlhfkit: ${flag}`))).toHaveLength(1);
    expect(r.err).toMatch(/dpo: policy .*tiny-opt, reference .*tiny-opt; 400 train \/ 40 eval pairs, 25 micro-batches per epoch, 25 optimizer steps; beta 0.2, label_smoothing 0/);
    expect(r.err).toMatch(/\*\*\*\*\* Evaluating rewards, Epoch 0\/1 \*\*\*\*\*\nchosen: 0, rejected: 0, loss: 0.693147\d*, acc: 0/);
    expect(r.err).toMatch(/eval reward accuracy: step 0: 0, step 25: 0\.\d+/);
    expect(fs.existsSync(path.join(root, 'out', 'model.safetensors'))).toBe(true);
    expect(fs.readdirSync(path.join(root, 'tb', 'step2_model_tensorboard')).some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);

    // The reference and beta come from the policy folder's rlhfkit_config.json.
    const e = await cli(['dpo', 'eval', '--model_name_or_path', path.join(root, 'out'), '--data_path', TEST_DEMO, '--data_split', '9,1,0',
      '--data_output_path', path.join(root, 'data'), '--max_seq_len', '48', '--per_device_eval_batch_size', '40', '--afinn_prompts', '3', '--max_new_tokens', '4', '--json', '--report_file', path.join(root, 'report.json')]);
    expect(e.error).toBeUndefined();
    const report = JSON.parse(e.out) as DpoEvalReport;
    expect(report.reference).toBe(model);
    expect(report.beta).toBe(0.2); // recorded by dpo train
    expect(report.eval.pairs).toBe(40);
    expect(report.eval.acc).toBeGreaterThan(0);
    expect(report.afinn?.policy.answers).toHaveLength(3);
    expect(report.afinn?.reference.prompts).toBe(3);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'report.json'), 'utf8'))).toEqual(report);
  });

  test('dpo eval without a recorded reference asks for --reference_model_name_or_path', async () => {
    const r = await cli(['dpo', 'eval', '--model_name_or_path', model]);
    expect(r.error?.message).toMatch(/has no rlhfkit_config.json of a dpo run naming its reference model; pass --reference_model_name_or_path/);
  });

  test('Ctrl-C (a real SIGINT to `rlhfkit dpo train`) stops at an optimizer step, leaves a checkpoint and exits 130', async () => {
    const out = path.join(root, 'interrupted');
    const bin = path.resolve(__dirname, '../../../apps/rlhfkit/bin/rlhfkit.js');
    const args = [bin, 'dpo', 'train', ...common.slice(0, -1), out, '--num_train_epochs', '50', '--per_device_train_batch_size', '4', '--max_seq_len', '32', '--save_steps', '100000'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!sent && /Beginning of Epoch 1\/50/.test(err)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 500);
      }
    });
    const code = await new Promise<number | string | null>((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
    expect(err).toMatch(/SIGINT: stopping after the current optimizer step and saving a checkpoint/);
    expect(code).toBe(130);
    const m = /stopped at step (\d+)\/5000; continue with --resume_from_checkpoint latest/.exec(err);
    expect(m).not.toBeNull();
    expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual([`checkpoint-${m![1]}`]);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  }, 90_000);
});
