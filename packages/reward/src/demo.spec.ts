// The demo result at CI size: a tiny OPT trained on the demo dataset ranks held-out pairs well above chance, scores track AFINN.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTinyModel } from '@rlhfkit/core-tensor';
import { ensureDemoDataset } from '@rlhfkit/data';
import { useBackend } from '../../core-tensor/src/testing/backends';
import { afinnReport, heldOutPairs } from './afinn-report';
import { RewardTrainer } from './trainer';
import { tempDir } from './testing';

jest.setTimeout(120000);

describe('reward model on the demo dataset (CI size; the full run is training_scripts/step2_reward/demo/run_tiny.sh)', () => {
  useBackend('wasm');
  let root: string;
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('held-out accuracy well above chance and scores correlated with AFINN valence', async () => {
    root = tempDir('demo');
    const data = await ensureDemoDataset(path.join(root, 'rlhfkit', 'demo'), { trainPairs: 1500, testPairs: 200 });
    const modelDir = path.join(root, 'tiny-opt');
    await createTinyModel(modelDir, { arch: 'opt', hiddenSize: 32, layers: 1, heads: 2, merges: 4000, dropout: 0, maxPositions: 128 });
    const trainer = await RewardTrainer.create(
      {
        modelNameOrPath: modelDir, dataPath: [data], dataOutputPath: '', maxSeqLen: 64, perDeviceTrainBatchSize: 16, perDeviceEvalBatchSize: 32,
        learningRate: 3e-3, weightDecay: 0.1, numTrainEpochs: 3, dropout: 0,
      },
      { log: () => undefined, handleSignals: false, progressStream: { write: () => true } },
    );
    const r = await trainer.train();
    const accs = r.rewardEvals.map((e) => e.result.acc);
    // Before training the random head is near chance; after three epochs over 600 pairs it is far above it.
    expect(accs[0]).toBeLessThan(0.7);
    expect(accs[accs.length - 1]).toBeGreaterThan(0.8);
    // All 200 held-out pairs (test sentences never occur in training), scored the way rw_eval scores.
    const report = await afinnReport(trainer.model, trainer.tok.tokenizer, await heldOutPairs(data), { maxSeqLen: 64 });
    process.stderr.write(`demo (CI size): eval acc ${accs.map((a) => a.toFixed(3)).join(' -> ')}; held-out ${JSON.stringify(report)}\n`);
    expect(report.pairs).toBe(200);
    expect(report.accuracy).toBeGreaterThan(0.8);
    expect(report.pearson).toBeGreaterThan(0.45);
    expect(report.spearman).toBeGreaterThan(0.45);
    expect(report.meanChosenScore).toBeGreaterThan(report.meanRejectedScore);
    trainer.dispose();
  });
});
