// Checks that kernels wasm lacks run on wasm through the cpu bridge, equal cpu, and leak nothing.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { bridgeableKernels } from './cpu-bridge';

function cpuDataIds(): number {
  return (tf.findBackend('cpu') as unknown as { numDataIds(): number }).numDataIds();
}

describe('cpu bridge for kernels missing on wasm', () => {
  test('bridges Einsum, the conv filter gradients and the ragged kernels, not complex or canvas ones', async () => {
    await switchBackend('wasm');
    const onWasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    for (const name of ['Einsum', 'Conv2DBackpropFilter', 'RaggedRange', 'RaggedGather', 'RaggedTensorToTensor']) {
      expect(onWasm.has(name)).toBe(true);
    }
    for (const name of ['Complex', 'FFT', 'Draw']) expect(onWasm.has(name)).toBe(false);
    expect(bridgeableKernels()).toEqual([]); // nothing left to bridge once registered
  });

  const einsums: [string, number[][]][] = [
    ['ij,jk->ik', [[3, 4], [4, 5]]],
    ['bij,bjk->bik', [[2, 3, 4], [2, 4, 6]]],
    ['ij->ji', [[5, 2]]],
    ['i,i->', [[7], [7]]],
    ['ij,j->i', [[0, 3], [3]]],
  ];
  test.each(einsums)('einsum %s equals cpu', async (eq, shapes) => {
    const values = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b, 1), 100 + i));
    const run = () => tf.einsum(eq, ...shapes.map((s, i) => tf.tensor(values[i], s)));
    const [want] = await runOn('cpu', run);
    await switchBackend('wasm');
    const before = tf.memory().numTensors;
    const cpuBefore = cpuDataIds();
    const [got] = await runOn('wasm', run);
    expect(maxAbsDiff(got, want)).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(cpuDataIds()).toBe(cpuBefore); // the bridge's cpu copies are freed
  });

  test('conv2d filter gradient equals cpu', async () => {
    const x = randomArray(2 * 6 * 6 * 3, 5);
    const w = randomArray(3 * 3 * 3 * 4, 6);
    const run = () => tf.grad((f: tf.Tensor) => tf.conv2d(tf.tensor4d(x, [2, 6, 6, 3]), f as tf.Tensor4D, 1, 'same').square().sum())(
      tf.tensor4d(w, [3, 3, 3, 4]));
    const [want] = await runOn('cpu', run);
    const [got] = await runOn('wasm', run);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
  });

  test('multi-output ragged kernels equal cpu', async () => {
    const run = () => {
      const r = tf.raggedRange(tf.tensor1d([0, 5, 8], 'int32'), tf.tensor1d([3, 5, 12], 'int32'), tf.tensor1d([1, 1, 2], 'int32'));
      return [r.rtNestedSplits, r.rtDenseValues];
    };
    const want = await runOn('cpu', run);
    const got = await runOn('wasm', run);
    expect(got.map((a) => Array.from(a))).toEqual(want.map((a) => Array.from(a)));
    expect(Array.from(got[1])).toEqual([0, 1, 2, 8, 10]);
  });

  test('string kernels pass through the bridge', async () => {
    await switchBackend('wasm');
    const out = tf.string.staticRegexReplace(tf.tensor1d(['a-b', 'c--d'], 'string'), '-+', '_');
    expect(await out.array()).toEqual(['a_b', 'c_d']);
    out.dispose();
  });
});
