// Checks the wasm Sum wrapper (reduction over leading axes in JS) against cpu, bit for bit.
import * as tf from '@tensorflow/tfjs';
import { maxAbsDiff, randomArray, runOn, switchBackend } from '../testing/backends';
import { leadingAxes } from './leading-sum';

describe('wasm Sum over leading axes', () => {
  test('recognises leading-axis reductions only', () => {
    expect(leadingAxes(0, [4, 5])).toBe(1);
    expect(leadingAxes([1, 0], [2, 3, 4])).toBe(2);
    expect(leadingAxes([-3, -2], [2, 3, 4])).toBe(2);
    expect(leadingAxes(1, [4, 5])).toBe(0); // innermost: stock kernel
    expect(leadingAxes([0, 2], [2, 3, 4])).toBe(0);
    expect(leadingAxes([0, 1], [2, 3])).toBe(0); // all axes: stock kernel
  });

  // [name, shape, axis, keepDims]
  const cases: [string, number[], number | number[], boolean][] = [
    ['bias gradient [N, d] over axis 0', [300, 64], 0, false],
    ['LayerNorm gradient [B, T, d] over [0, 1]', [4, 33, 48], [0, 1], false],
    ['keepDims', [6, 7, 5], [0, 1], true],
    ['negative axes', [6, 7, 5], [-3], false],
    ['innermost axis (stock kernel)', [6, 7, 5], -1, false],
    ['every axis (stock kernel)', [6, 7], [0, 1], false],
    ['no rows', [0, 5], 0, false],
  ];
  test.each(cases)('%s equals cpu exactly', async (_name, shape, axis, keepDims) => {
    const v = randomArray(shape.reduce((a, b) => a * b, 1), 21, -3, 3);
    const run = () => tf.sum(tf.tensor(v, shape), axis, keepDims);
    const [want] = await runOn('cpu', run);
    await switchBackend('wasm');
    const before = tf.memory().numTensors;
    const [got] = await runOn('wasm', run);
    expect(tf.memory().numTensors).toBe(before);
    expect(got.length).toBe(want.length);
    const leading = leadingAxes(axis, shape) > 0;
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(leading ? 0 : 1e-5);
  });

  test('keepDims keeps the reduced axes as size 1', async () => {
    await switchBackend('wasm');
    const y = tf.sum(tf.ones([3, 4, 5]), [0, 1], true);
    expect(y.shape).toEqual([1, 1, 5]);
    expect(Array.from(y.dataSync())).toEqual([12, 12, 12, 12, 12]);
    y.dispose();
  });
});
