// Checks the MT19937/RandomState port and the data_split maths against numbers printed by numpy 1.24 and CPython.
import { getShuffleIdx, MT19937, RandomState } from './np-random';
import { getSplitIndex, parseDataSplit, pyRound, splitBoundaries } from './split';

describe('MT19937 (numpy legacy seeding)', () => {
  it('matches numpy raw 32-bit outputs', () => {
    // np.frombuffer(np.random.RandomState(5489).bytes(12), '<u4') -> the reference MT19937 stream
    const a = new MT19937(5489);
    expect([a.nextUint32(), a.nextUint32(), a.nextUint32()]).toEqual([3499211612, 581869302, 3890346734]);
    // np.frombuffer(np.random.RandomState(1234).bytes(20), '<u4')
    const b = new MT19937(1234);
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual([822569775, 2137449171, 2671936806, 3512589365, 1880026316]);
  });

  it('rejects seeds numpy rejects', () => {
    expect(() => new MT19937(-1)).toThrow(/2\*\*32 - 1/);
    expect(() => new MT19937(2 ** 32)).toThrow(/2\*\*32 - 1/);
  });
});

describe('getShuffleIdx (np.random.RandomState(seed).shuffle(np.arange(n)))', () => {
  // Printed by: r = np.random.RandomState(seed=seed); a = np.arange(0, n, 1, dtype=np.uint32); r.shuffle(a)
  const cases: [number, number, number[]][] = [
    [1234, 10, [7, 2, 9, 1, 0, 8, 4, 5, 6, 3]],
    [42, 10, [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]],
    [0, 1, [0]],
    [0, 2, [1, 0]],
    [1234, 20, [3, 13, 2, 16, 14, 5, 4, 0, 8, 18, 17, 11, 10, 9, 7, 1, 19, 12, 6, 15]],
    [7, 13, [8, 10, 2, 5, 0, 1, 12, 7, 11, 3, 6, 9, 4]],
    [4294967295, 16, [8, 1, 5, 11, 9, 14, 15, 13, 10, 6, 0, 4, 7, 12, 2, 3]],
  ];
  it.each(cases)('seed %d, n=%d', (seed, n, expected) => {
    expect(getShuffleIdx(seed, n)).toEqual(expected);
  });

  it('matches numpy on larger sizes (head, tail and sum(i*v))', () => {
    const a = getShuffleIdx(1234, 1000);
    expect(a.slice(0, 12)).toEqual([681, 990, 155, 768, 438, 363, 688, 555, 620, 99, 756, 428]);
    expect(a.slice(-12)).toEqual([154, 233, 279, 689, 655, 664, 372, 204, 53, 294, 723, 815]);
    expect(a.reduce((s, v, i) => s + i * v, 0)).toBe(251398022);
    // Dahoas/rm-static's train split has 76256 rows.
    const b = getShuffleIdx(1234, 76256);
    expect(b.slice(0, 8)).toEqual([52824, 66562, 19769, 48382, 52418, 68085, 72559, 42520]);
    expect(b.slice(-8)).toEqual([23706, 9449, 41239, 55985, 32399, 60620, 34086, 58067]);
    expect(b.reduce((s, v, i) => s + i * v, 0)).toBe(110834017472054);
  });

  it('RandomState.shuffle works on arrays of anything', () => {
    const letters = 'abcdefghij'.split('');
    new RandomState(1234).shuffle(letters);
    expect(letters.join('')).toBe('hcjbaiefgd'); // the index permutation [7,2,9,1,0,8,4,5,6,3]
  });
});

describe('data_split boundaries (CPython round-half-even)', () => {
  it('pyRound rounds halves to even', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, 2.4999, 2.5001].map(pyRound)).toEqual([0, 2, 2, 4, 0, 2, 3]);
  });

  // Printed by the body of get_raw_dataset_split_index in CPython 3.11.
  const cases: [string, number, number[]][] = [
    ['2,4,4', 76256, [0, 15252, 45754, 76256]],
    ['2,4,4', 5103, [0, 1021, 3062, 5103]],
    ['2,4,4', 10, [0, 2, 6, 10]],
    ['2,4,4', 5, [0, 1, 3, 5]],
    ['2,4,4', 7, [0, 1, 4, 7]],
    ['1,1,1', 10, [0, 4, 7, 10]],
    ['9,1', 33143, [0, 29829, 33143]],
    ['9,1', 25, [0, 23, 25]],
    ['10,0,0', 17, [0, 17, 17, 17]],
    ['6,2,2', 101, [0, 61, 81, 101]],
    ['1,1', 5, [0, 3, 5]],
    ['1,1,1', 2, [0, 0, 1, 2]],
    ['0.1,0.2,0.7', 1000, [0, 100, 300, 1000]],
    ['3,3,3,1', 15, [0, 5, 9, 13, 15]],
  ];
  it.each(cases)('%s of %d', (split, n, expected) => {
    expect(splitBoundaries(split, n)).toEqual(expected);
  });

  it('cuts one permutation into disjoint chunks that cover every row', () => {
    const chunks = [0, 1, 2].map((i) => getSplitIndex(1234, '2,4,4', i, 1000));
    expect(chunks.map((c) => c.length)).toEqual([200, 400, 400]);
    const all = chunks.flat();
    expect(new Set(all).size).toBe(1000);
    expect(chunks[0].slice(0, 4)).toEqual([681, 990, 155, 768]); // head of getShuffleIdx(1234, 1000)
  });

  it('rejects malformed split strings with a message that shows the expected form', () => {
    expect(() => parseDataSplit('2,4')).toThrow(/'2,4' has 2 part\(s\); expected 3 .*"2,4,4"/);
    expect(() => parseDataSplit('a,b,c')).toThrow(/'a' is not a non-negative number/);
    expect(() => parseDataSplit('2,-1,4')).toThrow(/'-1' is not a non-negative number/);
    expect(() => parseDataSplit('0,0,0')).toThrow(/sums to 0/);
    expect(() => parseDataSplit('0x2,1,1')).toThrow(/not a non-negative number/);
    expect(parseDataSplit(' 2, 4 ,4')).toEqual([2, 4, 4]);
  });
});
