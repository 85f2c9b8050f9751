// TrainingLoop: interrupted-then-resumed runs equal the uninterrupted run bit for bit; NaN stops naming the step; Ctrl-C; no leaks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readMetrics } from '../metrics/metrics-logger';
import { readEventFile } from '../metrics/tfevents';
import type { CausalLM } from '../models/causal-lm';
import { createModelFromConfig, loadPretrained } from '../models/load';
import { causalLmLoss } from '../models/loss';
import { Rng } from '../rng';
import { useBackend } from '../testing/backends';
import { AdamW } from '../train/adamw';
import { LrScheduler } from '../train/lr-schedule';
import { getOptimizerGroupedParameters } from '../train/param-groups';
import { listCheckpoints, readRunConfig } from './checkpoint';
import { evaluateMeanLoss } from './evaluate';
import { loadWeightsInto } from './model-setup';
import { TrainingLoop, truncateMetricsAfter } from './training-loop';
import { NonFiniteLossError, type EvalPoint, type ResumableSampler, type StepInfo, type TrainingTask } from './training-task';

const RAW = {
  model_type: 'opt', vocab_size: 64, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, ffn_dim: 32,
  max_position_embeddings: 32, word_embed_proj_dim: 16, do_layer_norm_before: true, dropout: 0.1, attention_dropout: 0.1,
  activation_function: 'relu', enable_bias: true, tie_word_embeddings: true, bos_token_id: 2, eos_token_id: 2, pad_token_id: 1,
};
const ROWS: number[][] = (() => {
  const r = new Rng(7);
  return Array.from({ length: 20 }, () => Array.from({ length: 10 }, () => r.int(3, 64)));
})();

/** Shuffles with Rng(seed + epoch), like data's BatchSampler, without depending on the data package. */
class TestSampler implements ResumableSampler {
  private order: number[] = [];
  constructor(private readonly size: number, private readonly batch: number, private readonly seed: number, private epoch = 0, private step = 0) {
    this.order = new Rng(seed + epoch).permutation(size);
  }
  get batchesPerEpoch(): number {
    return Math.ceil(this.size / this.batch);
  }
  get epochDone(): boolean {
    return this.step >= this.batchesPerEpoch;
  }
  next(): { indices: number[]; epoch: number; step: number } {
    if (this.epochDone) {
      this.epoch += 1;
      this.step = 0;
      this.order = new Rng(this.seed + this.epoch).permutation(this.size);
    }
    const s = this.step++;
    return { indices: this.order.slice(s * this.batch, (s + 1) * this.batch), epoch: this.epoch, step: s };
  }
  state(): { epoch: number; step: number; size: number } {
    return { epoch: this.epoch, step: this.step, size: this.size };
  }
  static restore(s: unknown, batch: number, seed: number): TestSampler {
    const st = s as { epoch: number; step: number; size: number };
    return new TestSampler(st.size, batch, seed, st.epoch, st.step);
  }
}

interface Setup {
  model: CausalLM;
  task: TrainingTask<number[][]>;
  optimizer: AdamW;
}

function setup(totalSteps: number): Setup {
  const model = createModelFromConfig(RAW, { seed: 3 });
  model.rng = new Rng(11);
  const vars = model.trainableParameters();
  const optimizer = new AdamW(getOptimizerGroupedParameters([...vars.keys()], 0.1), vars, { lr: 3e-3, betas: [0.9, 0.95] });
  const scheduler = new LrScheduler(optimizer, 'cosine', { warmupSteps: 1, totalSteps });
  const task: TrainingTask<number[][]> = {
    variables: vars,
    optimizer,
    scheduler,
    sampler: new TestSampler(ROWS.length, 4, 5),
    restoreSampler: (s) => TestSampler.restore(s, 4, 5),
    makeBatch: (idx) => idx.map((i) => ROWS[i]),
    loss: (b) => causalLmLoss(model.forward({ inputIds: b }), b),
    tokens: (b) => b.length * b[0].length,
    setTraining: (t) => model.train(t),
    evaluate: async () => {
      const e = evaluateMeanLoss([ROWS.slice(0, 8), ROWS.slice(8, 16)], (b) => causalLmLoss(model.forward({ inputIds: b }), b));
      return { 'eval/loss': e.loss, 'eval/perplexity': e.perplexity };
    },
    saveModel: (dir) => model.save(dir),
    loadModel: async (dir) => loadWeightsInto(model, dir),
    rngs: { dropout: model.rng },
  };
  return { model, task, optimizer };
}

const quiet = { log: () => undefined, progressStream: { write: () => true } };
// 5 micro-batches an epoch, accumulation 2 -> ceil(5/2) = 3 updates an epoch (the last flushes one micro-batch), 2 epochs.
const LOOP = { stepName: 'test', config: { lr: 3e-3 }, numEpochs: 2, gradientAccumulationSteps: 2, saveSteps: 0, saveTotalLimit: 0, ...quiet };
const TOTAL = 6;

async function weights(m: CausalLM): Promise<Float32Array[]> {
  return [...m.namedParameters().values()].map((v) => Float32Array.from(v.dataSync()));
}

describe('TrainingLoop', () => {
  useBackend('wasm');
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-loop-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  let full: { losses: Map<number, number>; evals: number[]; weights: Float32Array[] };
  beforeAll(async () => {
    const s = setup(TOTAL);
    const r = await new TrainingLoop(s.task, { ...LOOP, outputDir: path.join(root, 'full') }).run();
    full = { losses: r.losses, evals: r.evals.map((e) => e.metrics['eval/loss']), weights: await weights(s.model) };
    expect(r.status).toBe('completed');
    expect(r.totalSteps).toBe(TOTAL);
    expect([...r.losses.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    s.optimizer.dispose();
    s.model.dispose();
  });

  for (const stopAt of [2, 3, 4]) {
    test(`stopped after ${stopAt} steps and resumed: every later loss, eval and final weight equals the uninterrupted run exactly`, async () => {
      const out = path.join(root, `resume-${stopAt}`);
      const a = setup(TOTAL);
      const ra = await new TrainingLoop(a.task, { ...LOOP, outputDir: out, stopAfterSteps: stopAt }).run();
      expect(ra.status).toBe('interrupted');
      expect(listCheckpoints(out).map((c) => c.step)).toEqual(stopAt > 3 ? [3, stopAt] : [stopAt]); // epoch 1 ends at step 3
      for (let s = 1; s <= stopAt; s++) expect(ra.losses.get(s)).toBe(full.losses.get(s));
      a.optimizer.dispose();
      a.model.dispose();

      const b = setup(TOTAL);
      const rb = await new TrainingLoop(b.task, { ...LOOP, outputDir: out, resumeFromCheckpoint: 'latest' }).run();
      expect(rb.status).toBe('completed');
      expect(rb.resumedFrom).toBe(path.join(out, 'checkpoints', `checkpoint-${stopAt}`));
      expect([...rb.losses.keys()]).toEqual(Array.from({ length: TOTAL - stopAt }, (_, i) => stopAt + 1 + i));
      for (const [step, loss] of rb.losses) expect(loss).toBe(full.losses.get(step));
      expect(rb.evals.map((e) => e.metrics['eval/loss'])).toEqual(full.evals.slice(stopAt >= 3 ? 2 : 1));
      const wb = await weights(b.model);
      wb.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(full.weights[i])));
      // metrics.jsonl reads as one run: each train step once, in order.
      const steps = readMetrics(path.join(out, 'metrics.jsonl')).filter((r) => r['train/loss'] !== undefined).map((r) => r.step);
      expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
      b.optimizer.dispose();
      b.model.dispose();
    });
  }

  test('evalInterval: evaluations every N optimizer steps, reaching metrics.jsonl and TensorBoard alike', async () => {
    const out = path.join(root, 'interval');
    const s = setup(TOTAL);
    const lines: string[] = [];
    const seen: EvalPoint[] = [];
    const evaluate = s.task.evaluate!;
    s.task.evaluate = (at) => {
      seen.push(at);
      return evaluate(at);
    };
    const tbDir = path.join(out, 'tb');
    const r = await new TrainingLoop(s.task, { ...LOOP, outputDir: out, evalInterval: 2, evalName: 'loss', tensorboardDir: tbDir, log: (l) => lines.push(l) }).run();
    // 3 optimizer steps an epoch: interval evals at 2, 4, 6; epoch evals after steps 3 and 6 (6 gets both, as DeepSpeed-Chat).
    const want = [['start', 0, 0], ['interval', 2, 0], ['epoch', 3, 1], ['interval', 4, 1], ['interval', 6, 1], ['epoch', 6, 2]];
    expect(r.evals.map((e) => [e.kind, e.step, e.epoch])).toEqual(want);
    expect(seen.map((e) => [e.kind, e.step, e.epoch])).toEqual(want);
    // Evaluation does not touch the training run: same losses as without it.
    for (const [step, loss] of r.losses) expect(loss).toBe(full.losses.get(step));
    expect(lines.filter((l) => /Evaluating/.test(l))).toEqual([
      '***** Evaluating loss, Epoch 0/2 *****', 'Iter 2: Evaluating loss', '***** Evaluating loss, Epoch 1/2 *****',
      'Iter 4: Evaluating loss', 'Iter 6: Evaluating loss', '***** Evaluating loss, Epoch 2/2 *****',
    ]);
    const jsonl = readMetrics(path.join(out, 'metrics.jsonl')).filter((m) => m['eval/loss'] !== undefined);
    expect(jsonl.map((m) => m.step)).toEqual([0, 2, 3, 4, 6, 6]);
    expect(jsonl.map((m) => m['eval/loss'])).toEqual(r.evals.map((e) => e.metrics['eval/loss']));
    const tb = readEventFile(path.join(tbDir, fs.readdirSync(tbDir)[0]));
    const tbEval = tb.flatMap((e) => e.values.filter((v) => v.tag === 'eval/loss').map((v) => [e.step, v.simpleValue]));
    // TensorBoard stores float32.
    expect(tbEval).toEqual(r.evals.map((e) => [e.step, Math.fround(e.metrics['eval/loss'])]));
    expect(() => new TrainingLoop(s.task, { ...LOOP, outputDir: out, evalInterval: 1.5 })).toThrow(/eval_interval must be an integer >= 0, got 1.5/);
    s.optimizer.dispose();
    s.model.dispose();
  });

  test('a checkpoint is an HF folder loadPretrained reads, with optimizer state, trainer state and the run config', async () => {
    const out = path.join(root, 'ckpt');
    const s = setup(TOTAL);
    await new TrainingLoop(s.task, { ...LOOP, outputDir: out, saveSteps: 2, saveTotalLimit: 2 }).run();
    // saves at 2, 3 (epoch end), 4, 6 (epoch end and save step); the newest two are kept
    const cps = listCheckpoints(out);
    expect(cps.map((c) => c.step)).toEqual([4, 6]);
    const files = fs.readdirSync(cps[1].dir).sort();
    expect(files).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'optimizer.json', 'optimizer.safetensors', 'rlhfkit_config.json', 'trainer_state.json']);
    expect(readRunConfig(cps[1].dir)).toEqual({ step: 'test', config: { lr: 3e-3 }, world_size: 1 });
    const loaded = await loadPretrained(cps[1].dir);
    s.model.eval();
    const [x, y] = [s.model.forward({ inputIds: ROWS.slice(0, 2) }), loaded.forward({ inputIds: ROWS.slice(0, 2) })];
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, y]);
    loaded.dispose();
    s.optimizer.dispose();
    s.model.dispose();
  });

  test('a NaN loss stops the run with an error naming the step, before the update, and saves nothing after it', async () => {
    const out = path.join(root, 'nan');
    const s = setup(TOTAL);
    const before = s.model.namedParameters().get('model.decoder.final_layer_norm.weight')!;
    const onStep = (info: StepInfo): void => {
      if (info.step === 2) before.assign(tf.fill(before.shape, NaN));
    };
    const err = await new TrainingLoop(s.task, { ...LOOP, outputDir: out, saveSteps: 1, onStep }).run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    expect((err as NonFiniteLossError).step).toBe(3);
    expect((err as Error).message).toMatch(/the loss is NaN at step 3 \(epoch 1, micro-batch 5\).*nothing was saved.*checkpoint-2/);
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([1, 2]);
    expect(fs.readdirSync(path.join(out, 'checkpoints')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    s.optimizer.dispose();
    s.model.dispose();
  });

  test('SIGINT stops at the next optimizer step with a checkpoint, and the handler is removed', async () => {
    const out = path.join(root, 'sigint');
    const s = setup(TOTAL);
    const listeners = process.listenerCount('SIGINT');
    const onStep = (info: StepInfo): void => {
      // jest's sandboxed `process` does not receive real signals; sft's cli.spec sends a real one to a CLI process
      if (info.step === 1) process.emit('SIGINT', 'SIGINT');
    };
    const r = await new TrainingLoop(s.task, { ...LOOP, outputDir: out, onStep }).run();
    expect(r.status).toBe('interrupted');
    expect(r.globalStep).toBe(1);
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([1]);
    expect(process.listenerCount('SIGINT')).toBe(listeners);
    s.optimizer.dispose();
    s.model.dispose();
  });

  test('tf.memory().numTensors stays flat from step to step and returns to its start after the run', async () => {
    const out = path.join(root, 'mem');
    const start = tf.memory().numTensors;
    const s = setup(TOTAL);
    const counts: number[] = [];
    await new TrainingLoop(s.task, { ...LOOP, numEpochs: 4, outputDir: out, onStep: () => counts.push(tf.memory().numTensors) }).run();
    expect(counts.length).toBe(12);
    expect(new Set(counts.slice(1)).size).toBe(1);
    s.optimizer.dispose();
    s.model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  test('truncateMetricsAfter keeps lines up to the step', () => {
    const f = path.join(root, 'm.jsonl');
    fs.writeFileSync(f, [1, 2, 3, 4].map((s) => JSON.stringify({ step: s, time: 0, 'train/loss': s })).join('\n') + '\n{"step": 5, "ti');
    expect(truncateMetricsAfter(f, 2)).toBe(2);
    expect(readMetrics(f).map((r) => r.step)).toEqual([1, 2]);
  });
});
