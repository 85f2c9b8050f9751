import { logSoftmaxInPlace, topEntries } from './logprobs';

describe('log-probability helpers', () => {
  it('log_softmax sums to one in probability space and keeps the order', () => {
    const row = Float32Array.from([1, 2, 3, -1000]);
    logSoftmaxInPlace(row);
    const total = Array.from(row).reduce((a, v) => a + Math.exp(v), 0);
    expect(total).toBeCloseTo(1, 6);
    expect(row[2] - row[1]).toBeCloseTo(1, 5);
  });

  it('topEntries keeps the k largest, largest first, lower index first on ties', () => {
    expect(topEntries(Float32Array.from([0.1, 0.5, 0.3, 0.5, 0.2]), 3)).toEqual([[1, 0.5], [3, 0.5], [2, 0.30000001192092896]]);
    expect(topEntries(Float32Array.from([1, 2]), 0)).toEqual([]);
    expect(topEntries(Float32Array.from([1, 2]), 5)).toEqual([[1, 2], [0, 1]]);
  });
});
