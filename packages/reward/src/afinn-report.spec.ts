// Correlation helpers against values computed by hand (ties averaged as scipy.stats.rankdata does).
import { pearson, ranks, spearman } from './afinn-report';

describe('correlations', () => {
  test('pearson of a perfect line is 1, of its mirror -1', () => {
    expect(pearson([1, 2, 3, 4], [3, 5, 7, 9])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [9, 7, 5, 3])).toBeCloseTo(-1, 12);
  });

  test('pearson of a small hand-worked example', () => {
    // x = [1,2,3], y = [1,3,2]: mean 2 each; sxy = (-1)(-1) + 0 + (1)(0) = 1; sxx = syy = 2 -> r = 0.5.
    expect(pearson([1, 2, 3], [1, 3, 2])).toBeCloseTo(0.5, 12);
  });

  test('ranks average ties like scipy.stats.rankdata', () => {
    expect(ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
  });

  test('spearman with ties', () => {
    // ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: sxy = 4.5, sxx = 4.5, syy = 5 -> 4.5 / sqrt(22.5) = 0.9486832980505138
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(0.9486832980505138, 12);
  });
});
