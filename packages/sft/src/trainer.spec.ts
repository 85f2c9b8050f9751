// SftTrainer on the demo data with a tiny OPT: perplexity falls, the saved HF folder reloads with identical logits, no leaks, NaN stops.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isGradientCheckpointingEnabled, loadPretrained, loadTokenizer, NonFiniteLossError, readMetrics, readSafetensorsHeader } from '@rlhfkit/core-tensor';
import { fastConfig, makeTempDir, QUIET, tinyOpt, useWasm } from './testing';
import { SftTrainer, type SftResult } from './trainer';

describe('SftTrainer', () => {
  let root: string;
  let model: string;
  let cache: string;
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
    cache = path.join(root, 'data');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  describe('one epoch on the demo data (50 steps)', () => {
    let trainer: SftTrainer;
    let result: SftResult;
    const counts: number[] = [];
    const out = (): string => path.join(root, 'run');
    beforeAll(async () => {
      trainer = await SftTrainer.create(fastConfig(model, out(), cache), { ...QUIET, onStep: () => counts.push(tf.memory().numTensors) });
      result = await trainer.train();
    });
    afterAll(() => trainer.dispose());

    test('uses DeepSpeed-Chat step 1: phase-1 rows of rlhfkit/demo, vocab padded to 8, AdamW betas (0.9, 0.95), cosine over all steps', () => {
      expect(trainer.datasets.train.length).toBe(800);
      expect(trainer.datasets.eval.length).toBe(80);
      expect(trainer.model.config.vocabSize).toBe(1264);
      expect(trainer.tokenizer.padTokenId).toBe(trainer.tokenizer.eosTokenId);
      expect(trainer.optimizer.groups.map((g) => [g.betas, g.weightDecay])).toEqual([[[0.9, 0.95], 0], [[0.9, 0.95], 0]]);
      expect(result.totalSteps).toBe(50);
      expect(result.status).toBe('completed');
      const lrs = readMetrics(path.join(out(), 'metrics.jsonl')).filter((r) => r['train/lr'] !== undefined).map((r) => r['train/lr'] as number);
      // warm-up 2 steps from 0, then a half cosine to 0 over the other 48: after k scheduler steps lr = 3e-3 * 0.5 * (1 + cos(pi * (k - 2) / 48))
      expect(lrs[0]).toBe(0);
      expect(lrs[1]).toBeCloseTo(1.5e-3, 12);
      expect(lrs[20]).toBeCloseTo(3e-3 * 0.5 * (1 + Math.cos((Math.PI * 18) / 48)), 12);
      expect(lrs[49]).toBeCloseTo(3e-3 * 0.5 * (1 + Math.cos((Math.PI * 47) / 48)), 12);
    });

    test('eval perplexity falls (before training vs after the epoch)', () => {
      const [before, after] = result.perplexities;
      expect(before.epoch).toBe(0);
      expect(after.epoch).toBe(1);
      // a random init is near-uniform over the 1264-token vocabulary
      expect(before.perplexity).toBeGreaterThan(900);
      expect(after.perplexity).toBeLessThan(before.perplexity / 5);
      expect(after.loss).toBeCloseTo(Math.log(after.perplexity), 10);
      process.stdout.write(`sft demo perplexity: ${before.perplexity.toFixed(1)} -> ${after.perplexity.toFixed(1)}\n`);
    });

    test('tf.memory().numTensors is flat across the 50 training steps', () => {
      expect(counts).toHaveLength(50);
      expect(new Set(counts).size).toBe(1);
    });

    test('the saved HF folder has config, weights, tokenizer, generation config and run config, and reloads with identical logits', async () => {
      const files = fs.readdirSync(out());
      for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'rlhfkit_config.json']) {
        expect(files).toContain(f);
      }
      const cfg = JSON.parse(fs.readFileSync(path.join(out(), 'config.json'), 'utf8'));
      expect(cfg.vocab_size).toBe(1264);
      expect(cfg.pad_token_id).toBe(cfg.eos_token_id);
      const header = readSafetensorsHeader(path.join(out(), 'model.safetensors'));
      expect(header.get('model.decoder.embed_tokens.weight')!.shape).toEqual([1264, 32]);
      expect([...header.keys()].some((k) => k.includes('lora'))).toBe(false);
      const run = JSON.parse(fs.readFileSync(path.join(out(), 'rlhfkit_config.json'), 'utf8'));
      expect(run.step).toBe('sft');
      expect(run.config.perDeviceTrainBatchSize).toBe(16);
      const reloaded = await loadPretrained(out());
      const tok = await loadTokenizer(out());
      const ids = [await tok.encode('Human: Write a sentence. Assistant: The whale')];
      trainer.model.eval();
      const [a, b] = [trainer.model.forward({ inputIds: ids }), reloaded.forward({ inputIds: ids })];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
      reloaded.dispose();
    });
  });

  test('--gradient_checkpointing trains the same steps (same losses, dropout masks replayed)', async () => {
    const losses: number[][] = [];
    for (const gradientCheckpointing of [false, true]) {
      const t = await SftTrainer.create(fastConfig(model, path.join(root, `gc-${gradientCheckpointing}`), cache, { gradientCheckpointing }), { ...QUIET, stopAfterSteps: 4 });
      try {
        expect(isGradientCheckpointingEnabled(t.model)).toBe(gradientCheckpointing);
        losses.push([...(await t.train()).losses.values()]);
      } finally {
        t.dispose();
      }
    }
    expect(losses[1]).toHaveLength(4);
    losses[1].forEach((l, i) => expect(l).toBeCloseTo(losses[0][i], 5));
  });

  test('--max_steps 3 stops after three optimizer steps, completed: checkpoint and final model saved as at the end', async () => {
    const out = path.join(root, 'max-steps');
    const t = await SftTrainer.create(fastConfig(model, out, cache, { maxSteps: 3 }), QUIET);
    try {
      const r = await t.train();
      expect(r.status).toBe('completed');
      expect([...r.losses.keys()]).toEqual([1, 2, 3]);
      expect(r.totalSteps).toBe(3);
      expect(r.lastCheckpoint).toMatch(/checkpoint-3$/);
      expect(fs.existsSync(path.join(out, 'config.json'))).toBe(true);
    } finally {
      t.dispose();
    }
  });

  test('a NaN loss stops training with an error naming the step, and no final model is saved', async () => {
    const out = path.join(root, 'nan');
    const t = await SftTrainer.create(fastConfig(model, out, cache, { saveSteps: 2 }), {
      ...QUIET,
      onStep: (info, tr) => {
        if (info.step === 3) {
          const w = tr.model.namedParameters().get('model.decoder.layers.0.fc1.weight')!;
          w.assign(tf.fill(w.shape, NaN));
        }
      },
    });
    try {
      const err = await t.train().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NonFiniteLossError);
      expect((err as Error).message).toMatch(/^the loss is NaN at step 4 \(epoch 1, micro-batch 4\)/);
      expect(fs.existsSync(path.join(out, 'model.safetensors'))).toBe(false);
      expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual(['checkpoint-2']);
    } finally {
      t.dispose();
    }
  });
});
