// Checks the wasm BatchMatMul/_FusedMatMul wrappers against cpu (and tiled references where cpu is wrong).
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { FAST_MATMUL_MIN_MACS, planMatMul, unwrapWasmMatMul, useFastPath, wrapWasmMatMul } from './batch-mat-mul';
import { asWasm } from './wasm-internals';

const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

/** Runs matMul on both backends from the same inputs; returns [wasm, cpu] and checks wasm leaked nothing. */
async function bothBackends(aShape: number[], bShape: number[], f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor | tf.Tensor[], cpuToo = true) {
  const av = randomArray(size(aShape), 1);
  const bv = randomArray(size(bShape), 2);
  const run = () => f(tf.tensor(av, aShape), tf.tensor(bv, bShape));
  const cpu = cpuToo ? await runOn('cpu', run) : [];
  await switchBackend('wasm');
  const tensors = tf.memory().numTensors;
  const ids = wasmDataIds();
  const wasm = await runOn('wasm', run);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(wasmDataIds()).toBe(ids); // no view or transposed copy left registered
  return { wasm, cpu };
}

describe('wasm BatchMatMul wrapper', () => {
  beforeAll(() => switchBackend('wasm'));

  // [name, a shape, b shape, transposeA, transposeB]
  const cases: [string, number[], number[], boolean, boolean][] = [
    ['A^T.B (weight gradient)', [96, 64], [96, 80], true, false],
    ['A.B^T (tied LM head)', [40, 64], [120, 64], false, true],
    ['A^T.B^T', [64, 48], [72, 64], true, true],
    ['attention scores q.k^T [B,H,T,dh]', [2, 3, 32, 16], [2, 3, 32, 16], false, true],
    ['attention context p.v [B,H,T,T]', [2, 3, 32, 32], [2, 3, 32, 16], false, false],
    ['attention grads p^T.dy', [2, 3, 32, 32], [2, 3, 32, 16], true, false],
    ['3-D activations times a 2-D weight (rows folded)', [3, 40, 64], [64, 48], false, false],
    ['3-D activations times a transposed weight', [3, 40, 64], [48, 64], false, true],
    ['shared A, batched B', [1, 40, 32], [4, 32, 24], false, false],
    ['batch dims missing on one side', [2, 3, 24, 32], [3, 32, 40], false, false],
    ['below the size threshold', [4, 8, 8], [4, 8, 8], true, true],
    ['single row', [1, 256], [128, 256], false, true],
    ['small one-sided broadcast', [3, 8, 8], [8, 8], false, false],
  ];
  test.each(cases)('%s equals cpu', async (_name, aShape, bShape, ta, tb) => {
    const { wasm, cpu } = await bothBackends(aShape, bShape, (a, b) => tf.matMul(a, b, ta, tb));
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
  });

  test('large cases take the fast path and small ones keep the stock kernel', () => {
    const fast = (a: number[], b: number[], ta: boolean, tb: boolean) => useFastPath(planMatMul(a, b, ta, tb), ta, tb);
    expect(fast([96, 64], [96, 80], true, false)).toBe(true);
    expect(fast([2, 3, 32, 16], [2, 3, 32, 16], false, true)).toBe(true);
    expect(fast([4, 8, 8], [4, 8, 8], true, true)).toBe(false);
    expect(fast([96, 64], [64, 80], false, false)).toBe(false); // stock already runs XNNPACK here
    expect(fast([64, 0], [64, 80], true, false)).toBe(false);
    expect(fast([2, 1, 8, 8], [1, 3, 8, 8], false, false)).toBe(true); // broadcasting: always ours
    expect(16 * 32 * 32).toBeGreaterThanOrEqual(FAST_MATMUL_MIN_MACS);
  });

  // cpu (and stock wasm) pair flattened batches modulo each side's count and size the output by the larger
  // count, so [2,1]x[1,3] batches come back wrong or short; compare with explicitly tiled operands instead.
  test.each([[24, 32, 20], [8, 8, 8]])('[2,1,m,k] x [1,3,k,n] broadcasts like numpy (m,k,n = %i,%i,%i)', async (m, k, n) => {
    const aShape = [2, 1, m, k];
    const bShape = [1, 3, k, n];
    const { wasm } = await bothBackends(aShape, bShape, (a, b) => tf.matMul(a, b), false);
    const [tiled] = await runOn('cpu', () =>
      tf.matMul(tf.tile(tf.tensor(randomArray(size(aShape), 1), aShape), [1, 3, 1, 1]),
        tf.tile(tf.tensor(randomArray(size(bShape), 2), bShape), [2, 1, 1, 1])));
    expect(maxAbsDiff(wasm[0], tiled)).toBeLessThan(1e-4);
    const plan = planMatMul(aShape, bShape, false, false);
    expect(plan.aIndex).toEqual([0, 0, 0, 1, 1, 1]);
    expect(plan.bIndex).toEqual([0, 1, 2, 0, 1, 2]);
  });

  test('gradients through transposed and batched products equal cpu', async () => {
    const { wasm, cpu } = await bothBackends([2, 4, 32, 16], [2, 4, 32, 16], (a, b) =>
      tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.softmax(tf.matMul(x, y, false, true)).matMul(y).square().sum())([a, b]));
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
    expect(maxAbsDiff(wasm[1], cpu[1])).toBeLessThan(1e-4);
  });

  test('new B contents with the same shape are never served from a stale XNNPACK cache', async () => {
    await switchBackend('wasm');
    const a = tf.tensor(randomArray(64 * 48, 3), [64, 48]);
    const w = tf.variable(tf.tensor(randomArray(80 * 48, 4), [80, 48]));
    for (let step = 0; step < 3; step++) {
      const got = tf.matMul(a, w, false, true);
      const plain = tf.matMul(a, tf.transpose(w)); // stock XNNPACK path, cached by w's id
      const [gv, pv] = [got.dataSync(), plain.dataSync()];
      const av = a.dataSync();
      const wv = w.dataSync();
      // row 5, column 7 by hand
      let dot = 0;
      for (let k = 0; k < 48; k++) dot += av[5 * 48 + k] * wv[7 * 48 + k];
      expect(Math.abs(gv[5 * 80 + 7] - dot)).toBeLessThan(1e-4);
      expect(maxAbsDiff(gv, pv)).toBeLessThan(1e-4);
      tf.dispose([got, plain]);
      w.assign(tf.tidy(() => w.mul(-1.5).add(0.25)));
    }
    tf.dispose([a, w]);
  });

  test('wrapping is idempotent and reversible', async () => {
    await switchBackend('wasm');
    expect(wrapWasmMatMul()).toEqual([]);
    unwrapWasmMatMul();
    const stock = tf.getKernel('BatchMatMul', 'wasm').kernelFunc;
    expect(wrapWasmMatMul()).toEqual(['BatchMatMul', '_FusedMatMul']);
    expect(tf.getKernel('BatchMatMul', 'wasm').kernelFunc).not.toBe(stock);
    expect(asWasm(tf.backend()).wasm).toBeDefined();
  });
});

describe('wasm _FusedMatMul wrapper', () => {
  const activations = ['linear', 'relu', 'relu6', 'sigmoid', 'elu', 'leakyrelu', 'prelu'] as const;
  test.each(activations)('bias + %s with transposeB and a batch equals cpu (stock wasm adds the wrong bias)', async (activation) => {
    const biasV = randomArray(40, 9);
    const alphaV = randomArray(40, 10, 0, 0.5);
    const { wasm, cpu } = await bothBackends([2, 24, 32], [2, 40, 32], (a, b) => tf.fused.matMul({
      a, b, transposeB: true, bias: tf.tensor1d(biasV), activation,
      preluActivationWeights: activation === 'prelu' ? tf.tensor1d(alphaV) : undefined,
      leakyreluAlpha: 0.1,
    }));
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
  });

  test('plain batch-1 products keep the stock XNNPACK kernel and equal cpu', async () => {
    const biasV = randomArray(40, 9);
    const { wasm, cpu } = await bothBackends([24, 32], [32, 40], (a, b) =>
      tf.fused.matMul({ a, b, bias: tf.tensor1d(biasV), activation: 'relu' }));
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-4);
  });

  test('small transposed products with a bias are also corrected', async () => {
    const biasV = randomArray(3, 9);
    const { wasm, cpu } = await bothBackends([2, 4], [3, 4], (a, b) =>
      tf.fused.matMul({ a, b, transposeB: true, bias: tf.tensor1d(biasV) }));
    expect(maxAbsDiff(wasm[0], cpu[0])).toBeLessThan(1e-5);
  });
});
