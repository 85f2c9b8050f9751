// A bit-exact port of numpy's legacy RandomState (MT19937) seeding and shuffle, so seeds select the same rows as DeepSpeed-Chat.

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/** The Mersenne Twister state and its 32-bit output, seeded the way numpy's `mt19937_seed` does. */
export class MT19937 {
  private readonly key = new Uint32Array(N);
  private pos = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      // numpy raises the same condition: "Seed must be between 0 and 2**32 - 1".
      throw new RangeError(`seed must be an integer between 0 and 2**32 - 1, got ${seed}`);
    }
    let s = seed >>> 0;
    for (let i = 0; i < N; i++) {
      this.key[i] = s;
      const x = (s ^ (s >>> 30)) >>> 0;
      // 1812433253 * x overflows 2^53 as a double; Math.imul keeps the product exact mod 2^32.
      s = (Math.imul(1812433253, x) + i + 1) >>> 0;
    }
    this.pos = N;
  }

  private generate(): void {
    const k = this.key;
    let i = 0;
    for (; i < N - M; i++) {
      const y = (k[i] & UPPER_MASK) | (k[i + 1] & LOWER_MASK);
      k[i] = k[i + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; i < N - 1; i++) {
      const y = (k[i] & UPPER_MASK) | (k[i + 1] & LOWER_MASK);
      k[i] = k[i + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (k[N - 1] & UPPER_MASK) | (k[0] & LOWER_MASK);
    k[N - 1] = k[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.pos = 0;
  }

  /** The next tempered 32-bit output, as an unsigned number. */
  nextUint32(): number {
    if (this.pos >= N) this.generate();
    let y = this.key[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * numpy's legacy `random_interval(max)`: a uniform integer in [0, max] by masked rejection sampling.
 * Limited to max < 2^32, the only range the 32-bit draw path covers (numpy switches to 64-bit draws above it).
 */
export function randomInterval(rng: MT19937, max: number): number {
  if (max === 0) return 0;
  if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
    throw new RangeError(`randomInterval supports 0 <= max < 2^32, got ${max}`);
  }
  let mask = max;
  mask |= mask >>> 1;
  mask |= mask >>> 2;
  mask |= mask >>> 4;
  mask |= mask >>> 8;
  mask |= mask >>> 16;
  mask >>>= 0;
  let value: number;
  do {
    value = (rng.nextUint32() & mask) >>> 0;
  } while (value > max);
  return value;
}

/** The subset of `np.random.RandomState` that the data pipeline needs. */
export class RandomState {
  readonly rng: MT19937;

  constructor(seed: number) {
    this.rng = new MT19937(seed);
  }

  /** In-place Fisher-Yates from the end, as numpy's legacy `shuffle` does for a 1-D array. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = randomInterval(this.rng, i);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
  }

  /** `np.random.RandomState(seed).permutation(n)`. */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    this.shuffle(out);
    return out;
  }
}

/** DeepSpeed-Chat's `get_shuffle_idx(seed, size)`: `arange(size)` shuffled by `RandomState(seed)`. */
export function getShuffleIdx(seed: number, size: number): number[] {
  if (size >= 0xffffffff - 1) throw new RangeError(`shuffle size ${size} is beyond what the 32-bit path supports`);
  return new RandomState(seed).permutation(size);
}
