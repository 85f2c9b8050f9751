// Step 1 interrupted and resumed (full fine-tuning and LoRA, dropout on, accumulation 2) equals the uninterrupted run exactly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { listCheckpoints, loadPretrained, LORA_RESUME_FILE, readSafetensorsHeader } from '@rlhfkit/core-tensor';
import type { SftConfig } from './config';
import { fastConfig, makeTempDir, QUIET, tinyOpt, useWasm } from './testing';
import { SftTrainer } from './trainer';

// 800 rows / 16 = 50 micro-batches, accumulation 2 -> 25 optimizer steps per epoch; compared over the first 10.
const STEPS = 10;
const STOP = 6;

describe('resume', () => {
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

  async function run(out: string, over: Partial<SftConfig>, stopAfterSteps: number): Promise<{ losses: Map<number, number>; weights: Float32Array[] }> {
    const t = await SftTrainer.create(fastConfig(model, out, cache, { gradientAccumulationSteps: 2, saveSteps: 3, ...over }), { ...QUIET, stopAfterSteps });
    try {
      const r = await t.train();
      return { losses: r.losses, weights: [...t.model.namedParameters().values()].map((v) => Float32Array.from(v.dataSync())) };
    } finally {
      t.dispose();
    }
  }

  const cases: [string, Partial<SftConfig>][] = [
    ['full fine-tuning', {}],
    ['LoRA (r 4, only LoRA trained)', { loraDim: 4, onlyOptimizeLora: true, loraLearningRate: 1e-2 }],
  ];
  for (const [name, over] of cases) {
    test(`${name}: stopped after ${STOP} steps and resumed, each later step's loss and the weights equal the uninterrupted run`, async () => {
      const tag = over.loraDim ? 'lora' : 'full';
      const straight = await run(path.join(root, `${tag}-straight`), over, STEPS);
      const out = path.join(root, `${tag}-resumed`);
      const first = await run(out, over, STOP);
      expect([...first.losses.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
      expect(listCheckpoints(out).map((c) => c.step)).toEqual([3, 6]);
      const second = await run(out, { ...over, resumeFromCheckpoint: 'latest' }, STEPS);
      expect([...second.losses.keys()]).toEqual([7, 8, 9, 10]);
      for (const [step, loss] of [...first.losses, ...second.losses]) expect(loss).toBe(straight.losses.get(step));
      expect(second.weights.length).toBe(straight.weights.length);
      second.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(straight.weights[i])));
      if (over.loraDim) {
        const ck = listCheckpoints(out)[1].dir;
        expect(fs.existsSync(path.join(ck, LORA_RESUME_FILE))).toBe(true);
        expect([...readSafetensorsHeader(path.join(ck, 'model.safetensors')).keys()].some((k) => k.includes('lora'))).toBe(false);
      }
    });
  }

  test('resuming with a different batch size or seed is refused, naming the flags', async () => {
    const t = await SftTrainer.create(
      fastConfig(model, path.join(root, 'full-resumed'), cache, { gradientAccumulationSteps: 2, perDeviceTrainBatchSize: 8, seed: 7, resumeFromCheckpoint: 'latest' }),
      QUIET,
    );
    try {
      await expect(t.train()).rejects.toThrow(
        /cannot resume from .*checkpoint-10: --seed is 7 but the checkpoint's run used 1234; --per_device_train_batch_size is 8 but the checkpoint's run used 16\. Resume with the same values/,
      );
    } finally {
      t.dispose();
    }
  });

  test('LoRA: the fused save (no LoRA tensors) gives the same logits as the unfused model', async () => {
    const out = path.join(root, 'lora-save');
    const t = await SftTrainer.create(fastConfig(model, out, cache, { loraDim: 4, loraLearningRate: 1e-2 }), { ...QUIET, stopAfterSteps: 5 });
    try {
      await t.train();
      // LoRA with --lora_dim 4 on every decoder linear; without --only_optimize_lora the rest trains too (DeepSpeed-Chat).
      expect([...t.trainable.keys()].filter((k) => k.includes('lora')).length).toBe(2 * 2 * 6);
      expect(t.trainable.has('model.decoder.layers.0.fc1.weight')).toBe(false);
      expect(t.trainable.has('model.decoder.embed_tokens.weight')).toBe(true);
      const dir = path.join(out, 'final');
      await t.save(dir);
      const keys = [...readSafetensorsHeader(path.join(dir, 'model.safetensors')).keys()];
      expect(keys.some((k) => k.includes('lora'))).toBe(false);
      const fused = await loadPretrained(dir);
      t.model.eval();
      const ids = [[50, 200, 7, 900, 1256, 3, 44, 600]];
      const [a, b] = [t.model.forward({ inputIds: ids }), fused.forward({ inputIds: ids })];
      const [x, y] = [a.dataSync(), b.dataSync()];
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
      expect(worst).toBeLessThan(1e-5);
      // the LoRA branch is not a no-op after training: without it the logits differ
      const base = await loadPretrained(model);
      const c = base.forward({ inputIds: ids });
      let moved = 0;
      const z = c.dataSync();
      for (let i = 0; i < x.length; i++) moved = Math.max(moved, Math.abs(x[i] - z[i]));
      expect(moved).toBeGreaterThan(1e-3);
      tf.dispose([a, b, c]);
      fused.dispose();
      base.dispose();
    } finally {
      t.dispose();
    }
  });
});
