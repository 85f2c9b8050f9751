// Transpose, GatherV2, Identity (wasm) and UnsortedSegmentSum (cpu) replacements against definitions and stock kernels.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { classifyPerm, unwrapWasmTranspose, wrapWasmTranspose } from './transpose';
import { registerCpuKernels } from './cpu-kernels';

/** out[idx(perm)] written out on the host. */
function transposeRef(x: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(x.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let rem = o;
    for (let i = outShape.length - 1; i >= 0; i--) {
      idx[perm[i]] = rem % outShape[i];
      rem = Math.floor(rem / outShape[i]);
    }
    out[o] = x[idx.reduce((a, v, i) => a + v * strides[i], 0)];
  }
  return out;
}

describe('Transpose on wasm', () => {
  test('classifies matrix swaps, no-ops and the rest', () => {
    expect(classifyPerm([4, 8], [1, 0])).toEqual({ batch: 1, rows: 4, cols: 8 });
    expect(classifyPerm([2, 3, 4, 8], [0, 1, 3, 2])).toEqual({ batch: 6, rows: 4, cols: 8 });
    expect(classifyPerm([1, 16, 8], [0, 2, 1])).toEqual({ batch: 1, rows: 16, cols: 8 });
    expect(classifyPerm([1, 16, 8], [1, 0, 2])).toBe('identity');
    expect(classifyPerm([16, 1, 8], [1, 0, 2])).toBe('identity');
    expect(classifyPerm([8, 16, 4, 64], [0, 2, 1, 3])).toBeNull();
  });

  const cases: [number[], number[]][] = [
    [[64, 128], [1, 0]], // SIMD 4x4 tiles
    [[3, 16, 32], [0, 2, 1]], // batched
    [[1, 32, 1, 12], [0, 3, 2, 1]], // size-1 dims around a matrix swap
    [[6, 10], [1, 0]], // not a multiple of 4: stock kernel
    [[2, 5, 3, 4], [0, 2, 1, 3]], // general permutation: stock kernel
    [[1, 24, 8], [1, 0, 2]], // no-op: shares the buffer
  ];
  test.each(cases)('%j by %j equals the definition, for float32 and int32', async (shape, perm) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randomArray(n, 5, -100, 100).map(Math.round);
    const want = transposeRef(x, shape, perm);
    const [f] = await runOn('wasm', () => tf.transpose(tf.tensor(x, shape), perm));
    const [i] = await runOn('wasm', () => tf.cast(tf.transpose(tf.tensor(x, shape, 'int32'), perm), 'float32'));
    expect(maxAbsDiff(f, want)).toBe(0);
    expect(maxAbsDiff(i, want)).toBe(0);
  });

  test('a no-op result outlives its input, and the stock kernel can be put back', async () => {
    await switchBackend('wasm');
    const x = tf.tensor([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const y = tf.transpose(x, [1, 0, 2]);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(y.shape).toEqual([2, 1, 3]);
    y.dispose();
    unwrapWasmTranspose();
    const z = tf.tidy(() => tf.transpose(tf.tensor2d([[1, 2], [3, 4]])));
    expect(Array.from(z.dataSync())).toEqual([1, 3, 2, 4]);
    z.dispose();
    wrapWasmTranspose();
  });
});

describe('GatherV2 and Identity on wasm', () => {
  test('row gathers equal the definition; other axes still work; bad ids are an error', async () => {
    const table = randomArray(7 * 5, 9);
    const ids = [[3, 0, 6], [6, 6, 1]];
    const [got] = await runOn('wasm', () => tf.gather(tf.tensor2d(table, [7, 5]), tf.tensor2d(ids, [2, 3], 'int32')));
    const want = ids.flat().flatMap((r) => Array.from(table.subarray(r * 5, r * 5 + 5)));
    expect(maxAbsDiff(got, want)).toBe(0);
    const [cols] = await runOn('wasm', () => tf.gather(tf.tensor2d(table, [7, 5]), tf.tensor1d([4, 0], 'int32'), 1));
    expect(maxAbsDiff(cols, Array.from({ length: 7 }, (_, r) => [table[r * 5 + 4], table[r * 5]]).flat())).toBe(0);
    await switchBackend('wasm');
    const before = tf.memory().numTensors;
    expect(() => tf.tidy(() => tf.gather(tf.tensor2d(table, [7, 5]), tf.tensor1d([7], 'int32')))).toThrow(/index value 7 is not in \[0, 6\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a clone shares the buffer and outlives the original', async () => {
    await switchBackend('wasm');
    const x = tf.tensor1d([1.5, -2]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2]);
    y.dispose();
  });
});

describe('UnsortedSegmentSum on cpu', () => {
  test('the one-pass kernel equals the stock kernel bit for bit', async () => {
    await switchBackend('cpu');
    const replaced = tf.getKernel('UnsortedSegmentSum', 'cpu');
    const stock = (replaced.kernelFunc as unknown as Record<symbol, tf.KernelConfig | undefined>)[Symbol.for('rlhfkit.cpu.stockKernel')];
    expect(stock).toBeDefined();
    const x = randomArray(40 * 6, 13, -5, 5);
    const ids = Array.from(randomArray(40, 14, -2, 12), Math.floor); // some ids out of [0, 10)
    const ours = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(x, [40, 6]), tf.tensor1d(ids, 'int32'), 10).dataSync());
    tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(stock as tf.KernelConfig);
    try {
      const theirs = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(x, [40, 6]), tf.tensor1d(ids, 'int32'), 10).dataSync());
      expect(Array.from(ours)).toEqual(Array.from(theirs));
    } finally {
      tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
      tf.registerKernel(replaced);
    }
    expect(registerCpuKernels()).toEqual([]); // already replaced: idempotent
  });
});
