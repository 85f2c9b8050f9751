// The native fused kernels against the unfused tfjs graph on the cpu backend: values and gradients, tolerances per kernel.
import * as tf from '@tensorflow/tfjs';
import { getActivation } from '../models/activations';
import { LayerNorm, RMSNorm } from '../models/norms';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { setWasmFastPaths } from './fast-paths';
import { fusedLayerNorm, fusedRmsNorm } from './layer-norm';
import { nativeCompiler } from './native-build';
import { nativeGemmAddon } from './native-gemm';
import { nativeAttention } from './native-attention';
import { nativeLinear } from './native-linear';
import { nativeLabelLogProbs } from './native-loss';
import { configureNativeMatMul } from './native-gemm';
import { attention, splitHeads, mergeHeads } from '../models/attention';
import { causalBias, MASK_NEG } from '../models/masks';
import { AdamW } from '../train/adamw';
import { NATIVE_ACTIVATIONS, nativeOps, type NativeOpsAddon } from './native-ops';

/** max |a - b| / max(1, max |b|): float32 rounding of the larger values sets the scale. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

/** Runs fn on the cpu backend (tfjs ops) and on wasm (native ops); checks wasm leaves no tensor or heap buffer. */
async function both(fn: (native: boolean) => tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[]; calls: Record<string, number> }> {
  const cpu = await runOn('cpu', () => fn(false));
  await switchBackend('wasm');
  const addon = nativeGemmAddon() as NativeOpsAddon;
  addon.resetStats();
  const tensors = tf.memory().numTensors;
  const ids = wasmDataIds();
  const wasm = await runOn('wasm', () => fn(true));
  expect(tf.memory().numTensors).toBe(tensors);
  expect(wasmDataIds()).toBe(ids);
  const calls = Object.fromEntries(addon.stats().map((s) => [s.name, s.calls]));
  return { cpu, wasm, calls };
}

const haveNative = nativeCompiler() != null;
const maybe = haveNative ? describe : describe.skip;
if (!haveNative) process.stderr.write('native-ops.spec: no C++ compiler, so no native kernels: skipped\n');

maybe('native fused kernels vs the tfjs graph on cpu', () => {
  beforeAll(async () => {
    await switchBackend('wasm');
    expect(nativeOps()).not.toBeNull();
  });

  test('LayerNorm forward and gradients, rows split across threads (rel 2e-6)', async () => {
    const [n, d] = [301, 256];
    const x = randomArray(n * d, 1, -3, 3);
    const w = randomArray(d, 2, 0.5, 1.5);
    const b = randomArray(d, 3);
    const r = randomArray(n * d, 4);
    const { cpu, wasm, calls } = await both((native) => {
      const ln = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Tensor =>
        native ? fusedLayerNorm(xi, wi, bi, 1e-5) : new LayerNorm('ln', null, null, 1e-5).apply(xi).mul(wi).add(bi);
      const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar => tf.sum(tf.mul(ln(xi, wi, bi), tf.tensor2d(r, [n, d])));
      const args = [tf.tensor2d(x, [n, d]), tf.tensor1d(w), tf.tensor1d(b)];
      return [ln(args[0], args[1], args[2]), ...tf.grads(f)(args)];
    });
    expect(calls.layer_norm).toBeGreaterThan(0);
    expect(calls.layer_norm_grad).toBe(1);
    wasm.forEach((t, i) => expect(relDiff(t, cpu[i])).toBeLessThan(2e-6));
  });

  test('RMSNorm forward and gradients (rel 2e-6)', async () => {
    const [n, d] = [67, 96];
    const x = randomArray(n * d, 5, -3, 3);
    const w = randomArray(d, 6, 0.5, 1.5);
    const r = randomArray(n * d, 7);
    const { cpu, wasm, calls } = await both((native) => {
      const norm = (xi: tf.Tensor, wi: tf.Tensor): tf.Tensor => (native ? fusedRmsNorm(xi, wi, 1e-6) : new RMSNorm('n', wi as tf.Variable, 1e-6).apply(xi));
      const f = (xi: tf.Tensor, wi: tf.Tensor): tf.Scalar => tf.sum(tf.mul(norm(xi, wi), tf.tensor2d(r, [n, d])));
      const args = [tf.tensor2d(x, [n, d]), tf.tensor1d(w)];
      return [norm(args[0], args[1]), ...tf.grads(f)(args)];
    });
    expect(calls.rms_norm_grad).toBe(1);
    wasm.forEach((t, i) => expect(relDiff(t, cpu[i])).toBeLessThan(2e-6));
  });

  // tolerance per activation: the native erf/tanh/exp approximations are within 3e-7 of exact, tfjs's within ~1.5e-7
  const ACTS: [string, number][] = [['linear', 2e-6], ['relu', 2e-6], ['gelu', 2e-6], ['gelu_new', 2e-6], ['silu', 2e-6], ['quick_gelu', 2e-6]];
  test.each(ACTS)('linear + bias + %s: value and the gradients of x, W and b (rel %s)', async (act, tol) => {
    const [n, k, m] = [53, 40, 72];
    const x = randomArray(n * k, 11, -2, 2);
    const w = randomArray(k * m, 12, -0.5, 0.5);
    const b = randomArray(m, 13);
    const r = randomArray(n * m, 14);
    const fallback = getActivation(act === 'linear' ? 'relu' : act, 'spec');
    const { cpu, wasm, calls } = await both((native) => {
      const layer = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Tensor => {
        if (native) return nativeLinear(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D, NATIVE_ACTIVATIONS[act]);
        const y = tf.add(tf.matMul(xi, wi), bi);
        return act === 'linear' ? y : fallback(y);
      };
      const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer(xi, wi, bi), tf.tensor2d(r, [n, m])));
      const args = [tf.tensor2d(x, [n, k]), tf.tensor2d(w, [k, m]), tf.tensor1d(b)];
      return [layer(args[0], args[1], args[2]), ...tf.grads(f)(args)];
    });
    expect(calls.gemm).toBeGreaterThanOrEqual(3);
    wasm.forEach((t, i) => expect(relDiff(t, cpu[i])).toBeLessThan(tol));
  });

  test('linear without bias, and the tape-free path leaves nothing behind', async () => {
    const [n, k, m] = [9, 16, 24];
    const x = randomArray(n * k, 21);
    const w = randomArray(k * m, 22);
    const { cpu, wasm } = await both((native) => {
      const xt = tf.tensor2d(x, [n, k]);
      const wt = tf.tensor2d(w, [k, m]);
      const y = native ? nativeLinear(xt, wt, null, NATIVE_ACTIVATIONS.gelu) : getActivation('gelu', 'spec')(tf.matMul(xt, wt));
      const g = tf.grad((wi: tf.Tensor) => tf.sum(native ? nativeLinear(xt, wi as tf.Tensor2D, null, 0) : tf.matMul(xt, wi)))(wt);
      return [y, g];
    });
    wasm.forEach((t, i) => expect(relDiff(t, cpu[i])).toBeLessThan(2e-6));
  });

  test('label log-probs (softmax cross-entropy over the vocabulary) and its gradient (abs 2e-6 on logits within ±8)', async () => {
    const [n, v] = [37, 1003];
    const logits = randomArray(n * v, 31, -8, 8);
    const labels = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
    const r = randomArray(n, 32);
    const { cpu, wasm, calls } = await both((native) => {
      const lp = (x: tf.Tensor): tf.Tensor => {
        const lab = tf.tensor1d(labels, 'int32');
        if (native) return nativeLabelLogProbs(x as tf.Tensor2D, lab);
        return tf.sum(tf.mul(tf.logSoftmax(x), tf.oneHot(lab, v).toFloat()), -1);
      };
      const x = tf.tensor2d(logits, [n, v]);
      return [lp(x), tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(lp(xi), tf.tensor1d(r))))(x)];
    });
    expect(calls.label_log_probs_grad).toBe(1);
    wasm.forEach((t, i) => expect(maxAbsDiff(t, cpu[i])).toBeLessThan(2e-6));
  });

  // [batch, heads, t, headDim, bias kind, divisor]
  const ATTN: [number, number, number, number, 'causal' | 'padded' | 'none', number][] = [
    [2, 3, 17, 8, 'causal', 1], [3, 2, 9, 16, 'padded', Math.sqrt(16)], [1, 1, 5, 4, 'none', 1],
  ];
  test.each(ATTN)('attention b=%s heads=%s t=%s hd=%s (%s mask, divisor %s): value and dq, dk, dv (rel 3e-6)', async (b, heads, t, hd, mask, divisor) => {
    const d = heads * hd;
    const [qa, ka, va, r] = [41, 42, 43, 44].map((seed) => randomArray(b * t * d, seed, -1.5, 1.5));
    const bias = (): tf.Tensor4D | null => {
      if (mask === 'none') return null;
      const causal = causalBias(t, 0) as tf.Tensor4D;
      if (mask === 'causal') return causal;
      // left padding: row i has i padded positions
      const pad = new Float32Array(b * t);
      for (let i = 0; i < b; i++) for (let j = 0; j < i; j++) pad[i * t + j] = MASK_NEG;
      return tf.add(causal, tf.tensor4d(pad, [b, 1, 1, t])) as tf.Tensor4D;
    };
    const { cpu, wasm, calls } = await both((native) => {
      const ctx = { batch: b, queryLen: t, pastLen: 0, maskBias: bias(), rope: null, training: true, dropout: (x: tf.Tensor) => x };
      const att = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor => native
        ? nativeAttention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, ctx.maskBias, b, heads, divisor)
        : attention(splitHeads(q, b, t, heads, hd), splitHeads(k, b, t, heads, hd), splitHeads(v, b, t, heads, hd), ctx, undefined, { scoreDivisor: divisor, dropoutRate: 0 });
      const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Scalar => tf.sum(tf.mul(att(q, k, v), tf.tensor2d(r, [b * t, d])));
      const args = [qa, ka, va].map((a) => tf.tensor2d(a, [b * t, d]));
      return [att(args[0], args[1], args[2]), ...tf.grads(f)(args)];
    });
    expect(calls.attention_grad).toBe(1);
    expect(mergeHeads).toBeDefined();
    wasm.forEach((x, i) => expect(relDiff(x, cpu[i])).toBeLessThan(3e-6));
  });

  test('AdamW over every parameter in one call equals the tfjs composite on cpu bit for bit (two groups, two steps)', async () => {
    const shapes = [[33, 17], [17], [5, 3, 7]];
    const run = (): tf.Tensor[] => {
      const vars = new Map(shapes.map((s, i) => [`p${i}`, tf.variable(tf.tensor(randomArray(s.reduce((a, x) => a * x, 1), 50 + i), s))]));
      const opt = new AdamW([{ params: ['p0', 'p2'] }, { params: ['p1'], weightDecay: 0 }], vars, { lr: 3e-3, betas: [0.9, 0.95] });
      for (let step = 0; step < 2; step++) {
        const grads = new Map(shapes.map((s, i) => [`p${i}`, tf.tensor(randomArray(s.reduce((a, x) => a * x, 1), 60 + 3 * step + i), s)]));
        opt.step(grads);
        tf.dispose([...grads.values()]);
      }
      const out = [...vars.values()].map((v) => v.clone());
      opt.dispose();
      vars.forEach((v) => v.dispose());
      return out;
    };
    const { cpu, wasm, calls } = await both(() => run());
    expect(calls.adamw).toBe(2);
    wasm.forEach((t, i) => expect(maxAbsDiff(t, cpu[i])).toBe(0));
  });

  test('embedding gradient (UnsortedSegmentSum): repeated and out-of-range ids, exact', async () => {
    const [n, d, rows] = [29, 12, 10];
    const x = randomArray(n * d, 70);
    const ids = Int32Array.from({ length: n }, (_, i) => (i % 7 === 6 ? -1 : (i * 3) % rows));
    const { cpu, wasm, calls } = await both(() => [tf.unsortedSegmentSum(tf.tensor2d(x, [n, d]), tf.tensor1d(ids, 'int32'), rows)]);
    expect(calls.segment_sum).toBe(1);
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-6);
  });

  test('the same results with the rows split across 2 native threads', async () => {
    await switchBackend('wasm');
    const [n, d] = [257, 64];
    const x = randomArray(n * d, 80, -2, 2);
    const w = randomArray(d * d, 81);
    const one = await runOn('wasm', () => [fusedLayerNorm(tf.tensor2d(x, [n, d]), null, null, 1e-5), nativeLinear(tf.tensor2d(x, [n, d]), tf.tensor2d(w, [d, d]), null, NATIVE_ACTIVATIONS.gelu)]);
    configureNativeMatMul({ threads: 2 });
    try {
      const two = await runOn('wasm', () => [fusedLayerNorm(tf.tensor2d(x, [n, d]), null, null, 1e-5), nativeLinear(tf.tensor2d(x, [n, d]), tf.tensor2d(w, [d, d]), null, NATIVE_ACTIVATIONS.gelu)]);
      two.forEach((t, i) => expect(maxAbsDiff(t, one[i])).toBe(0));
    } finally {
      configureNativeMatMul({ threads: 1 });
    }
  });

  test('RLHFKIT_NATIVE-style switch: with nativeOps off nothing native runs', async () => {
    await switchBackend('wasm');
    const prev = setWasmFastPaths({ nativeOps: false });
    try {
      expect(nativeOps()).toBeNull();
    } finally {
      setWasmFastPaths(prev);
    }
  });
});
