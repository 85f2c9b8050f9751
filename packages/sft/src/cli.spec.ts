// `rlhfkit sft train|eval` and `rlhfkit init-model` through yargs: clear flag errors, DeepSpeed-only flags explained, a demo run end to end.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import { initModelCommand, sftCommand } from './cli';
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
      .command(sftCommand)
      .command(initModelCommand)
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

describe('rlhfkit sft CLI', () => {
  let root: string;
  let model: string;
  let common: string[];
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
    common = ['--model_name_or_path', model, '--data_path', TEST_DEMO, '--data_output_path', path.join(root, 'data'), '--output_dir', path.join(root, 'out')];
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const bad: [string, string[], RegExp][] = [
    ['no model', ['--data_path', 'rlhfkit/demo'], /--model_name_or_path is required/],
    ['batch size 0', ['--per_device_train_batch_size', '0'], /--per_device_train_batch_size must be an integer >= 1, got 0/],
    ['a learning rate that is not a number', ['--learning_rate', 'fast'], /--learning_rate must be a number >= 0, got a value that is not a number/],
    ['an unknown flag', ['--learning_rat', '1e-3'], /Unknown argument: learning_rat/],
    ['an unknown schedule', ['--lr_scheduler_type', 'step'], /Invalid values:\s+Argument: lr_scheduler_type, Given: "step"/],
    ['--only_optimize_lora without LoRA', ['--only_optimize_lora'], /--only_optimize_lora needs --lora_dim > 0/],
    ['a malformed --data_split', ['--data_split', '2,4'], /--data_split '2,4' has 2 part\(s\); expected 3/],
    ['a fractional epoch count', ['--num_train_epochs', '1.5'], /--num_train_epochs must be an integer >= 1, got 1.5/],
  ];
  for (const [what, flags, message] of bad) {
    test(`sft train with ${what} fails with a clear error`, async () => {
      const args = what === 'no model' ? flags : [...common, ...flags];
      const r = await cli(['sft', 'train', ...args]);
      expect(r.error?.message).toMatch(message);
    });
  }

  test('sft train runs a DeepSpeed-Chat style command line on the demo data, explaining the DeepSpeed-only flags once each', async () => {
    const r = await cli([
      'sft', 'train', ...common, '--max_seq_len', '32', '--per_device_train_batch_size', '32', '--per_device_eval_batch_size', '80',
      '--learning_rate', '3e-3', '--zero_stage', '2', '--dtype', 'bf16', '--offload', '--deepspeed', '--save_steps', '0', '--enable_tensorboard',
      '--tensorboard_path', path.join(root, 'tb'),
    ]);
    expect(r.error).toBeUndefined();
    const lines = r.err.split('\n');
    for (const flag of ['--zero_stage 2', '--dtype bf16', '--offload', '--deepspeed']) expect(lines.filter((l) => l.startsWith(`rlhfkit: ${flag}`))).toHaveLength(1);
    expect(r.err).toMatch(/sft: 800 train \/ 80 eval rows, 25 micro-batches per epoch, 25 optimizer steps/);
    const curve = /eval perplexity: epoch 0: ([\d.]+), epoch 1: ([\d.]+)/.exec(r.err);
    expect(curve).not.toBeNull();
    expect(Number(curve![2])).toBeLessThan(Number(curve![1]));
    expect(fs.existsSync(path.join(root, 'out', 'model.safetensors'))).toBe(true);
    expect(fs.readdirSync(path.join(root, 'out', 'checkpoints'))).toEqual(['checkpoint-25']);
    const tb = fs.readdirSync(path.join(root, 'tb', 'step1_model_tensorboard'));
    expect(tb.some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
  });

  test('sft eval prints the baseline and fine-tuned answers for a prompts file', async () => {
    const prompts = path.join(root, 'prompts.txt');
    fs.writeFileSync(prompts, 'Human: Say something about the sea. Assistant:\n\nHuman: Write a sentence. Assistant:\n');
    const r = await cli(['sft', 'eval', '--model_name_or_path_baseline', model, '--model_name_or_path_finetune', path.join(root, 'out'), '--prompts', prompts, '--max_new_tokens', '6', '--format', 'jsonl']);
    expect(r.error).toBeUndefined();
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; baseline: string[]; finetune: string[] });
    expect(rows.map((x) => x.prompt)).toEqual(['Human: Say something about the sea. Assistant:', 'Human: Write a sentence. Assistant:']);
    for (const row of rows) {
      expect(row.baseline[0].startsWith(row.prompt)).toBe(true);
      expect(row.finetune[0].startsWith(row.prompt)).toBe(true);
    }
  });

  test('sft eval refuses --num_return_sequences > 1 without sampling and explains --num_beams', async () => {
    const r = await cli(['sft', 'eval', '--model_name_or_path_baseline', model, '--model_name_or_path_finetune', model, '--num_return_sequences', '2', '--num_beams', '4']);
    expect(r.err).toMatch(/--num_beams 4 \/ --num_beam_groups 1: beam search is not implemented/);
    expect(r.error?.message).toMatch(/--num_return_sequences > 1 needs --do_sample/);
  });

  test('Ctrl-C (a real SIGINT to the rlhfkit process) stops at an optimizer step, leaves a checkpoint and exits 130', async () => {
    const out = path.join(root, 'interrupted');
    const bin = path.resolve(__dirname, '../../../apps/rlhfkit/bin/rlhfkit.js');
    const args = [bin, 'sft', 'train', ...common.slice(0, -1), out, '--num_train_epochs', '50', '--per_device_train_batch_size', '4', '--max_seq_len', '32', '--save_steps', '100000'];
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
    const m = /stopped at step (\d+)\/10000; continue with --resume_from_checkpoint latest/.exec(err);
    expect(m).not.toBeNull();
    expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual([`checkpoint-${m![1]}`]);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
  }, 90_000);

  test('init-model writes a model and will not overwrite one without --force', async () => {
    const dir = path.join(root, 'init');
    const a = await cli(['init-model', '--out', dir, '--hidden_size', '16', '--layers', '1', '--heads', '2', '--merges', '200']);
    expect(a.error).toBeUndefined();
    expect(a.err).toMatch(/wrote opt model to .*: \d+ parameters, vocab 464 \(tokenizer 457\)/);
    const b = await cli(['init-model', '--out', dir]);
    expect(b.error?.message).toMatch(/already holds a model \(config.json\); pass --force/);
  });

  test("init-model --chat_template rm-static writes DeepSpeed-Chat's Human:/Assistant: template, which chat renders as the training prompts", async () => {
    const dir = path.join(root, 'init-template');
    const a = await cli(['init-model', '--out', dir, '--hidden_size', '16', '--layers', '1', '--heads', '2', '--merges', '200', '--chat_template', 'rm-static']);
    expect(a.error).toBeUndefined();
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as { chat_template?: string };
    expect(cfg.chat_template).toContain('Human:');
    expect(cfg.chat_template).toContain('Assistant:');
    const file = path.join(root, 'template.jinja');
    fs.writeFileSync(file, '{% for m in messages %}{{ m.content }}{% endfor %}');
    const b = await cli(['init-model', '--out', path.join(root, 'init-template-file'), '--hidden_size', '16', '--layers', '1', '--heads', '2', '--merges', '200', '--chat_template', file]);
    expect(b.error).toBeUndefined();
    const cfg2 = JSON.parse(fs.readFileSync(path.join(root, 'init-template-file', 'tokenizer_config.json'), 'utf8')) as { chat_template?: string };
    expect(cfg2.chat_template).toBe('{% for m in messages %}{{ m.content }}{% endfor %}');
  });
});
