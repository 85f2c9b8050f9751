// Worker of tools/bench/data-parallel.ts, run alone or under mpirun: `allreduce SIZES REPS` times the all-reduce; `train gas=G steps=S`
// times the standard model's TrainingLoop step. Rank 0 prints one JSON line per figure.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  AdamW, allGatherJson, broadcastJson, defaultCommunicator, getOptimizerGroupedParameters, initBackend, LrScheduler, MpiCommunicator, Rng, TrainingLoop,
  type ResumableSampler,
} from '../../packages/core-tensor/src';
import type { Phase1Batch } from '../../packages/data/src';
import { SFT_BETAS, sftLoss } from '../../packages/sft/src';
import { buildStandardModel, median, STANDARD_CONFIG } from './common';

const ROWS = 8;
const SEQ = 128;
const WARMUP = 2;

function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function allReduce(sizes: number[], reps: number): void {
  const comm = defaultCommunicator();
  for (const bytes of sizes) {
    const buf = new Float32Array(bytes / 4).fill(1);
    comm.allReduce(buf);
    comm.allReduce(buf);
    const ms: number[] = [];
    for (let i = 0; i < reps; i++) {
      comm.barrier();
      const t0 = performance.now();
      comm.allReduce(buf);
      ms.push(performance.now() - t0);
    }
    if (comm.rank === 0) out({ bytes, median_ms: median(ms), min_ms: Math.min(...ms), reps, algbw_gb_s: bytes / (median(ms) / 1000) / 1e9 });
  }
}

/** Data index i: ROWS random full-length rows, the same for every process that asks for i. */
function batchOf(i: number): Phase1Batch {
  const rng = new Rng(1000 + i);
  const ids = new Int32Array(ROWS * SEQ);
  for (let k = 0; k < ids.length; k++) ids[k] = 3 + Math.floor(rng.random() * (STANDARD_CONFIG.vocab_size - 3));
  const shape: [number, number] = [ROWS, SEQ];
  return { inputIds: { data: ids, shape }, attentionMask: { data: new Int32Array(ids.length).fill(1), shape }, labels: { data: ids.slice(), shape } };
}

class IndexSampler implements ResumableSampler {
  private step = 0;
  constructor(private readonly indices: number[], private readonly rank: number, private readonly worldSize: number) {}
  get batchesPerEpoch(): number {
    return this.indices.length;
  }
  get epochDone(): boolean {
    return this.step >= this.indices.length;
  }
  next(): { indices: number[]; epoch: number; step: number } {
    const s = this.step++;
    return { indices: [this.indices[s]], epoch: 0, step: s };
  }
  state(): { epoch: number; step: number; rank: number; worldSize: number } {
    return { epoch: 0, step: this.step, rank: this.rank, worldSize: this.worldSize };
  }
}

async function train(gas: number, steps: number, rowsOnly1: boolean, zeroStage = 0): Promise<void> {
  const threads = Number(process.env.RLHFKIT_THREADS ?? '1');
  await initBackend({ backend: 'wasm', threads, quiet: true, workload: 'train' });
  const comm = defaultCommunicator();
  const model = buildStandardModel(0);
  const modelBytes = tf.memory().numBytes;
  let peakBytes = 0;
  const vars = model.trainableParameters();
  const params = [...vars.values()].reduce((a, v) => a + v.size, 0);
  const optimizer = new AdamW(getOptimizerGroupedParameters([...vars.keys()], 0), vars, { lr: 1e-4, betas: SFT_BETAS });
  const total = WARMUP + steps;
  const scheduler = new LrScheduler(optimizer, 'cosine', { warmupSteps: 0, totalSteps: total });
  // Optimizer step k: rank r (or micro-batch r of one process) trains on data index 2k + r.
  const indices: number[] = [];
  for (let k = 0; k < total; k++) {
    if (comm.size > 1) indices.push(2 * k + comm.rank);
    else if (rowsOnly1) indices.push(2 * k);
    else for (let m = 0; m < gas; m++) indices.push(2 * k + m);
  }
  const dir = broadcastJson(comm, comm.rank === 0 ? fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-dp-bench-')) : '');
  const stats = comm instanceof MpiCommunicator ? comm.stats : null;
  const times: number[] = [];
  const comms: number[] = [];
  const losses: number[] = [];
  let t0 = performance.now();
  let c0 = stats?.seconds ?? 0;
  const loop = new TrainingLoop<Phase1Batch>(
    {
      variables: vars, optimizer, scheduler, sampler: new IndexSampler(indices, comm.rank, comm.size), restoreSampler: () => { throw new Error('no resume'); },
      makeBatch: (idx) => batchOf(idx[0]), loss: (b) => sftLoss(model, b), tokens: () => ROWS * SEQ, setTraining: (t) => model.train(t),
      saveModel: async () => undefined, loadModel: async () => undefined,
    },
    {
      outputDir: dir, stepName: 'dp-bench', config: { zeroStage }, numEpochs: 1, gradientAccumulationSteps: gas, saveSteps: 0, evalAtStart: false, handleSignals: false,
      overwriteOutputDir: true, log: () => undefined, progressStream: { write: () => true }, communicator: comm,
      onStep: (i) => {
        const now = performance.now();
        if (i.step > WARMUP) {
          times.push(now - t0);
          comms.push(((stats?.seconds ?? 0) - c0) * 1000);
        }
        losses.push(i.loss);
        peakBytes = Math.max(peakBytes, tf.memory().numBytes);
        t0 = now;
        c0 = stats?.seconds ?? 0;
      },
    },
  );
  const result = await loop.run();
  // Tensor bytes this rank holds between steps beyond the model: the optimizer state (ZeRO: its slice) and its buffers.
  const training = { tensor_bytes_beyond_model: peakBytes - modelBytes, zero_stage: result.dataParallel?.zeroStage ?? 0, accounted: result.dataParallel?.memory ?? null };
  const all = allGatherJson(comm, training);
  if (comm.rank === 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    const rows = comm.size > 1 ? ROWS * comm.size : rowsOnly1 ? ROWS : ROWS * gas;
    const stepMs = median(times);
    out({ ranks: comm.size, threads, gas, params, step_ms: stepMs, tokens_per_s: (rows * SEQ) / (stepMs / 1000), allreduce_ms: median(comms), losses, memory: all });
  }
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'allreduce') return allReduce(rest[0].split(',').map(Number), Number(rest[1]));
  const kv = Object.fromEntries(rest.map((a) => a.split('=')));
  if (mode === 'train') return train(Number(kv.gas ?? '1'), Number(kv.steps ?? '8'), kv.ranks === '1', Number(kv.zero ?? '0'));
  throw new Error(`dp-worker: unknown mode ${mode}`);
}

main().catch((e) => {
  process.stderr.write(`dp-worker: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
