// Specs for global-norm clipping (hand-computed norms) and gradient accumulation (vs a float64 hand gradient).
import * as tf from '@tensorflow/tfjs';
import { clipGradNorm, globalNorm } from './grad-clip';
import { GradientAccumulator } from './grad-accum';
import { expectClose } from './testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const read = (t: tf.Tensor | undefined): number[] => Array.from((t as tf.Tensor).dataSync());

describe('clipGradNorm (torch clip_grad_norm_ semantics)', () => {
  function grads(): Map<string, tf.Tensor> {
    // per-tensor norms 5 and 12 -> global norm 13
    return new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 4])], ['b', tf.tensor2d([[0, -12]])]]);
  }

  it('scales by maxNorm / (norm + 1e-6) when that is below 1, and returns the pre-clip norm', () => {
    const g = grads();
    const before = tf.memory().numTensors;
    const r = clipGradNorm(g, 6.5);
    expect(r.totalNorm).toBe(13);
    const coef = 6.5 / (13 + 1e-6);
    expect(r.coef).toBe(coef);
    expect(r.clipped).toBe(true);
    expectClose(read(g.get('a')), [3 * coef, 4 * coef], 1e-7);
    expectClose(read(g.get('b')), [0, -12 * coef], 1e-6);
    expect(tf.memory().numTensors).toBe(before); // old gradients were disposed
    tf.dispose([...g.values()]);
  });

  it('leaves gradients (the same tensors) alone under the limit', () => {
    const g = grads();
    const a = g.get('a');
    const r = clipGradNorm(g, 13.5);
    expect(r).toEqual({ totalNorm: 13, coef: 1, clipped: false, finite: true });
    expect(g.get('a')).toBe(a);
    tf.dispose([...g.values()]);
  });

  it('supports the inf norm (max |g|)', () => {
    const g = grads();
    expect(globalNorm([...g.values()], Infinity)).toBe(12);
    const r = clipGradNorm(g, 6, { normType: Infinity });
    expect(r.coef).toBe(6 / (12 + 1e-6));
    tf.dispose([...g.values()]);
  });

  it('reports a non-finite norm, leaves the gradients, or throws when asked', () => {
    const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([1, NaN])], ['b', tf.tensor1d([2])]]);
    const r = clipGradNorm(g, 1);
    expect(r.finite).toBe(false);
    expect(Number.isNaN(r.totalNorm)).toBe(true);
    expect(read(g.get('b'))).toEqual([2]);
    expect(() => clipGradNorm(g, 1, { errorIfNonfinite: true })).toThrow(/NaN\/Inf/);
    const inf = new Map<string, tf.Tensor>([['x', tf.tensor1d([Infinity])]]);
    expect(clipGradNorm(inf, 1).totalNorm).toBe(Infinity);
    tf.dispose([...g.values(), ...inf.values()]);
  });
});

describe('GradientAccumulator', () => {
  // A tiny linear model y = x W + b with loss = mean over batch and outputs of (y - t)^2.
  const X = [[1, 2, -1], [0.5, -1, 2], [-2, 0, 1], [3, 1, 0.5]];
  const T = [[1, 0], [0, 1], [-1, 2], [0.5, -0.5]];
  const W0 = [[0.1, -0.2], [0.3, 0.05], [-0.4, 0.2]];
  const B0 = [0.01, -0.02];

  // Float64 hand gradient of the mean loss over all 4 rows: dL/dW = 2/(N*O) X^T (XW+b-T), dL/db = 2/(N*O) sum_rows (XW+b-T)
  function handGrad(): { w: number[]; b: number[] } {
    const n = X.length;
    const o = 2;
    const w = new Array(6).fill(0);
    const b = [0, 0];
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < o; j++) {
        let y = B0[j];
        for (let i = 0; i < 3; i++) y += X[r][i] * W0[i][j];
        const d = (2 / (n * o)) * (y - T[r][j]);
        for (let i = 0; i < 3; i++) w[i * o + j] += X[r][i] * d;
        b[j] += d;
      }
    }
    return { w, b };
  }

  function lossOn(vars: { w: tf.Variable; b: tf.Variable }, rows: number[]): () => tf.Scalar {
    return () => {
      const x = tf.tensor2d(rows.map((r) => X[r]));
      const t = tf.tensor2d(rows.map((r) => T[r]));
      return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, vars.w), vars.b), t)));
    };
  }

  it('two micro-batches with loss/2 give the big-batch gradient (and the hand gradient)', () => {
    const vars = { w: tf.variable(tf.tensor2d(W0)), b: tf.variable(tf.tensor1d(B0)) };
    const before = tf.memory().numTensors;

    const big = new GradientAccumulator(1);
    const bigLoss = big.backward(lossOn(vars, [0, 1, 2, 3]), vars);
    expect(big.isBoundary()).toBe(true);

    const acc = new GradientAccumulator(2);
    const l1 = acc.backward(lossOn(vars, [0, 1]), vars);
    expect(acc.isBoundary()).toBe(false);
    const l2 = acc.backward(lossOn(vars, [2, 3]), vars);
    expect(acc.isBoundary()).toBe(true);
    expect(acc.microSteps).toBe(2);
    expect((l1 + l2) / 2).toBeCloseTo(bigLoss, 6); // losses come back unscaled

    const hand = handGrad();
    expectClose(read(acc.grads().get('w')), hand.w, 1e-6);
    expectClose(read(acc.grads().get('b')), hand.b, 1e-6);
    expectClose(read(acc.grads().get('w')), read(big.grads().get('w')), 1e-6);
    expectClose(read(acc.grads().get('b')), read(big.grads().get('b')), 1e-6);

    big.dispose();
    acc.zeroGrad();
    expect(acc.microSteps).toBe(0);
    expect(tf.memory().numTensors).toBe(before); // nothing leaked by backward/add/zeroGrad
    tf.dispose(Object.values(vars));
  });

  it('four micro-batches of one row with gas=4 also equal the hand gradient; frozen variables get no grad', () => {
    const vars = { w: tf.variable(tf.tensor2d(W0)), b: tf.variable(tf.tensor1d(B0), false) };
    const acc = new GradientAccumulator(4);
    for (const r of [0, 1, 2, 3]) acc.backward(lossOn(vars, [r]), vars);
    expect(acc.isBoundary()).toBe(true);
    expectClose(read(acc.grads().get('w')), handGrad().w, 1e-6);
    expect(acc.grads().has('b')).toBe(false);
    acc.dispose();
    tf.dispose(Object.values(vars));
  });

  it('rejects a bad accumulation count and mismatched shapes', () => {
    expect(() => new GradientAccumulator(0)).toThrow(/>= 1/);
    const acc = new GradientAccumulator(2);
    acc.add(new Map([['w', tf.zeros([2])]]));
    expect(() => acc.add(new Map([['w', tf.zeros([3])]]))).toThrow(/'w' has shape \[3\]/);
    acc.dispose();
  });
});
