// Seeded, serialisable PRNG (xoshiro128** seeded by SplitMix64) for reproducible init, sampling and shuffles.

/** Everything needed to resume a generator exactly: the four state words and a cached normal deviate. */
export interface RngState {
  /** xoshiro128** state words, each an unsigned 32-bit integer. */
  s: [number, number, number, number];
  /** Box-Muller makes normals in pairs; the unused one is part of the state so a resume is exact. */
  spareNormal: number | null;
}

const TWO_POW_26 = 67108864;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
const MASK64 = (1n << 64n) - 1n;

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** One SplitMix64 step; returns [next seed state, output]. Used only for seeding, so BigInt cost is fine. */
function splitMix64(state: bigint): [bigint, bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

/** Expands a seed into xoshiro128** words the way Vigna recommends: two SplitMix64 outputs, low word first. */
export function seedWords(seed: number | bigint): [number, number, number, number] {
  if (typeof seed === 'number' && (!Number.isInteger(seed) || seed < 0)) {
    throw new RangeError(`Rng seed must be a non-negative integer (or bigint), got ${seed}`);
  }
  let st = BigInt(seed) & MASK64;
  let a: bigint;
  let b: bigint;
  [st, a] = splitMix64(st);
  [st, b] = splitMix64(st);
  const w: [number, number, number, number] = [
    Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n),
  ];
  // An all-zero state is the one fixed point of xoshiro; SplitMix64 never yields it in practice, but be safe.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0) w[0] = 1;
  return w;
}

/**
 * xoshiro128** (Blackman & Vigna): 128-bit state, period 2^128-1, passes BigCrush, and its state is four
 * 32-bit words, so it serialises to JSON and resumes bit-exactly.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  constructor(seed: number | bigint = 0) {
    [this.s0, this.s1, this.s2, this.s3] = seedWords(seed);
  }

  /** A generator positioned exactly at a saved state. */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spare };
  }

  setState(state: RngState): void {
    const s = state?.s;
    if (!Array.isArray(s) || s.length !== 4 || s.some((w) => !Number.isInteger(w) || w < 0 || w >= TWO_POW_32)) {
      throw new RangeError(`Rng state must have s = four unsigned 32-bit integers, got ${JSON.stringify(s)}`);
    }
    if (s.every((w) => w === 0)) throw new RangeError('Rng state must not be all zeros (xoshiro would only produce 0)');
    [this.s0, this.s1, this.s2, this.s3] = s;
    this.spare = state.spareNormal ?? null;
  }

  /** Next raw output, an unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (top 27 bits of one draw, top 26 of the next). */
  random(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.random();
  }

  /** Normal deviate (Box-Muller; the second value of each pair is cached in the state). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return mean + std * z;
    }
    const u1 = 1 - this.random(); // (0, 1]: log stays finite
    const u2 = this.random();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return mean + std * r * Math.cos(theta);
  }

  /** Uniform integer in [lo, hi) without modulo bias (rejection sampling); spans up to 2^53. */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo) {
      throw new RangeError(`Rng.int needs integers lo < hi, got [${lo}, ${hi})`);
    }
    const range = hi - lo;
    if (range <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % range);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return lo + (x % range);
    }
    if (range > TWO_POW_53) throw new RangeError(`Rng.int range ${range} exceeds 2^53`);
    const limit = TWO_POW_53 - (TWO_POW_53 % range);
    let x = this.random() * TWO_POW_53;
    while (x >= limit) x = this.random() * TWO_POW_53;
    return lo + (x % range);
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = arr[i];
      arr[i] = arr[j];
      arr[j] = tmp;
    }
    return arr;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(out);
  }

  /** Index drawn with probability proportional to the non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`Rng.categorical weight ${i} is ${w}; weights must be finite and >= 0`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('Rng.categorical needs at least one positive weight');
    const u = this.random() * total;
    let acc = 0;
    for (let i = 0; i < weights.length; i++) {
      acc += weights[i];
      if (u < acc) return i;
    }
    // Rounding can leave u == total; return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** Fills `out` with uniform values in [lo, hi) (weight init). */
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** Fills `out` with normal values (weight init, e.g. std 0.02 as in GPT-2/OPT). */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** A new generator whose seed is drawn from this one: independent streams for e.g. data order vs dropout. */
  fork(): Rng {
    const hi = this.nextU32();
    const lo = this.nextU32();
    return new Rng((BigInt(hi) << 32n) | BigInt(lo));
  }
}
