// Standard-model benchmark (shared/bench/README.md): training and greedy-generation tokens/s on one backend.
// Run: npx tsx tools/bench/model.ts [--threads N] [--quick] [--only train|generate] [--profile] [--native 0|1] [--fused 0|1]
// [--model standard|demo] (demo: the demo's LLaMA-style model on its own shape, DEMO_SHAPE; ' demo' in the line names)
// (--native 0: matmuls on XNNPACK only, and ' xnnpack' appended to the line names; --fused 0: the native matmul
// without the fused native kernels, ' unfused' appended; --blocks 0: the fused kernels op by op, without the whole-block
// ones, ' per-op' appended).
// Prints one JSON object per line; tools/bench/run.ts runs it once per thread count and adds the baseline.
import * as tf from '@tensorflow/tfjs';
import { setWasmFastPaths } from '../../packages/core-tensor/src/backend/fast-paths';
import { initBackend } from '../../packages/core-tensor/src/backend/init-backend';
import { nativeGemmAddon, nativeMatMulStatus } from '../../packages/core-tensor/src/backend/native-gemm';
import { causalLmLoss } from '../../packages/core-tensor/src/models/loss';
import type { CausalLM } from '../../packages/core-tensor/src/models/causal-lm';
import { AdamW } from '../../packages/core-tensor/src/train/adamw';
import { getOptimizerGroupedParameters } from '../../packages/core-tensor/src/train/param-groups';
import { Rng } from '../../packages/core-tensor/src/rng';
import { argValue, BENCH_MODELS, buildBenchModel, median, round1, round3, type BenchModelName } from './common';
import { flopShapeOf, measureGemmPeak, modelFlops, nativeMatmulCpuShare, nativeMatmulMs, profileSteps, type StepProfile } from './profile';

export interface BenchShape {
  trainBatch: number;
  trainSeq: number;
  genBatch: number;
  promptLen: number;
  newTokens: number;
}

export const STANDARD_SHAPE: BenchShape = { trainBatch: 8, trainSeq: 128, genBatch: 8, promptLen: 16, newTokens: 64 };
/** The demo's step 1 (batches of 8 rows of ~40 tokens) and step 3 (8 prompts of ~16 tokens, 32-token answers). */
export const DEMO_SHAPE: BenchShape = { trainBatch: 8, trainSeq: 40, genBatch: 8, promptLen: 16, newTokens: 32 };

function randomIds(rng: Rng, b: number, t: number, vocab: number): number[][] {
  return Array.from({ length: b }, () => Array.from({ length: t }, () => 3 + Math.floor(rng.random() * (vocab - 3))));
}

/** A training step as SFT runs it: forward, causal-LM loss, gradients of every trainable weight, AdamW. */
export function makeTrainStep(model: CausalLM, lr = 1e-4): { step: (ids: tf.Tensor2D) => number; dispose: () => void } {
  const params = model.trainableParameters();
  const names = [...params.keys()];
  const vars = [...params.values()];
  const byVarName = new Map(names.map((n, i) => [vars[i].name, n]));
  const opt = new AdamW(getOptimizerGroupedParameters(names, 0.01), params, { lr, betas: [0.9, 0.95] });
  model.train();
  const step = (ids: tf.Tensor2D): number => {
    const { value, grads } = tf.variableGrads(() => causalLmLoss(model.forward({ inputIds: ids }), ids), vars);
    const named = new Map<string, tf.Tensor>();
    for (const [vn, g] of Object.entries(grads)) named.set(byVarName.get(vn) as string, g);
    opt.step(named);
    tf.dispose(Object.values(grads));
    const loss = value.dataSync()[0];
    value.dispose();
    return loss;
  };
  return { step, dispose: () => opt.dispose() };
}

export interface TrainFigures {
  stepMs: number[];
  /** Process CPU time per step (all threads): less sensitive than wall time to other processes on a shared box. */
  cpuMs: number[];
  losses: number[];
  leaked: number;
}

export function benchTraining(model: CausalLM, shape: BenchShape, warmup: number, steps: number): TrainFigures {
  const rng = new Rng(123);
  const batches = Array.from({ length: 4 }, () =>
    tf.tensor2d(randomIds(rng, shape.trainBatch, shape.trainSeq, model.config.vocabSize), undefined, 'int32'));
  const t = makeTrainStep(model);
  const stepMs: number[] = [];
  const cpuMs: number[] = [];
  const losses: number[] = [];
  let before = 0;
  for (let i = 0; i < warmup + steps; i++) {
    if (i === warmup) before = tf.memory().numTensors;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const loss = t.step(batches[i % batches.length]);
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (i >= warmup) {
      stepMs.push(dt);
      cpuMs.push((c.user + c.system) / 1000);
      losses.push(loss);
    }
  }
  const leaked = tf.memory().numTensors - before;
  t.dispose();
  tf.dispose(batches);
  model.eval();
  return { stepMs, cpuMs, losses, leaked };
}

export interface GenFigures {
  runMs: number[];
  cpuMs: number[];
  newTokens: number;
  leaked: number;
}

export async function benchGeneration(model: CausalLM, shape: BenchShape, reps: number): Promise<GenFigures> {
  const rng = new Rng(321);
  const prompt = randomIds(rng, shape.genBatch, shape.promptLen, model.config.vocabSize);
  model.eval();
  // No EOS: every run makes exactly newTokens tokens, as the PyTorch loop does.
  const cfg = { maxNewTokens: shape.newTokens, eosTokenId: null, padTokenId: 1 };
  await model.generate(prompt, { ...cfg, maxNewTokens: 4 });
  const before = tf.memory().numTensors;
  const runMs: number[] = [];
  const cpuMs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await model.generate(prompt, cfg);
    runMs.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    if (out.newTokens[0].length !== shape.newTokens) throw new Error('generation stopped early');
  }
  return { runMs, cpuMs, newTokens: shape.genBatch * shape.newTokens, leaked: tf.memory().numTensors - before };
}

/**
 * One decode step as generate() runs it (greedy: forwardStep, then argmax ids read back), profiled over `steps` steps
 * in the middle of a generation of the standard shape.
 */
async function profileDecode(model: CausalLM, shape: BenchShape, steps = 16): Promise<StepProfile> {
  const b = shape.genBatch;
  const prompt = randomIds(new Rng(9), b, shape.promptLen, model.config.vocabSize);
  const cache = model.createCache();
  cache.reserve(shape.promptLen + shape.newTokens);
  const headT = model.headWeightT();
  let pos = shape.promptLen;
  const step = async (ids: tf.Tensor2D, positions: tf.Tensor2D): Promise<number[]> => {
    const logits = model.forwardStep(ids, positions, null, cache, headT);
    const am = tf.argMax(logits, 1);
    logits.dispose();
    const out = Array.from(await am.data());
    am.dispose();
    return out;
  };
  try {
    const ids0 = tf.tensor2d(prompt, undefined, 'int32');
    const pos0 = tf.tensor2d(prompt.map((r) => r.map((_, i) => i)), undefined, 'int32');
    let next = await step(ids0, pos0);
    tf.dispose([ids0, pos0]);
    const one = async (): Promise<void> => {
      const ids = tf.tensor2d(next, [b, 1], 'int32');
      const positions = tf.tensor2d(new Array<number>(b).fill(pos++), [b, 1], 'int32');
      next = await step(ids, positions);
      tf.dispose([ids, positions]);
    };
    for (let i = 0; i < shape.newTokens / 2 - steps / 2; i++) await one();
    return await profileSteps(one, steps);
  } finally {
    cache.dispose();
    headT?.dispose();
  }
}

/** Achieved GFLOP/s of the benchmark's median step (wall and per CPU-second) next to the native GEMM's peak: MFU. */
function efficiency(flops: number, stepMs: number, cpuMs: number, p: StepProfile): Record<string, unknown> {
  const peak = measureGemmPeak();
  const achieved = flops / stepMs / 1e6;
  return {
    model_gflop: round3(flops / 1e9), step_ms: round1(stepMs), achieved_gflops: round1(achieved),
    achieved_gflops_per_cpu: round1(flops / cpuMs / 1e6), gemm_peak_gflops: peak?.gflops ?? null, gemm_peak: peak?.by_shape ?? null,
    mfu: peak != null ? round3(achieved / peak.gflops) : null, gemm_peak_gflops_per_cpu: peak?.gflopsPerCpu ?? null,
    mfu_per_cpu: peak != null ? round3(flops / cpuMs / 1e6 / peak.gflopsPerCpu) : null, profiled_matmul_share: p.matmul_share,
  };
}

function emit(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function main(): Promise<void> {
  const threads = Number(argValue('--threads') ?? '1');
  const quick = process.argv.includes('--quick');
  const only = argValue('--only');
  const profile = process.argv.includes('--profile');
  // Training measures what `rlhfkit sft train` runs (workload 'train': with the native matmul, its threads and one
  // XNNPACK thread); generation what `rlhfkit generate` runs. run.ts runs them in separate processes.
  const workload = only === 'train' ? 'train' : 'generate';
  const native = (argValue('--native') ?? '1') !== '0';
  const fused = native && (argValue('--fused') ?? '1') !== '0';
  const blocks = fused && (argValue('--blocks') ?? '1') !== '0';
  setWasmFastPaths({ nativeMatMul: native, nativeOps: fused, nativeBlocks: blocks });
  const info = await initBackend({ backend: argValue('--backend') ?? 'wasm', threads, quiet: true, workload });
  const modelName = (argValue('--model') ?? 'standard') as BenchModelName;
  if (!BENCH_MODELS.includes(modelName)) throw new Error(`--model takes ${BENCH_MODELS.join(' or ')}, got '${modelName}'`);
  const shape = modelName === 'demo' ? DEMO_SHAPE : STANDARD_SHAPE;
  // Build or load the native kernel before timing anything; say which matmul ran in every line.
  let matmul = 'xnnpack';
  if (info.name !== 'wasm') matmul = `${info.name} backend`;
  else if (native && nativeGemmAddon() != null) matmul = `native ${nativeMatMulStatus().kernel} ${nativeMatMulStatus().threads}t`;
  else if (native) matmul = `xnnpack (native unavailable: ${nativeMatMulStatus().reason})`;
  const tag = `${info.name} ${threads}t${native ? '' : ' xnnpack'}${native && !fused ? ' unfused' : ''}${fused && !blocks ? ' per-op' : ''}`;
  const model = buildBenchModel(modelName, 0);
  try {
    if (only == null || only === 'train') {
      const f = benchTraining(model, shape, 2, quick ? 4 : 10);
      const ms = median(f.stepMs);
      emit({
        name: `train ${modelName} ${tag}`, tokens_per_s: round1((shape.trainBatch * shape.trainSeq) / ms * 1000), step_ms_median: round1(ms),
        step_ms_min: round1(Math.min(...f.stepMs)), step_cpu_ms_median: round1(median(f.cpuMs)), steps: f.stepMs.length, loss_first_last: [f.losses[0], f.losses[f.losses.length - 1]].map((x) => Math.round(x * 1e4) / 1e4),
        leaked_tensors: f.leaked, backend: info.name, threads, wasm_threads: info.threads, matmul,
        // The whole process's peak (model, training steps, wasm heap that never shrinks), as PyTorch's row reports its own.
        peak_rss_mb: round1(process.resourceUsage().maxRSS / 1024),
      });
      if (profile) {
        const t = makeTrainStep(model);
        const ids = tf.tensor2d(randomIds(new Rng(5), shape.trainBatch, shape.trainSeq, model.config.vocabSize), undefined, 'int32');
        t.step(ids);
        const p = await profileSteps(() => void t.step(ids), 2);
        const flops = modelFlops(flopShapeOf(model), shape.trainBatch * shape.trainSeq, shape.trainSeq, true);
        emit({
          name: `profile train ${modelName === 'standard' ? '' : `${modelName} `}${tag}`, ...p, ...efficiency(flops, ms, median(f.cpuMs), p), native_matmul_ms: round1(nativeMatmulMs(p)),
          native_matmul_share: round3(nativeMatmulMs(p) / p.wall_ms), native_matmul_cpu_share: nativeMatmulCpuShare(p),
        });
        t.dispose();
        ids.dispose();
        model.eval();
      }
    }
    if (only == null || only === 'generate') {
      const g = await benchGeneration(model, shape, quick ? 3 : 5);
      const ms = median(g.runMs);
      emit({
        name: `generate ${modelName} ${tag}`, tokens_per_s: round1(g.newTokens / ms * 1000), best_tokens_per_s: round1(g.newTokens / Math.min(...g.runMs) * 1000),
        run_ms_median: round1(ms), run_cpu_ms_median: round1(median(g.cpuMs)), ms_per_token_step: Math.round((ms / shape.newTokens) * 1000) / 1000, runs: g.runMs.length,
        leaked_tensors: g.leaked, backend: info.name, threads, wasm_threads: info.threads, matmul,
      });
      if (profile) {
        const p = await profileDecode(model, shape);
        const flops = modelFlops(flopShapeOf(model), shape.genBatch, shape.promptLen + shape.newTokens / 2, false);
        const stepMs = ms / shape.newTokens;
        emit({ name: `profile decode step ${modelName === 'standard' ? '' : `${modelName} `}${tag}`, batch: shape.genBatch, ...p, ...efficiency(flops, stepMs, median(g.cpuMs) / shape.newTokens, p) });
      }
    }
  } finally {
    model.dispose();
  }
}

if (require.main === module) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
