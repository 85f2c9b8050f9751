// Checks wasm's JS UnsortedSegmentSum against hand-computed sums and the cpu backend.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';

const sum = (x: number[] | Float32Array, xShape: number[], ids: number[], idShape: number[], n: number, dtype: 'float32' | 'int32' = 'float32') =>
  // tfjs types segment ids as 1-D; the kernel (and TF) also take higher ranks, tested below.
  () => tf.unsortedSegmentSum(tf.tensor(x, xShape, dtype), tf.tensor(ids, idShape as [number], 'int32') as tf.Tensor1D, n);

/** TF's definition, written out: out[s] = sum of rows whose id is s; ids outside [0, n) are dropped. */
function reference(x: Float32Array, inner: number, ids: number[], n: number): Float32Array {
  const out = new Float32Array(n * inner);
  ids.forEach((s, i) => {
    if (s < 0 || s >= n) return;
    for (let j = 0; j < inner; j++) out[s * inner + j] += x[i * inner + j];
  });
  return out;
}

describe('UnsortedSegmentSum on wasm', () => {
  test('matches hand-computed sums, dropping out-of-range ids', async () => {
    // rows: [1,2], [3,4], [5,6], [7,8], [9,10]; ids 1, -1, 1, 3, 0 with 3 segments (3 and -1 dropped)
    const [out] = await runOn('wasm', sum([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2], [1, -1, 1, 3, 0], [5], 3));
    expect(Array.from(out)).toEqual([9, 10, 6, 8, 0, 0]);
  });

  // [name, x shape, ids shape, segments, whether the cpu backend handles it (rank-2 ids and zero segments crash it)]
  const cases: [string, number[], number[], number, boolean][] = [
    ['embedding-gradient shape', [24, 16], [24], 10, true],
    ['scalar rows', [50], [50], 5, true],
    ['more segments than rows', [2, 3], [2], 9, true],
    ['empty input', [0, 4], [0], 3, true],
    ['rank-2 segment ids', [3, 4, 5], [3, 4], 7, false],
    ['zero segments', [4, 2], [4], 0, false],
  ];
  test.each(cases)('%s equals the definition (and cpu)', async (_name, xShape, idShape, n, cpuHandles) => {
    const size = xShape.reduce((a, b) => a * b, 1);
    const idCount = idShape.reduce((a, b) => a * b, 1);
    // ids from -2 to n+1, so some fall outside [0, n)
    const ids = Array.from(randomArray(idCount, 7, -2, n + 2), (v) => Math.floor(v));
    const x = randomArray(size, 3);
    const [got] = await runOn('wasm', sum(x, xShape, ids, idShape, n));
    const want = reference(x, xShape.slice(idShape.length).reduce((a, b) => a * b, 1), ids, n);
    expect(got.length).toBe(want.length);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
    if (cpuHandles) {
      const [cpu] = await runOn('cpu', sum(x, xShape, ids, idShape, n));
      expect(maxAbsDiff(got, cpu)).toBeLessThan(1e-6);
    }
  });

  test('int32 values equal cpu exactly', async () => {
    const x = Array.from({ length: 30 }, (_, i) => i * 3 - 20);
    const ids = [0, 1, 2, 0, 1, 2, 5, 4, 3, 9];
    const [want] = await runOn('cpu', sum(x, [10, 3], ids, [10], 6, 'int32'));
    const [got] = await runOn('wasm', sum(x, [10, 3], ids, [10], 6, 'int32'));
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  test('the gradient of an embedding gather equals cpu, and leaks no tensor', async () => {
    const table = randomArray(12 * 8, 11);
    const ids = [3, 1, 3, 0, 11, 3, 7, 1];
    const grad = () => {
      const emb = tf.tensor2d(table, [12, 8]);
      const g = tf.grad((e: tf.Tensor) => tf.gather(e, tf.tensor1d(ids, 'int32')).square().sum())(emb);
      emb.dispose();
      return g;
    };
    const [want] = await runOn('cpu', grad);
    await switchBackend('wasm');
    const before = tf.memory().numTensors;
    const [got] = await runOn('wasm', grad);
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
  });
});
