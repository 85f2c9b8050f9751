// SFT training benchmark: tokens/s of step 1's real loop (TrainingLoop + sftLoss, clip 1.0, AdamW(0.9, 0.95), cosine) on the standard model.
// Run: npx tsx tools/bench/sft.ts [--threads N] [--backend wasm|cpu] [--quick] [--no-baseline]
// Prints one JSON line {name: "sft_train", tokens_per_s, ...}; tools/bench/run.ts calls it. When python3 with torch is there,
// ../shared/bench/torch_baseline.py (--impl native) measures the same model's training step first, for baseline_tokens_per_s and ratio.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW, getOptimizerGroupedParameters, initBackend, LrScheduler, Rng, TrainingLoop, type ResumableSampler,
} from '../../packages/core-tensor/src';
import { attendedTokens, type Phase1Batch } from '../../packages/data/src';
import { SFT_BETAS, sftLoss } from '../../packages/sft/src';
import { argValue, buildStandardModel, round1, runTorchBaseline, STANDARD_CONFIG } from './common';

const BATCH = 8;
const SEQ = 128;

/** Full-length rows (as torch_baseline.py trains on): ids, mask of ones, labels = ids. */
function batchOf(rng: Rng): Phase1Batch {
  const ids = new Int32Array(BATCH * SEQ);
  for (let i = 0; i < ids.length; i++) ids[i] = 3 + Math.floor(rng.random() * (STANDARD_CONFIG.vocab_size - 3));
  const shape: [number, number] = [BATCH, SEQ];
  return { inputIds: { data: ids, shape }, attentionMask: { data: new Int32Array(ids.length).fill(1), shape }, labels: { data: ids.slice(), shape } };
}

/** Serves `n` batches in order, one epoch. */
class FixedSampler implements ResumableSampler {
  private step = 0;
  constructor(readonly batchesPerEpoch: number) {}
  get epochDone(): boolean {
    return this.step >= this.batchesPerEpoch;
  }
  next(): { indices: number[]; epoch: number; step: number } {
    const s = this.step++;
    return { indices: [s], epoch: 0, step: s };
  }
  state(): { epoch: number; step: number } {
    return { epoch: 0, step: this.step };
  }
}

function torchBaseline(threads: number, steps: number): { tokensPerS: number; stepMs: number; busy: number | null } | { error: string } {
  const r = runTorchBaseline(threads, ['--train-steps', String(steps), '--gen-batch', '1', '--new-tokens', '2', '--gen-reps', '1']);
  if ('error' in r) return r;
  return { tokensPerS: r.figures.train_tokens_per_s, stepMs: r.figures.train_step_ms_median, busy: r.figures.foreign_cpus_busy };
}

async function main(): Promise<void> {
  const threads = Number(argValue('--threads') ?? '1');
  const quick = process.argv.includes('--quick');
  const warmup = 2;
  const steps = quick ? 3 : 8;
  const info = await initBackend({ backend: argValue('--backend') ?? 'wasm', threads, quiet: true, workload: 'train' });
  const baseline = process.argv.includes('--no-baseline') ? { error: '--no-baseline' } : torchBaseline(threads, steps);

  const model = buildStandardModel(0);
  const vars = model.trainableParameters();
  const optimizer = new AdamW(getOptimizerGroupedParameters([...vars.keys()], 0), vars, { lr: 1e-4, betas: SFT_BETAS });
  const scheduler = new LrScheduler(optimizer, 'cosine', { warmupSteps: 0, totalSteps: warmup + steps });
  const rng = new Rng(123);
  const batches = Array.from({ length: 4 }, () => batchOf(rng));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-bench-sft-'));
  const times: number[] = [];
  const losses: number[] = [];
  let last = 0;
  let tensors: number[] = [];
  try {
    const loop = new TrainingLoop<Phase1Batch>(
      {
        variables: vars, optimizer, scheduler, sampler: new FixedSampler(warmup + steps),
        restoreSampler: () => new FixedSampler(warmup + steps),
        makeBatch: ([i]) => batches[i % batches.length],
        loss: (b) => sftLoss(model, b),
        tokens: attendedTokens,
        setTraining: (t) => model.train(t),
        saveModel: async () => undefined,
        loadModel: async () => undefined,
      },
      {
        outputDir: out, stepName: 'bench-sft', config: {}, numEpochs: 1, saveSteps: 0, saveTotalLimit: 1, handleSignals: false,
        log: () => undefined, progressStream: { write: () => true },
        onStep: (s) => {
          const now = performance.now();
          if (s.step > warmup) {
            times.push(now - last);
            losses.push(s.loss);
            tensors.push(tf.memory().numTensors);
          }
          last = now;
        },
      },
    );
    last = performance.now();
    await loop.run();
  } finally {
    optimizer.dispose();
    model.dispose();
    fs.rmSync(out, { recursive: true, force: true });
  }
  const sorted = times.slice().sort((a, b) => a - b);
  const med = sorted[Math.floor(sorted.length / 2)];
  const tokensPerS = ((BATCH * SEQ) / med) * 1000;
  const base =
    'tokensPerS' in baseline
      ? { baseline: `pytorch ${threads}t (torch_baseline.py --impl native)`, baseline_tokens_per_s: baseline.tokensPerS, ratio: Math.round((tokensPerS / baseline.tokensPerS) * 1000) / 1000, baseline_foreign_cpus_busy: baseline.busy }
      : { baseline: 'none', baseline_error: baseline.error };
  tensors = [...new Set(tensors)];
  process.stdout.write(
    JSON.stringify({
      name: 'sft_train',
      tokens_per_s: round1(tokensPerS),
      step_ms_median: round1(med),
      ...base,
      backend: info.name,
      threads: info.threads,
      batch: BATCH,
      seq: SEQ,
      steps,
      loss_first_last: [Math.round(losses[0] * 1e4) / 1e4, Math.round(losses[losses.length - 1] * 1e4) / 1e4],
      num_tensors_flat: tensors.length === 1,
      step: 'TrainingLoop: forward with mask, causal-LM loss on labels, backward, clip 1.0, AdamW(0.9, 0.95), cosine schedule',
    }) + '\n',
  );
}

main().catch((e: Error) => {
  process.stderr.write(`bench sft: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
