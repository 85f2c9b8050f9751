// Checks the spec helpers: describeBackends/useBackend switch backends with kernels registered, and the utilities.
import * as tf from '@tensorflow/tfjs';
import { describeBackends, maxAbsDiff, randomArray, tensorsLeftBy, useBackend } from './backends';

describeBackends('describeBackends', (backend) => {
  test('runs the block on its backend, where training ops work', () => {
    expect(tf.getBackend()).toBe(backend);
    // The gradient of gather needs UnsortedSegmentSum, which only rlhfkit registers on wasm.
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d([0, 0, 2], 'int32')).sum())(tf.ones([3, 2])));
    expect(Array.from(g.dataSync())).toEqual([2, 2, 0, 0, 1, 1]);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('useBackend', () => {
  describe('inner block', () => {
    useBackend('cpu');
    test('switches to its backend', () => expect(tf.getBackend()).toBe('cpu'));
  });
  describe('a later block', () => {
    useBackend('wasm');
    test('switches again', () => expect(tf.getBackend()).toBe('wasm'));
  });
});

describe('helpers', () => {
  test('randomArray is deterministic, in range, and differs by seed', () => {
    const a = randomArray(1000, 42, -2, 3);
    expect(Array.from(a)).toEqual(Array.from(randomArray(1000, 42, -2, 3)));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...a)).toBeLessThan(3);
    expect(maxAbsDiff(a, randomArray(1000, 43, -2, 3))).toBeGreaterThan(1);
  });

  test('maxAbsDiff treats NaN as an infinite difference and rejects length mismatches', () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBe(1);
    expect(maxAbsDiff([1, NaN], [1, 2])).toBe(Infinity);
    expect(() => maxAbsDiff([1], [1, 2])).toThrow('lengths differ (1 vs 2)');
  });

  test('tensorsLeftBy counts leaks and ignores what the function returns', () => {
    let kept: tf.Tensor | null = null;
    expect(tensorsLeftBy(() => tf.tidy(() => tf.ones([2]).add(1)))).toBe(0);
    expect(tensorsLeftBy(() => {
      kept = tf.ones([2]);
    })).toBe(1);
    (kept as tf.Tensor | null)?.dispose();
  });
});
