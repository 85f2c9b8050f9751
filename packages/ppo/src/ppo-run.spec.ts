// A whole step-3 run on tiny models: outputs, metrics, and a resume that continues with exactly the same numbers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadPretrained, readMetrics } from '@rlhfkit/core-tensor';
import { loadRewardModel } from '@rlhfkit/reward';
import { useBackend } from '../../core-tensor/src/testing/backends';
import type { PpoConfig } from './config';
import { PpoTrainer } from './ppo-trainer';
import { makeTinyRlhfModels, type TinyRlhfModels } from './testing';

const quiet = { log: () => undefined, progressStream: { write: () => true }, handleSignals: false };

describe('a step-3 run on tiny models [wasm]', () => {
  useBackend('wasm');
  let models: TinyRlhfModels;
  let base: Partial<PpoConfig>;
  beforeAll(async () => {
    models = await makeTinyRlhfModels();
    const text = path.join(models.root, 'unsup.txt');
    fs.writeFileSync(text, Array.from({ length: 40 }, (_, i) => `Line ${i} of plain text for the language-model loss, with words.`).join('\n'));
    base = {
      actorModelNameOrPath: models.actor,
      criticModelNameOrPath: models.critic,
      dataPath: ['rlhfkit/demo'],
      dataOutputPath: path.join(models.root, 'data_files'),
      perDeviceGenerationBatchSize: 4,
      perDeviceTrainingBatchSize: 2,
      generationBatches: 2,
      ppoEpochs: 2,
      gradientAccumulationSteps: 2,
      maxPromptSeqLen: 40,
      maxAnswerSeqLen: 8,
      numWarmupSteps: 1,
      doSample: true,
      topK: 20,
      actorDropout: 0.1,
      criticDropout: 0.1,
      actorLoraDim: 4,
      enableEma: true,
      unsupervisedDatasetName: text,
      unsupCoef: 0.5,
      maxSteps: 6,
      saveSteps: 0,
    };
  });
  afterAll(() => models.cleanup());

  test('interrupted and resumed = uninterrupted: same losses, rewards and final weights', async () => {
    const full = await PpoTrainer.create({ ...base, outputDir: path.join(models.root, 'full') }, quiet);
    const a = await full.train();
    await full.dispose();
    expect(a.status).toBe('completed');
    expect(a.rounds.map((r) => r.step)).toEqual([2, 4, 6]);

    const dir = path.join(models.root, 'resumed');
    const first = await PpoTrainer.create({ ...base, outputDir: dir }, { ...quiet, stopAfterSteps: 2 });
    const b = await first.train();
    await first.dispose();
    expect(b.status).toBe('interrupted');
    expect(b.lastCheckpoint).toMatch(/checkpoint-2$/);
    expect(fs.existsSync(path.join(dir, 'actor'))).toBe(false);

    const second = await PpoTrainer.create({ ...base, outputDir: dir, resumeFromCheckpoint: 'latest' }, quiet);
    const c = await second.train();
    await second.dispose();
    expect(c.status).toBe('completed');
    expect(c.resumedFrom).toMatch(/checkpoint-2$/);
    const key = (r: (typeof a.rounds)[number]): number[] => [r.step, r.actorLoss, r.criticLoss ?? NaN, r.unsupLoss ?? NaN, r.stats.score, r.stats.kl, r.klCoef];
    expect(c.rounds.map(key)).toEqual(a.rounds.slice(1).map(key));
    expect(b.rounds.map(key)).toEqual(a.rounds.slice(0, 1).map(key));

    // The final folders: HF folders loadPretrained reads (LoRA fused), the critic a reward model, identical in both runs.
    for (const sub of ['actor', 'actor_ema']) {
      const x = await loadPretrained(path.join(models.root, 'full', sub));
      const y = await loadPretrained(path.join(dir, sub));
      for (const [k, t] of x.stateDict()) expect(Array.from(y.stateDict().get(k)!.data)).toEqual(Array.from(t.data));
      x.dispose();
      y.dispose();
    }
    const critic = await loadRewardModel(path.join(dir, 'critic'));
    critic.dispose();

    // The folder belongs to that run: a fresh run into it is refused unless told to overwrite or resume.
    const again = await PpoTrainer.create({ ...base, outputDir: dir }, quiet);
    await expect(again.train()).rejects.toThrow(/--overwrite_output_dir/);
    await again.dispose();

    // metrics.jsonl: one line per round, grouped names, the resumed run continues the file.
    const m = readMetrics(path.join(dir, 'metrics.jsonl'));
    expect(m.map((r) => r.step)).toEqual([2, 4, 6]);
    for (const k of ['ppo/actor_loss', 'ppo/critic_loss', 'ppo/unsup_loss', 'ppo/reward_score', 'ppo/kl', 'ppo/answer_length', 'time/generate', 'time/score', 'time/train']) {
      expect(typeof m[2][k]).toBe('number');
    }
  });

  test('a resume with a different batch size is refused, naming the flag', async () => {
    const dir = path.join(models.root, 'refuse');
    const t = await PpoTrainer.create({ ...base, outputDir: dir, maxSteps: 2 }, { ...quiet, stopAfterSteps: 2 });
    await t.train();
    await t.dispose();
    const again = await PpoTrainer.create({ ...base, outputDir: dir, resumeFromCheckpoint: 'latest', perDeviceTrainingBatchSize: 4 }, quiet);
    await expect(again.train()).rejects.toThrow(/--per_device_training_batch_size is 4 but the checkpoint's run used 2/);
    await again.dispose();
  });
});
