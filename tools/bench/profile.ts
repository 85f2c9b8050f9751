// `--profile`: per-kernel time of one training step and one decode step, the matmul share, GFLOP/s against the native GEMM's peak (MFU).
import * as tf from '@tensorflow/tfjs';
import type { NativeOpStat } from '../../packages/core-tensor/src/backend/native-build';
import { nativeGemmAddon } from '../../packages/core-tensor/src/backend/native-gemm';
import { asWasm, heapBuffer, tensorData } from '../../packages/core-tensor/src/backend/wasm-internals';
import type { CausalLM } from '../../packages/core-tensor/src/models/causal-lm';
import { round1, round3 } from './common';

/** Kernels whose time counts as matrix products (tfjs names, and the native counters' names). */
const MATMUL_KERNELS = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul']);
const NATIVE_MATMUL_OPS = new Set(['gemm']);

export interface KernelRow {
  name: string;
  ms: number;
  calls: number;
}

export interface StepProfile {
  /** Wall time of the profiled call(s), per step. */
  wall_ms: number;
  cpu_ms: number;
  /** Sum of the registered kernels' own times (scopes such as customGrad ops are nested and left out). */
  kernels_ms: number;
  /** The rest of the step: tfjs dispatch, tape, host work, garbage collection. */
  outside_kernels_ms: number;
  matmul_ms: number;
  matmul_share: number;
  kernels: KernelRow[];
  /** The largest products by shape. */
  matmul_shapes: KernelRow[];
  /** Nested scopes (not summed): their time includes the kernels they ran. */
  scopes: KernelRow[];
  /** The native addon's own counters over the same call(s): calls, ms, the calling thread's CPU ms, GFLOP/s. */
  native: (NativeOpStat & { gflops: number })[];
  /** CPU ms of the step outside the native operations (tfjs dispatch, wasm kernels, host work); one thread only. */
  cpu_outside_native_ms: number;
}

function registered(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) != null;
}

function aggregate(rows: { key: string; ms: number }[], per: number): KernelRow[] {
  const agg = new Map<string, KernelRow>();
  for (const r of rows) {
    const e = agg.get(r.key) ?? { name: r.key, ms: 0, calls: 0 };
    e.ms += r.ms;
    e.calls += 1;
    agg.set(r.key, e);
  }
  return [...agg.values()].map((e) => ({ name: e.name, ms: round3(e.ms / per), calls: e.calls / per })).sort((a, b) => b.ms - a.ms);
}

/** Profiles `steps` calls of fn (after the caller warmed it up); every figure is per call. */
export async function profileSteps(fn: () => void | Promise<void>, steps = 1): Promise<StepProfile> {
  const addon = nativeGemmAddon();
  addon?.resetStats();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const info = await tf.profile(async () => {
    for (let i = 0; i < steps; i++) await fn();
  });
  const wall = (performance.now() - t0) / steps;
  const c = process.cpuUsage(c0);
  const native = (addon?.stats() ?? []).map((s) => ({
    name: s.name, calls: s.calls / steps, ms: round3(s.ms / steps), cpuMs: round3(s.cpuMs / steps), gflop: round3(s.gflop / steps),
    gflops: round1(s.gflop / (s.ms / 1000)),
  })).sort((a, b) => b.ms - a.ms);
  const ms = (k: { kernelTimeMs: unknown }): number => (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0);
  const isKernel = new Map<string, boolean>();
  const kernelRows: { key: string; ms: number }[] = [];
  const scopeRows: { key: string; ms: number }[] = [];
  const shapeRows: { key: string; ms: number }[] = [];
  for (const k of info.kernels) {
    let reg = isKernel.get(k.name);
    if (reg == null) isKernel.set(k.name, (reg = registered(k.name)));
    (reg ? kernelRows : scopeRows).push({ key: k.name, ms: ms(k) });
    if (reg && MATMUL_KERNELS.has(k.name)) shapeRows.push({ key: `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join('')}`, ms: ms(k) });
  }
  const kernels = aggregate(kernelRows, steps);
  const kernelsMs = kernels.reduce((a, k) => a + k.ms, 0);
  const matmulMs = kernels.filter((k) => MATMUL_KERNELS.has(k.name)).reduce((a, k) => a + k.ms, 0);
  const cpuMs = (c.user + c.system) / 1000 / steps;
  return {
    // Dotted counters (gemm.blocks, decode.qkv, ...) are parts of a top-level operation: not summed twice.
    cpu_outside_native_ms: round1(cpuMs - native.filter((s) => !s.name.includes('.')).reduce((a, s) => a + s.cpuMs, 0)),
    wall_ms: round1(wall), cpu_ms: round1(cpuMs), kernels_ms: round1(kernelsMs),
    outside_kernels_ms: round1(wall - kernelsMs), matmul_ms: round1(matmulMs), matmul_share: round3(matmulMs / wall),
    kernels: kernels.slice(0, 30), matmul_shapes: aggregate(shapeRows, steps).slice(0, 12), scopes: aggregate(scopeRows, steps).slice(0, 10), native,
  };
}

/** Native operations that are matrix products: the gemm, and the products inside the fused blocks and attention. */
function isNativeMatmul(name: string): boolean {
  return NATIVE_MATMUL_OPS.has(name) || name.startsWith('gemm.');
}

/** The native matmul time inside a profile (the addon's own clock), for the share next to tfjs's kernel times. */
export function nativeMatmulMs(p: StepProfile): number {
  return p.native.filter((s) => isNativeMatmul(s.name)).reduce((a, s) => a + s.ms, 0);
}

/** The native matmuls' share of the step's CPU time (one thread: the calling thread's CPU inside them / the step's). */
export function nativeMatmulCpuShare(p: StepProfile): number {
  return round3(p.native.filter((s) => isNativeMatmul(s.name)).reduce((a, s) => a + s.cpuMs, 0) / p.cpu_ms);
}

/** Shapes of the standard OPT-like model that the FLOP count needs. */
export interface FlopShape {
  layers: number;
  hidden: number;
  ffn: number;
  vocab: number;
  /** Matrices of the MLP: 2 (fc1, fc2), 3 for a gated one (LLaMA's gate, up, down). */
  mlpMats: number;
  /** Key/value projection width (GQA: fewer heads than q). */
  kvDim: number;
}

export function flopShapeOf(model: CausalLM): FlopShape {
  const c = model.config as unknown as {
    numLayers: number; hiddenSize: number; ffnDim?: number; intermediateSize?: number; vocabSize: number; numKvHeads?: number; headDim?: number;
  };
  const gated = c.intermediateSize != null && c.ffnDim == null;
  const kvDim = c.numKvHeads != null && c.headDim != null ? c.numKvHeads * c.headDim : c.hiddenSize;
  return { layers: c.numLayers, hidden: c.hiddenSize, ffn: c.ffnDim ?? c.intermediateSize ?? 4 * c.hiddenSize, vocab: c.vocabSize, mlpMats: gated ? 3 : 2, kvDim };
}

/**
 * Model FLOPs of a pass over `tokens` tokens attending to `keys` keys each: 2 per multiply-add of every linear layer
 * (q, k, v, out, and fc1, fc2 or gate, up, down), the LM head, and the two attention products over the full (uncausal) square, as computed.
 * Training is three passes (forward, and the two products of each backward).
 */
export function modelFlops(s: FlopShape, tokens: number, keys: number, training: boolean): number {
  const perToken = s.layers * (2 * s.hidden * s.hidden + 2 * s.hidden * s.kvDim + s.mlpMats * s.hidden * s.ffn + 2 * keys * s.hidden) + s.hidden * s.vocab;
  return (training ? 3 : 1) * 2 * tokens * perToken;
}

/**
 * The native GEMM's best GFLOP/s at its current thread count (wall time, and per CPU-second of all its threads: on a
 * shared machine the second is what other processes disturb least), on the training step's own product shapes
 * ([1024, 256] x [256, 1024] and its transposes are what the linear layers run) and on 1024^3; best of `reps`.
 */
export function measureGemmPeak(reps = 12): { gflops: number; gflopsPerCpu: number; shape: string; by_shape: Record<string, number> } | null {
  const addon = nativeGemmAddon();
  if (addon == null || tf.getBackend() !== 'wasm') return null;
  const backend = asWasm(tf.backend());
  const shapes: [number, number, number][] = [[1024, 1024, 256], [1024, 256, 1024], [1024, 1024, 1024]];
  const buf = tf.randomNormal([3 * 1024 * 1024], 0, 1, 'float32', 7);
  const byShape: Record<string, number> = {};
  let perCpu = 0;
  try {
    const base = tensorData(backend, buf).memoryOffset / 4;
    for (const [m, n, k] of shapes) {
      const heap = new Float32Array(heapBuffer(backend));
      let best = Infinity;
      let bestCpu = Infinity;
      for (let r = 0; r < reps; r++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        addon.gemm(heap, 1, m, n, k, false, false, base, 0, base + 1024 * 1024, 0, base + 2 * 1024 * 1024, -1, false, null, null);
        best = Math.min(best, performance.now() - t0);
        const c = process.cpuUsage(c0);
        bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000);
      }
      byShape[`${m}x${n}x${k}`] = round1((2 * m * n * k) / best / 1e6);
      // CPU time (all threads) has a 1 ms-ish granularity: only the large product gives a usable per-CPU figure.
      if (m * n * k >= 1024 ** 3) perCpu = round1((2 * m * n * k) / bestCpu / 1e6);
    }
  } finally {
    buf.dispose();
  }
  const [shape, gflops] = Object.entries(byShape).sort((a, b) => b[1] - a[1])[0];
  return { gflops, gflopsPerCpu: perCpu, shape, by_shape: byShape };
}
