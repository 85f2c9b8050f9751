// safetensors read/write: the Hugging Face tensor file format (u64 header length, JSON header, raw LE bytes).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Tensor dtypes rlhfkit reads. Floats load as Float32Array, integers as Int32Array. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** One tensor of a checkpoint, decoded to a JS typed array in row-major (PyTorch) order. */
export interface HostTensor {
  /** The dtype the tensor had on disk. */
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** A whole checkpoint (or shard) as HF tensor names -> host tensors. */
export type StateDict = Map<string, HostTensor>;

const BYTES: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** An error about a checkpoint file that the user can act on (names the file and, where known, the tensor). */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

interface HeaderEntry { dtype: string; shape: number[]; data_offsets: [number, number] }

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function f32ToF16Bits(v: number): number {
  // Round-to-nearest-even conversion through the float32 bit pattern.
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

function decode(buf: Buffer, begin: number, dtype: SafetensorsDtype, count: number): Float32Array | Int32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset + begin, count * BYTES[dtype]);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const u = new Uint32Array(count);
      for (let i = 0; i < count; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return new Float32Array(u.buffer);
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true);
      return out;
    }
    case 'I16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      return out;
    }
    case 'U8':
    case 'BOOL': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getUint8(i);
      return out;
    }
  }
}

/** Parses a safetensors buffer. `file` is only used in error messages. */
export function parseSafetensors(buf: Buffer, file = '<buffer>', keys?: Set<string>): { tensors: StateDict; metadata: Record<string, string> } {
  if (buf.length < 8) throw new CheckpointError(`${file}: not a safetensors file (only ${buf.length} bytes; expected an 8-byte header length)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n <= 0 || 8 + n > buf.length) {
    throw new CheckpointError(`${file}: safetensors header length ${n} runs past the end of the file (${buf.length} bytes); the file is truncated or not safetensors`);
  }
  let header: Record<string, HeaderEntry | Record<string, string>>;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  } catch (e) {
    throw new CheckpointError(`${file}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors: StateDict = new Map();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (keys && !keys.has(name)) continue;
    const entry = raw as HeaderEntry;
    const dtype = entry.dtype as SafetensorsDtype;
    if (!(dtype in BYTES)) {
      throw new CheckpointError(`${file}: tensor '${name}' has dtype '${entry.dtype}', which rlhfkit cannot read (known: ${Object.keys(BYTES).join(', ')})`);
    }
    if (!Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets) || entry.data_offsets.length !== 2) {
      throw new CheckpointError(`${file}: tensor '${name}' has a malformed header entry (needs shape and data_offsets [begin, end])`);
    }
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dtype] || begin < 0 || end > dataLen) {
      throw new CheckpointError(
        `${file}: tensor '${name}' header says bytes [${begin}, ${end}) for ${dtype}${JSON.stringify(entry.shape)} ` +
          `(${count * BYTES[dtype]} bytes needed, ${dataLen} bytes of data in the file); the file is truncated or its header is wrong`,
      );
    }
    tensors.set(name, { dtype, shape: entry.shape.slice(), data: decode(buf, dataStart + begin, dtype, count) });
  }
  return { tensors, metadata };
}

/** Reads a .safetensors file into host tensors (optionally only the given keys). */
export function readSafetensors(file: string, keys?: Set<string>): StateDict {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSafetensors(buf, file, keys).tensors;
}

/** Reads only the header: names, dtypes and shapes, without decoding data. */
export function readSafetensorsHeader(file: string): Map<string, { dtype: string; shape: number[] }> {
  const fd = fs.openSync(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    const size = fs.fstatSync(fd).size;
    if (8 + n > size) throw new CheckpointError(`${file}: safetensors header length ${n} runs past the end of the file (${size} bytes)`);
    const hb = Buffer.alloc(n);
    fs.readSync(fd, hb, 0, n, 8);
    const header = JSON.parse(hb.toString('utf8')) as Record<string, HeaderEntry>;
    const out = new Map<string, { dtype: string; shape: number[] }>();
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') out.set(k, { dtype: v.dtype, shape: v.shape });
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

/** Serialises tensors to a safetensors buffer. Keys are written in sorted order, as the Python library does. */
export function serializeSafetensors(
  tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array; dtype?: WritableDtype }>,
  metadata: Record<string, string> = { format: 'pt' },
): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const plan: { name: string; dtype: WritableDtype; begin: number }[] = [];
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype: WritableDtype = t.dtype ?? (t.data instanceof Int32Array ? 'I32' : 'F32');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new CheckpointError(`tensor '${name}': shape ${JSON.stringify(t.shape)} holds ${count} values but data has ${t.data.length}`);
    const bytes = count * BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    plan.push({ name, dtype, begin: offset });
    offset += bytes;
  }
  let headerStr = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(headerStr) % 8)) % 8;
  headerStr += ' '.repeat(pad);
  const hb = Buffer.from(headerStr, 'utf8');
  const out = Buffer.alloc(8 + hb.length + offset);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  const dv = new DataView(out.buffer, out.byteOffset + 8 + hb.length, offset);
  for (const { name, dtype, begin } of plan) {
    const d = tensors.get(name)!.data;
    switch (dtype) {
      case 'F32':
        for (let i = 0; i < d.length; i++) dv.setFloat32(begin + 4 * i, d[i], true);
        break;
      case 'F16':
        for (let i = 0; i < d.length; i++) dv.setUint16(begin + 2 * i, f32ToF16Bits(d[i]), true);
        break;
      case 'BF16': {
        const f = new Float32Array(1);
        const u = new Uint32Array(f.buffer);
        for (let i = 0; i < d.length; i++) {
          f[0] = d[i];
          const x = u[0];
          // round to nearest even on the dropped 16 bits; NaN stays NaN
          const r = Number.isNaN(d[i]) ? 0x7fc0 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
          dv.setUint16(begin + 2 * i, r, true);
        }
        break;
      }
      case 'I32':
        for (let i = 0; i < d.length; i++) dv.setInt32(begin + 4 * i, d[i], true);
        break;
      case 'I64':
        for (let i = 0; i < d.length; i++) dv.setBigInt64(begin + 8 * i, BigInt(Math.trunc(d[i])), true);
        break;
    }
  }
  return out;
}

/** Writes a safetensors file atomically (temp file, then rename). */
export function writeSafetensors(
  file: string,
  tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array; dtype?: WritableDtype }>,
  metadata?: Record<string, string>,
): void {
  const buf = serializeSafetensors(tensors, metadata);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, file);
}
