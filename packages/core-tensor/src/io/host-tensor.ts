// Host-side checkpoint tensors and the little-endian dtype conversions shared by the safetensors and torch readers/writers.
import * as os from 'node:os';

/** Tensor dtypes rlhfkit reads. Floats load as Float32Array, integers and bools as Int32Array. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Dtypes rlhfkit writes: all it reads (F32/F16/BF16/I32/I64 are the usual ones). */
export type WritableDtype = SafetensorsDtype;

/** One tensor of a checkpoint, decoded to a JS typed array in row-major (PyTorch) order. */
export interface HostTensor {
  /** The dtype the tensor had on disk. */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A whole checkpoint (or shard) as HF tensor names -> host tensors, in file order. */
export type StateDict = Map<string, HostTensor>;

/** What the writers accept: a host tensor whose dtype (optional) is the dtype to write. */
export interface TensorToWrite {
  shape: number[];
  data: Float32Array | Int32Array;
  dtype?: WritableDtype;
  /**
   * Set by lazyTensor(): `data` is computed when read, so writers read it once, when its bytes are due (a model saves
   * one host copy at a time), and take the element type from `dtype` (a float or integer dtype) instead.
   */
  lazy?: boolean;
}

/** A TensorToWrite whose data is made by `read` when a writer reaches it (each read calls it again). */
export function lazyTensor(shape: readonly number[], dtype: WritableDtype, read: () => Float32Array | Int32Array): TensorToWrite {
  return {
    shape: shape.slice(),
    dtype,
    lazy: true,
    get data() {
      return read();
    },
  };
}

/** An error about a checkpoint file that the user can act on (names the file and, where known, the tensor). */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// Every decoder below reinterprets bytes through typed-array views, which use the host byte order.
if (os.endianness() !== 'LE') {
  throw new Error('rlhfkit checkpoint IO needs a little-endian host (safetensors and torch files are little-endian)');
}

let f16Table: Float32Array | undefined;

/** All 65536 half-precision bit patterns as float32: a table lookup beats per-element arithmetic by ~10x. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32(h);
  f16Table = t;
  return t;
}

/** IEEE half bits -> number (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 bit pattern -> IEEE half bits, round-to-nearest-even (what numpy and torch do). */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-1 mantissa into place, rounding the dropped bits.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** float32 bit pattern -> bfloat16 bits, round-to-nearest-even; NaN becomes the canonical 0x7fc0 as in torch. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** number -> half bits via float32 (as torch does for float32 tensors). */
export function f32ToF16Bits(v: number): number {
  scratchF[0] = v;
  return f32BitsToF16Bits(scratchU[0]);
}

/** number -> bfloat16 bits via float32. */
export function f32ToBf16Bits(v: number): number {
  scratchF[0] = v;
  return f32BitsToBf16Bits(scratchU[0]);
}

/** A view of `bytes` as an array of `T`, copying first only when the start is misaligned for the element size. */
function aligned(bytes: Uint8Array, size: number): ArrayBuffer {
  if (bytes.byteOffset % size === 0) return bytes.buffer as ArrayBuffer;
  return bytes.slice().buffer as ArrayBuffer;
}

function alignedOffset(bytes: Uint8Array, size: number): number {
  return bytes.byteOffset % size === 0 ? bytes.byteOffset : 0;
}

/**
 * Decodes `count` little-endian elements of `dtype` from `bytes` into a float32/int32 array.
 * With `owned` (bytes is a fresh buffer nobody else holds) F32 and I32 are returned as views, without a copy;
 * otherwise the result never aliases `bytes`. `where` names the file and tensor in errors.
 */
export function decodeLittleEndian(
  bytes: Uint8Array,
  dtype: SafetensorsDtype,
  count: number,
  where: string,
  owned = false,
): Float32Array | Int32Array {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength < count * size) {
    throw new CheckpointError(`${where}: needs ${count * size} bytes of ${dtype} data but only ${bytes.byteLength} are there`);
  }
  // A plain Uint8Array view: on a Node Buffer, slice() would return a view instead of the copy we rely on.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, count * size);
  switch (dtype) {
    case 'F32':
    case 'I32': {
      if (owned && bytes.byteOffset % 4 === 0) {
        return dtype === 'F32' ? new Float32Array(bytes.buffer, bytes.byteOffset, count) : new Int32Array(bytes.buffer, bytes.byteOffset, count);
      }
      const out = dtype === 'F32' ? new Float32Array(count) : new Int32Array(count);
      new Uint8Array(out.buffer).set(bytes); // a memcpy, whatever the source alignment
      return out;
    }
    case 'F16': {
      const u16 = new Uint16Array(aligned(bytes, 2), alignedOffset(bytes, 2), count);
      const table = halfTable();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[u16[i]];
      return out;
    }
    case 'BF16': {
      const u16 = new Uint16Array(aligned(bytes, 2), alignedOffset(bytes, 2), count);
      const out = new Float32Array(count);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u32[i] = u16[i] << 16;
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      out.set(new Float64Array(aligned(bytes, 8), alignedOffset(bytes, 8), count)); // set() rounds to float32
      return out;
    }
    case 'I64': {
      const pairs = new Int32Array(aligned(bytes, 8), alignedOffset(bytes, 8), 2 * count);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = pairs[2 * i];
        if (pairs[2 * i + 1] !== lo >> 31) {
          const big = new BigInt64Array(pairs.buffer, pairs.byteOffset + 8 * i, 1)[0];
          throw new CheckpointError(`${where}: I64 value ${big} at index ${i} does not fit in int32, which rlhfkit uses for integer tensors`);
        }
        out[i] = lo;
      }
      return out;
    }
    case 'I16': {
      const out = new Int32Array(count);
      out.set(new Int16Array(aligned(bytes, 2), alignedOffset(bytes, 2), count));
      return out;
    }
    case 'I8': {
      const out = new Int32Array(count);
      out.set(new Int8Array(bytes.buffer, bytes.byteOffset, count));
      return out;
    }
    case 'U8':
    case 'BOOL': {
      const out = new Int32Array(count);
      out.set(bytes);
      return out;
    }
  }
}

/** Encodes host values as little-endian `dtype` bytes (F16/BF16 round to nearest even; integer types truncate and wrap). */
export function encodeLittleEndian(data: Float32Array | Int32Array, dtype: WritableDtype): Uint8Array {
  const n = data.length;
  switch (dtype) {
    case 'F32': {
      const f = data instanceof Float32Array ? data : Float32Array.from(data);
      return new Uint8Array(f.buffer, f.byteOffset, 4 * n);
    }
    case 'F16':
    case 'BF16': {
      const f = data instanceof Float32Array ? data : Float32Array.from(data);
      const bits = new Uint32Array(f.buffer, f.byteOffset, n);
      const out = new Uint16Array(n);
      const conv = dtype === 'F16' ? f32BitsToF16Bits : f32BitsToBf16Bits;
      for (let i = 0; i < n; i++) out[i] = conv(bits[i]);
      return new Uint8Array(out.buffer);
    }
    case 'I32': {
      const v = data instanceof Int32Array ? data : Int32Array.from(data, (x) => Math.trunc(x));
      return new Uint8Array(v.buffer, v.byteOffset, 4 * n);
    }
    case 'I64': {
      const out = new Int32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const v = data instanceof Int32Array ? data[i] : Math.trunc(data[i]) | 0;
        out[2 * i] = v;
        out[2 * i + 1] = v >> 31;
      }
      return new Uint8Array(out.buffer);
    }
    case 'F64':
      return new Uint8Array(Float64Array.from(data).buffer);
    case 'I16':
      return new Uint8Array(Int16Array.from(data, (x) => Math.trunc(x)).buffer);
    case 'I8':
      return new Uint8Array(Int8Array.from(data, (x) => Math.trunc(x)).buffer);
    case 'U8':
      return Uint8Array.from(data, (x) => Math.trunc(x));
    case 'BOOL':
      return Uint8Array.from(data, (x) => (x ? 1 : 0));
  }
}
