// Specs for the seeded PRNG: reference vectors, derived distributions, exact resume.
import { Rng, seedWords } from './rng';

// xoshiro128** from state {1,2,3,4}: the published vector (rand_xoshiro's test, produced with Vigna's
// xoshiro128starstar.c) extended to 14 outputs by compiling that C algorithm with gcc (/tmp, not committed).
const REF_1234 = [
  11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
  337829053, 2142557243, 3576906021, 2006103318,
];

describe('Rng (xoshiro128**)', () => {
  it('matches the reference C implementation from state {1,2,3,4}', () => {
    const r = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    expect(Array.from({ length: 14 }, () => r.nextU32())).toEqual(REF_1234);
  });

  it('leaves the reference state after 10 outputs (from the C program)', () => {
    const r = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    for (let i = 0; i < 10; i++) r.nextU32();
    expect(r.getState().s).toEqual([939045227, 1864939416, 1451579149, 2199351389]);
  });

  it('seeds through SplitMix64 like the C reference (splitmix64.c, two outputs, low word first)', () => {
    expect(seedWords(0)).toEqual([2065550767, 3793791033, 2713282036, 1853398634]);
    expect(seedWords(42)).toEqual([803958421, 3184996902, 2993090819, 686809907]);
    const r = new Rng(20240601);
    expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([
      3865763728, 2928583729, 2344800337, 1191762289, 3077710244, 979031933,
    ]);
    expect(new Rng(42n).nextU32()).toBe(1776835114);
  });

  it('builds 53-bit uniforms from two outputs (hand-computed)', () => {
    const r = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    // (11520>>>5)*2^26 + (0>>>6) = 360*2^26  ->  360 / 2^27
    expect(r.random()).toBe(360 / 2 ** 27);
    // ((5927040>>>5)*2^26 + (70819200>>>6)) / 2^53 = (185220*2^26 + 1106550) / 2^53
    expect(r.random()).toBe((185220 * 2 ** 26 + 1106550) / 2 ** 53);
    const u = new Rng(7);
    for (let i = 0; i < 1000; i++) {
      const x = u.uniform(-2, 3);
      expect(x).toBeGreaterThanOrEqual(-2);
      expect(x).toBeLessThan(3);
    }
  });

  it('draws unbiased integers by rejection', () => {
    const r = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    // outputs mod 7 (python: [x % 7 for x in REF_1234[:7]])
    expect(Array.from({ length: 7 }, () => r.int(0, 7))).toEqual([5, 0, 0, 4, 2, 4, 4]);
    // range 3*2^30: limit = 2^32 - 2^32 % range = 3*2^30, so outputs 7, 8, 9 (>= limit) are rejected.
    const q = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    const range = 3 * 2 ** 30;
    const got = Array.from({ length: 8 }, () => q.int(0, range));
    expect(got).toEqual([...REF_1234.slice(0, 7), REF_1234[10]]);
    expect(() => q.int(3, 3)).toThrow(/lo < hi/);
    const big = new Rng(1).int(0, 2 ** 40);
    expect(Number.isInteger(big) && big >= 0 && big < 2 ** 40).toBe(true);
  });

  it('shuffles with Fisher-Yates (hand-traced for n=3) and is uniform over permutations', () => {
    // i=2: j = 11520 % 3 = 0 -> [2,1,0]; i=1: j = 0 % 2 = 0 -> [1,2,0]
    const r = Rng.fromState({ s: [1, 2, 3, 4], spareNormal: null });
    expect(r.permutation(3)).toEqual([1, 2, 0]);
    const counts = new Map<string, number>();
    const g = new Rng(3);
    const n = 6000;
    for (let i = 0; i < n; i++) {
      const k = g.permutation(3).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    // chi-square with 5 dof; 20.5 is the 0.999 quantile
    let chi = 0;
    for (const c of counts.values()) chi += (c - n / 6) ** 2 / (n / 6);
    expect(chi).toBeLessThan(20.5);
    const typed = new Int32Array([5, 6, 7, 8]);
    expect(Array.from(new Rng(9).shuffle(typed)).sort()).toEqual([5, 6, 7, 8]);
  });

  it('produces standard normals (moments over 40k draws)', () => {
    const r = new Rng(11);
    const n = 40000;
    let s = 0;
    let s2 = 0;
    let s4 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
      s4 += z ** 4;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.02); // sd of the mean is 0.005
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.15); // kurtosis of a normal is 3
    const f = new Rng(2).fillNormal(new Float32Array(4), 10, 0.5);
    expect(f.every((v) => v > 7 && v < 13)).toBe(true);
  });

  it('samples categorical indices in proportion to weights', () => {
    const r = new Rng(5);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[r.categorical([1, 0, 3, 4])]++;
    expect(counts[1]).toBe(0);
    expect(counts[0] / 20000).toBeCloseTo(0.125, 1);
    expect(counts[3] / 20000).toBeCloseTo(0.5, 1);
    expect(() => r.categorical([0, 0])).toThrow(/positive weight/);
  });

  it('resumes exactly from getState(), including a cached normal, through JSON', () => {
    const a = new Rng(123);
    a.random();
    a.normal(); // leaves the spare normal cached
    const saved = JSON.parse(JSON.stringify(a.getState()));
    expect(saved.spareNormal).not.toBeNull();
    const b = Rng.fromState(saved);
    const seqA = [a.normal(), a.normal(), a.int(0, 100), a.random(), a.normal()];
    const seqB = [b.normal(), b.normal(), b.int(0, 100), b.random(), b.normal()];
    expect(seqB).toEqual(seqA);
    expect(() => b.setState({ s: [0, 0, 0, 0], spareNormal: null })).toThrow(/all zeros/);
    expect(() => new Rng(-1)).toThrow(/non-negative integer/);
  });

  it('forks deterministic, distinct streams', () => {
    const a = new Rng(1).fork();
    const b = new Rng(1).fork();
    const c = new Rng(2).fork();
    const x = a.nextU32();
    expect(b.nextU32()).toBe(x);
    expect(c.nextU32()).not.toBe(x);
  });
});
