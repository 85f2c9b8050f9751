// safetensors read/write: the Hugging Face tensor file format (u64 header length, JSON header, raw LE bytes).
import * as fs from 'node:fs';
import {
  CheckpointError,
  DTYPE_BYTES,
  decodeLittleEndian,
  encodeLittleEndian,
  isSafetensorsDtype,
  numel,
  type SafetensorsDtype,
  type StateDict,
  type TensorToWrite,
  type WritableDtype,
} from './host-tensor';
import { openForRead, readExact, writeFileAtomic } from './file-io';

export { CheckpointError } from './host-tensor';
export type { HostTensor, SafetensorsDtype, StateDict, TensorToWrite, WritableDtype } from './host-tensor';

/** The safetensors library refuses headers above 100 MB; so do we, before allocating them. */
const MAX_HEADER = 100_000_000;

/** One validated header entry; `begin`/`end` are relative to the start of the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Absolute file offset where tensor data starts (8 + header length). */
  dataStart: number;
}

function checkHeaderLength(n: number, total: number, file: string): void {
  if (n <= 1 || n > MAX_HEADER || 8 + n > total) {
    throw new CheckpointError(
      `${file}: safetensors header length ${n} does not fit the file (${total} bytes); the file is truncated or not safetensors`,
    );
  }
}

/** Parses and validates the JSON header: every dtype known, every tensor's byte range inside the data section. */
export function parseSafetensorsHeader(json: string, dataStart: number, fileSize: number, file: string): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new CheckpointError(`${file}: safetensors header is not valid JSON (${(e as Error).message}); the file is corrupt or not safetensors`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CheckpointError(`${file}: safetensors header is not a JSON object`);
  }
  const dataLen = fileSize - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const e = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isSafetensorsDtype(e?.dtype)) {
      throw new CheckpointError(
        `${file}: tensor '${name}' has dtype '${String(e?.dtype)}', which rlhfkit cannot read (known: ${Object.keys(DTYPE_BYTES).join(', ')}); convert it with safetensors in Python`,
      );
    }
    const shape = e.shape;
    const offs = e.data_offsets;
    const isIntArray = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => Number.isSafeInteger(x) && x >= 0);
    if (!isIntArray(shape) || !isIntArray(offs) || offs.length !== 2) {
      throw new CheckpointError(`${file}: tensor '${name}' has a malformed header entry (needs a shape and data_offsets [begin, end] of non-negative integers)`);
    }
    const [begin, end] = offs;
    const need = numel(shape) * DTYPE_BYTES[e.dtype];
    if (end < begin || end - begin !== need || end > dataLen) {
      throw new CheckpointError(
        `${file}: tensor '${name}' header says bytes [${begin}, ${end}) for ${e.dtype}${JSON.stringify(shape)} ` +
          `(${need} bytes needed, ${dataLen} bytes of data in the file); the file is truncated or its header is wrong`,
      );
    }
    entries.push({ name, dtype: e.dtype, shape: shape.slice(), begin, end });
  }
  return { entries, metadata, dataStart };
}

/** Reads only the header of a .safetensors file (names, dtypes, shapes, byte ranges, metadata). */
export function readSafetensorsHeaderFull(file: string): SafetensorsHeader {
  const { fd, size } = openForRead(file, 'safetensors file');
  try {
    return readHeaderFd(fd, size, file);
  } finally {
    fs.closeSync(fd);
  }
}

function readHeaderFd(fd: number, size: number, file: string): SafetensorsHeader {
  if (size < 8) throw new CheckpointError(`${file}: not a safetensors file (only ${size} bytes; expected an 8-byte header length); the file is truncated`);
  const lenBytes = readExact(fd, 0, 8, file, 'header length');
  const n = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  checkHeaderLength(n, size, file);
  const json = Buffer.from(readExact(fd, 8, n, file, 'header').buffer).toString('utf8');
  return parseSafetensorsHeader(json, 8 + n, size, file);
}

/** Reads only the header: names, dtypes and shapes, without decoding data. */
export function readSafetensorsHeader(file: string): Map<string, { dtype: string; shape: number[] }> {
  const out = new Map<string, { dtype: string; shape: number[] }>();
  for (const e of readSafetensorsHeaderFull(file).entries) out.set(e.name, { dtype: e.dtype, shape: e.shape });
  return out;
}

/**
 * Reads a .safetensors file into host tensors (optionally only the given keys), one positional read per tensor
 * straight into a fresh aligned buffer, so files past 2 GiB work and F32 data is never copied twice.
 */
export function readSafetensors(file: string, keys?: ReadonlySet<string>): StateDict {
  const { fd, size } = openForRead(file, 'safetensors file');
  try {
    const header = readHeaderFd(fd, size, file);
    const tensors: StateDict = new Map();
    for (const e of header.entries) {
      if (keys && !keys.has(e.name)) continue;
      const where = `${file}: tensor '${e.name}'`;
      const bytes = readExact(fd, header.dataStart + e.begin, e.end - e.begin, file, `tensor '${e.name}'`);
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeLittleEndian(bytes, e.dtype, numel(e.shape), where, true) });
    }
    return tensors;
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses a safetensors buffer. `file` is only used in error messages. The result never aliases `buf`. */
export function parseSafetensors(
  buf: Uint8Array,
  file = '<buffer>',
  keys?: ReadonlySet<string>,
): { tensors: StateDict; metadata: Record<string, string> } {
  if (buf.byteLength < 8) throw new CheckpointError(`${file}: not a safetensors file (only ${buf.byteLength} bytes; expected an 8-byte header length)`);
  const n = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  checkHeaderLength(n, buf.byteLength, file);
  const json = Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8');
  const header = parseSafetensorsHeader(json, 8 + n, buf.byteLength, file);
  const tensors: StateDict = new Map();
  for (const e of header.entries) {
    if (keys && !keys.has(e.name)) continue;
    const bytes = buf.subarray(header.dataStart + e.begin, header.dataStart + e.end);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeLittleEndian(bytes, e.dtype, numel(e.shape), `${file}: tensor '${e.name}'`) });
  }
  return { tensors, metadata: header.metadata };
}

// The Rust safetensors writer orders tensors by dtype (its enum order, descending) then name, which keeps
// wide dtypes first and every tensor aligned to its element size; we match it so files are byte-identical.
const DTYPE_RANK: Record<SafetensorsDtype, number> = { BOOL: 0, U8: 1, I8: 2, I16: 5, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13 };

/** Total data bytes that `tensors` take on disk. */
export function safetensorsDataSize(tensors: Map<string, TensorToWrite>, dtype?: WritableDtype): number {
  let total = 0;
  for (const t of tensors.values()) total += numel(t.shape) * DTYPE_BYTES[resolveDtype(t, dtype)];
  return total;
}

function resolveDtype(t: TensorToWrite, override?: WritableDtype): WritableDtype {
  // An override only converts floating tensors: casting token ids to F16 would corrupt them.
  const own: WritableDtype = t.dtype ?? (t.lazy ? 'F32' : t.data instanceof Int32Array ? 'I32' : 'F32');
  if (override && (own === 'F32' || own === 'F16' || own === 'BF16' || own === 'F64')) return override;
  return own;
}

/** The header bytes and a lazy list of tensor payloads, in file order. */
function plan(
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string>,
  dtypeOverride?: WritableDtype,
): { header: Uint8Array; payloads: (() => Uint8Array)[]; dataSize: number } {
  const rows = [...tensors.entries()].map(([name, t]) => ({ name, t, dtype: resolveDtype(t, dtypeOverride) }));
  rows.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  const payloads: (() => Uint8Array)[] = [];
  let offset = 0;
  for (const { name, t, dtype } of rows) {
    const count = numel(t.shape);
    if (!t.lazy && count !== t.data.length) {
      throw new CheckpointError(`tensor '${name}': shape ${JSON.stringify(t.shape)} holds ${count} values but its data has ${t.data.length}`);
    }
    const bytes = count * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    payloads.push(() => {
      const data = t.data;
      if (data.length !== count) throw new CheckpointError(`tensor '${name}': shape ${JSON.stringify(t.shape)} holds ${count} values but its data has ${data.length}`);
      return encodeLittleEndian(data, dtype);
    });
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // data starts 8-aligned, as the Rust writer pads
  const hb = Buffer.from(json, 'utf8');
  const head = new Uint8Array(8 + hb.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(hb.length), true);
  head.set(hb, 8);
  return { header: head, payloads, dataSize: offset };
}

/** Serialises tensors to a safetensors buffer (dtype order then name order, as the Python library writes). */
export function serializeSafetensors(
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string> = { format: 'pt' },
  dtype?: WritableDtype,
): Buffer {
  const p = plan(tensors, metadata, dtype);
  const out = Buffer.alloc(p.header.length + p.dataSize);
  out.set(p.header, 0);
  let at = p.header.length;
  for (const payload of p.payloads) {
    const b = payload();
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

/**
 * Writes a safetensors file atomically (temp file, then rename), encoding one tensor at a time so a shard never
 * needs a second full-size copy in memory. `dtype` converts floating tensors (F32 -> F16/BF16) on the way out.
 */
export function writeSafetensors(
  file: string,
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string> = { format: 'pt' },
  dtype?: WritableDtype,
): number {
  const p = plan(tensors, metadata, dtype);
  function* parts(): Generator<Uint8Array> {
    yield p.header;
    for (const payload of p.payloads) yield payload();
  }
  writeFileAtomic(file, parts());
  return p.header.length + p.dataSize;
}
