// --placement: roles in their own worker threads give colocated's numbers; a placement that cannot fit one heap is refused.
import * as path from 'node:path';
import { FlagError, readMetrics } from '@rlhfkit/core-tensor';
import { useBackend } from '../../core-tensor/src/testing/backends';
import { resolvePpoConfig, type PpoConfig } from './config';
import { decidePlacement, HEAP_USABLE } from './placement';
import { PpoTrainer } from './ppo-trainer';
import { makeTinyRlhfModels, type TinyRlhfModels } from './testing';

const quiet = { log: () => undefined, progressStream: { write: () => true }, handleSignals: false };

describe('role placement [wasm]', () => {
  useBackend('wasm');
  let models: TinyRlhfModels;
  let base: Partial<PpoConfig>;
  beforeAll(async () => {
    models = await makeTinyRlhfModels();
    base = {
      actorModelNameOrPath: models.actor,
      criticModelNameOrPath: models.critic,
      dataPath: ['rlhfkit/demo'],
      dataOutputPath: path.join(models.root, 'data_files'),
      perDeviceGenerationBatchSize: 4,
      perDeviceTrainingBatchSize: 2,
      // Two generation batches per round: the actor generates the second while the others score the first.
      generationBatches: 2,
      maxPromptSeqLen: 40,
      maxAnswerSeqLen: 8,
      numWarmupSteps: 1,
      doSample: true,
      topK: 20,
      actorDropout: 0.1,
      criticDropout: 0.1,
      actorLoraDim: 4,
      onlyOptimizeLora: true,
      frozenDtype: 'bf16',
      maxSteps: 2,
      saveSteps: 0,
    };
  });
  afterAll(() => models.cleanup());

  test('per_role (a worker, backend and heap per role) = colocated: same losses and scores; per-role memory in metrics.jsonl', async () => {
    const runs = [];
    for (const placement of ['colocated', 'per_role'] as const) {
      const outputDir = path.join(models.root, placement);
      const t = await PpoTrainer.create({ ...base, placement, outputDir }, quiet);
      expect(t.run?.engine.placement).toBe(placement);
      const r = await t.train();
      await t.dispose();
      expect(r.status).toBe('completed');
      runs.push({ r, metrics: readMetrics(path.join(outputDir, 'metrics.jsonl')) });
    }
    const [a, b] = runs;
    expect(b.r.rounds.map((x) => [x.actorLoss, x.criticLoss, x.stats.score, x.stats.kl])).toEqual(a.r.rounds.map((x) => [x.actorLoss, x.criticLoss, x.stats.score, x.stats.kl]));
    const last = (m: typeof a.metrics): Record<string, number> => m[m.length - 1] as unknown as Record<string, number>;
    expect(last(a.metrics)['memory/heap_peak_mb']).toBeGreaterThan(0);
    for (const role of ['actor', 'reference', 'critic', 'reward']) expect(last(b.metrics)[`memory/${role}_heap_peak_mb`]).toBeGreaterThan(0);
    // Frozen bf16 weights live outside the heaps (the critic trains every weight, so it has none).
    for (const role of ['actor', 'reference', 'reward']) expect(last(b.metrics)[`memory/${role}_off_heap_mb`]).toBeGreaterThan(0);
    expect(last(b.metrics)['memory/peak_rss_mb']).toBeGreaterThan(0);
    expect(Object.keys(b.r.memory).sort()).toEqual(['actor', 'critic', 'reference', 'reward']);
  }, 180_000);

  test('colocated past one heap is refused before loading, naming the limit and the flag; auto then picks per_role', () => {
    const c = resolvePpoConfig({ ...base, placement: 'colocated' });
    const est = decidePlacement(c, { limitBytes: null });
    expect(est.placement).toBe('colocated');
    // A heap that holds every role alone but not all of them together (the wasm heap for opt-1.3b with opt-350m, in small).
    const limitBytes = (Math.max(...est.roles.map((r) => r.heap)) + est.together) / 2 / HEAP_USABLE;
    expect(() => decidePlacement(c, { limitBytes })).toThrow(FlagError);
    expect(() => decidePlacement(c, { limitBytes })).toThrow(/heap limit holds \(about .* of tensors\)\. Use --placement per_role/);
    // Fitting the limit is not enough: the allocator's overhead must fit too (opt-1.3b with opt-350m: 3.9 of 4.0 GiB crashed).
    expect(() => decidePlacement(c, { limitBytes: est.together / 0.95 })).toThrow(/Use --placement per_role/);
    expect(decidePlacement({ ...c, placement: 'auto' }, { limitBytes }).placement).toBe('per_role');
    expect(decidePlacement({ ...c, placement: 'auto' }).placement).toBe('colocated');
    expect(() => decidePlacement({ ...c, placement: 'per_role' }, { limitBytes: 1024 })).toThrow(/the actor alone needs about .*\(--placement per_role\)/);
  });

  test('--dtype bf16 means frozen bf16 weights unless --frozen_dtype says otherwise', () => {
    expect(resolvePpoConfig({ ...base, frozenDtype: null, dtype: 'bf16' }).frozenDtype).toBe('bf16');
    expect(resolvePpoConfig({ ...base, frozenDtype: 'fp32', dtype: 'bf16' }).frozenDtype).toBe('fp32');
    expect(resolvePpoConfig({ ...base, frozenDtype: null }).frozenDtype).toBe('fp32');
  });
});
