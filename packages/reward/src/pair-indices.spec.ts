// Hand-worked cases of DeepSpeed-Chat's pair indices (c_ind, r_ind, divergence_ind, end_ind) and forward_value's end index.
import { emptySpan, pairIndices, scoreColumn, valueEndIndices } from './pair-indices';

describe('pairIndices', () => {
  test('OPT convention: BOS = pad = 2 is padding number 0, npb = 1 finds the real padding', () => {
    // chosen: BOS a b c PAD PAD ; rejected: BOS a x y z PAD
    const ids = [
      [2, 5, 6, 7, 2, 2],
      [2, 5, 8, 9, 10, 2],
    ];
    expect(pairIndices(ids, 2, 1)).toEqual([{ cInd: 4, rInd: 5, divergenceInd: 2, endInd: 5, identical: false }]);
  });

  test('npb = 0 with the same ids takes the BOS as the end (what a wrong npb does)', () => {
    const ids = [
      [2, 5, 6, 7, 2, 2],
      [2, 5, 8, 9, 10, 2],
    ];
    expect(pairIndices(ids, 2, 0)[0]).toMatchObject({ cInd: 0, rInd: 0, endInd: 0 });
  });

  test('no padding at all: the end is seq_len', () => {
    const ids = [
      [2, 5, 6, 7],
      [2, 5, 6, 9],
    ];
    expect(pairIndices(ids, 2, 1)).toEqual([{ cInd: 4, rInd: 4, divergenceInd: 3, endInd: 4, identical: false }]);
  });

  test('identical rows: end = seq_len, divergence = seq_len - 1, r_ind = c_ind', () => {
    const ids = [
      [2, 5, 6, 2, 2],
      [2, 5, 6, 2, 2],
    ];
    expect(pairIndices(ids, 2, 1)).toEqual([{ cInd: 3, rInd: 3, divergenceInd: 4, endInd: 5, identical: true }]);
  });

  test('batch of two pairs: rows 0-1 chosen, 2-3 rejected; a collator matrix works too', () => {
    const rows = [
      [1, 5, 6, 0, 0],
      [1, 7, 7, 7, 0],
      [1, 5, 9, 9, 0],
      [1, 8, 0, 0, 0],
    ];
    const expected = [
      { cInd: 3, rInd: 4, divergenceInd: 2, endInd: 4, identical: false },
      { cInd: 4, rInd: 2, divergenceInd: 1, endInd: 4, identical: false },
    ];
    expect(pairIndices(rows, 0, 0)).toEqual(expected);
    expect(pairIndices({ data: Int32Array.from(rows.flat()), shape: [4, 5] }, 0, 0)).toEqual(expected);
  });

  test('rows that differ only after their padding point have an empty span', () => {
    // pad 2 inside the text: both rows "end" at 2, but they first differ at 3.
    const p = pairIndices([[1, 5, 2, 7, 2], [1, 5, 2, 8, 2]], 2, 0)[0];
    expect(p).toMatchObject({ cInd: 2, rInd: 2, divergenceInd: 3, endInd: 2 });
    expect(emptySpan(p)).toBe(true);
    expect(emptySpan(pairIndices([[1, 5, 6, 2], [1, 5, 7, 2]], 2, 0)[0])).toBe(false);
  });

  test('an odd number of rows is an error that says why', () => {
    expect(() => pairIndices([[1, 2, 3]], 0, 0)).toThrow(/chosen rows then B rejected rows/);
  });
});

describe('valueEndIndices', () => {
  test('only the answer part is searched; no pad gives seq_len', () => {
    const ids = [
      [2, 2, 5, 6, 7, 8, 2, 2], // left-padded prompt (2 2 5 6), answer 7 8, then pads
      [2, 5, 6, 7, 8, 9, 10, 11], // no pad after the prompt
      [2, 2, 2, 5, 2, 2, 2, 2], // empty answer: the end score is the last prompt token's value
    ];
    expect(valueEndIndices(ids, 2, 4)).toEqual([6, 8, 4]);
  });

  test('promptLength <= 1 is rejected as DeepSpeed-Chat asserts', () => {
    expect(() => valueEndIndices([[1, 2, 3]], 0, 1)).toThrow(/promptLength must be an integer > 1/);
  });
});

describe('scoreColumn', () => {
  test('index ind - 1, with Python wrap-around for ind = 0', () => {
    expect(scoreColumn(5, 8)).toBe(4);
    expect(scoreColumn(0, 8)).toBe(7);
  });
});
