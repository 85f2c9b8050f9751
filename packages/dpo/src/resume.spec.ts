// DPO interrupted and resumed (full and LoRA, dropout on, accumulation 2) equals the uninterrupted run exactly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, LORA_RESUME_FILE } from '@rlhfkit/core-tensor';
import type { DpoConfig } from './config';
import { fastConfig, makeTempDir, QUIET, tinyOpt, useWasm } from './testing';
import { DpoTrainer } from './trainer';

// 400 pairs / 16 = 25 micro-batches, accumulation 2 -> 13 optimizer steps per epoch; compared over the first 8.
const STEPS = 8;
const STOP = 5;

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

  async function run(out: string, over: Partial<DpoConfig>, stopAfterSteps: number): Promise<{ losses: Map<number, number>; weights: Float32Array[] }> {
    const t = await DpoTrainer.create(fastConfig(model, out, cache, { gradientAccumulationSteps: 2, saveSteps: 3, dropout: 0.1, ...over }), { ...QUIET, stopAfterSteps });
    try {
      const r = await t.train();
      return { losses: r.losses, weights: [...t.policy.namedParameters().values()].map((v) => Float32Array.from(v.dataSync())) };
    } finally {
      t.dispose();
    }
  }

  const cases: [string, Partial<DpoConfig>][] = [
    ['full fine-tuning', {}],
    ['LoRA (r 4, only LoRA trained)', { loraDim: 4, onlyOptimizeLora: true, loraLearningRate: 1e-2 }],
  ];
  for (const [name, over] of cases) {
    test(`${name}: stopped after ${STOP} steps and resumed, each later step's loss and the weights equal the uninterrupted run`, async () => {
      const tag = over.loraDim ? 'lora' : 'full';
      const straight = await run(path.join(root, `${tag}-straight`), over, STEPS);
      const out = path.join(root, `${tag}-resumed`);
      const first = await run(out, over, STOP);
      expect([...first.losses.keys()]).toEqual([1, 2, 3, 4, 5]);
      expect(listCheckpoints(out).map((c) => c.step)).toEqual([3, 5]);
      const second = await run(out, { ...over, resumeFromCheckpoint: 'latest' }, STEPS);
      expect([...second.losses.keys()]).toEqual([6, 7, 8]);
      for (const [step, loss] of [...first.losses, ...second.losses]) expect(loss).toBe(straight.losses.get(step));
      second.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(straight.weights[i])));
      if (over.loraDim) expect(fs.existsSync(path.join(listCheckpoints(out)[1].dir, LORA_RESUME_FILE))).toBe(true);
    });
  }

  test('resuming with another beta or label smoothing is refused, naming the flags', async () => {
    const t = await DpoTrainer.create(
      fastConfig(model, path.join(root, 'full-resumed'), cache, { gradientAccumulationSteps: 2, dropout: 0.1, beta: 0.5, labelSmoothing: 0.1, resumeFromCheckpoint: 'latest' }),
      QUIET,
    );
    try {
      await expect(t.train()).rejects.toThrow(/cannot resume from .*checkpoint-8: --beta is 0.5 but the checkpoint's run used 0.1; --label_smoothing is 0.1 but the checkpoint's run used 0\./);
    } finally {
      t.dispose();
    }
  });
});
