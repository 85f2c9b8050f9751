// The fused LayerNorm kernels against the formula (float64, host) and against the composite on the cpu backend.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { LayerNorm } from '../models/norms';
import { fusedLayerNorm } from './layer-norm';

const N = 5;
const D = 12;
const EPS = 1e-5;

/** y = (x - mean)/sqrt(var + eps)*w + b per row, and the gradients of sum(y * r) for a fixed r. */
function reference(x: Float32Array, w: Float32Array, b: Float32Array, r: Float32Array): { y: number[]; dx: number[]; dw: number[]; db: number[] } {
  const y: number[] = [];
  const dx: number[] = [];
  const dw = new Array<number>(D).fill(0);
  const db = new Array<number>(D).fill(0);
  for (let i = 0; i < N; i++) {
    const row = Array.from(x.subarray(i * D, (i + 1) * D));
    const mu = row.reduce((a, v) => a + v, 0) / D;
    const variance = row.reduce((a, v) => a + (v - mu) ** 2, 0) / D;
    const inv = 1 / Math.sqrt(variance + EPS);
    const xh = row.map((v) => (v - mu) * inv);
    const dy = Array.from(r.subarray(i * D, (i + 1) * D));
    const g = dy.map((v, c) => v * w[c]);
    const mg = g.reduce((a, v) => a + v, 0) / D;
    const mgx = g.reduce((a, v, c) => a + v * xh[c], 0) / D;
    for (let c = 0; c < D; c++) {
      y.push(xh[c] * w[c] + b[c]);
      dx.push(inv * (g[c] - mg - xh[c] * mgx));
      dw[c] += dy[c] * xh[c];
      db[c] += dy[c];
    }
  }
  return { y, dx, dw, db };
}

describe('fused LayerNorm (wasm kernels)', () => {
  const x = randomArray(N * D, 1, -3, 3);
  const w = randomArray(D, 2, 0.5, 1.5);
  const b = randomArray(D, 3);
  const r = randomArray(N * D, 4);
  const want = reference(x, w, b, r);

  const run = (fused: boolean) => (): tf.Tensor[] => {
    const xt = tf.tensor2d(x, [N, D]);
    const wt = tf.tensor1d(w);
    const bt = tf.tensor1d(b);
    const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor): tf.Scalar => {
      const y = fused ? fusedLayerNorm(xi, wi, bi, EPS) : new LayerNorm('ln', null, null, EPS).apply(xi).mul(wi).add(bi);
      return tf.sum(tf.mul(y, tf.tensor2d(r, [N, D])));
    };
    const y = fused ? fusedLayerNorm(xt, wt, bt, EPS) : new LayerNorm('ln', null, null, EPS).apply(xt).mul(wt).add(bt);
    return [y, ...tf.grads(f)([xt, wt, bt])];
  };

  test('forward and gradients (x, weight, bias) match the formula', async () => {
    const [y, dx, dw, db] = await runOn('wasm', run(true));
    expect(maxAbsDiff(y, want.y)).toBeLessThan(2e-6);
    expect(maxAbsDiff(dx, want.dx)).toBeLessThan(2e-6);
    expect(maxAbsDiff(dw, want.dw)).toBeLessThan(2e-6);
    expect(maxAbsDiff(db, want.db)).toBeLessThan(2e-6);
  });

  test('equal the composite LayerNorm on the cpu backend', async () => {
    const fused = await runOn('wasm', run(true));
    const composite = await runOn('cpu', run(false));
    fused.forEach((t, i) => expect(maxAbsDiff(t, composite[i])).toBeLessThan(2e-6));
  });

  test('without affine parameters, and leaving no tensor behind with or without a tape', async () => {
    await switchBackend('wasm');
    const before = tf.memory().numTensors;
    const xt = tf.tensor2d(x, [N, D]);
    const y = fusedLayerNorm(xt, null, null, EPS);
    const unit = reference(x, new Float32Array(D).fill(1), new Float32Array(D), r);
    expect(maxAbsDiff(y.dataSync(), unit.y)).toBeLessThan(2e-6);
    const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(fusedLayerNorm(xi, null, null, EPS), tf.tensor2d(r, [N, D]))))(xt);
    expect(maxAbsDiff(g.dataSync(), unit.dx)).toBeLessThan(2e-6);
    tf.dispose([xt, y, g]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
