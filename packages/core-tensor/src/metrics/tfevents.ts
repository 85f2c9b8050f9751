// TensorBoard event files: TFRecord-framed Event protos with scalar and text summaries, and a reader for them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { maskedCrc32c } from './crc32c';
import { ProtoWriter, readProtoFields, WIRE } from './protobuf';

// Field numbers from tensorboard/compat/proto/{event,summary,tensor}.proto.
const EVENT = { wallTime: 1, step: 2, fileVersion: 3, summary: 5 };
const SUMMARY = { value: 1 };
const VALUE = { tag: 1, simpleValue: 2, tensor: 8, metadata: 9 };
const METADATA = { pluginData: 1 };
const PLUGIN_DATA = { pluginName: 1 };
const TENSOR = { dtype: 1, shape: 2, stringVal: 8 };
const DT_STRING = 7;

/** Frames one record: u64 length, masked CRC of the length bytes, data, masked CRC of the data. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out, 0, 8), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** One summary value to write: a scalar (simple_value) or a text (string tensor for the text plugin). */
export type SummaryValue = { tag: string; value: number } | { tag: string; text: string };

/** Encodes an Event with either file_version or a summary. */
export function encodeEvent(wallTime: number, step: number, what: { fileVersion: string } | { values: SummaryValue[] }): Uint8Array {
  const ev = new ProtoWriter().double(EVENT.wallTime, wallTime);
  if (step !== 0) ev.int64(EVENT.step, Math.trunc(step)); // proto3 omits zero
  if ('fileVersion' in what) return ev.string(EVENT.fileVersion, what.fileVersion).finish();
  const summary = new ProtoWriter();
  for (const v of what.values) {
    const val = new ProtoWriter().string(VALUE.tag, v.tag);
    if ('value' in v) {
      val.float(VALUE.simpleValue, v.value);
    } else {
      // Fields in number order (tensor 8 before metadata 9), as protobuf's own serializers emit them.
      const tensor = new ProtoWriter().int64(TENSOR.dtype, DT_STRING).bytes(TENSOR.shape, new Uint8Array(0)).string(TENSOR.stringVal, v.text);
      val.bytes(VALUE.tensor, tensor.finish());
      const plugin = new ProtoWriter().string(PLUGIN_DATA.pluginName, 'text').finish();
      val.bytes(VALUE.metadata, new ProtoWriter().bytes(METADATA.pluginData, plugin).finish());
    }
    summary.bytes(SUMMARY.value, val.finish());
  }
  return ev.bytes(EVENT.summary, summary.finish()).finish();
}

export interface TensorBoardWriterOptions {
  /** Wall clock in milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  hostname?: string;
}

/**
 * Appends events to `<logDir>/events.out.tfevents.<seconds>.<host>` with synchronous writes, so a crash
 * loses nothing that was logged. Open the folder with `tensorboard --logdir <logDir>`.
 */
export class TensorBoardWriter {
  readonly file: string;
  private fd: number | null;
  private readonly now: () => number;

  constructor(logDir: string, options: TensorBoardWriterOptions = {}) {
    this.now = options.now ?? Date.now;
    fs.mkdirSync(logDir, { recursive: true });
    const host = (options.hostname ?? os.hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
    const base = `events.out.tfevents.${Math.floor(this.now() / 1000)}.${host}`;
    let file = path.join(logDir, base);
    // Two writers in the same second (e.g. train and eval) must not interleave records in one file.
    for (let n = 1; fs.existsSync(file); n++) file = path.join(logDir, `${base}.${process.pid}.${n}`);
    this.file = file;
    this.fd = fs.openSync(file, 'a');
    this.write(encodeEvent(this.now() / 1000, 0, { fileVersion: 'brain.Event:2' }));
  }

  /** Logs one scalar (TensorBoard's Scalars tab). */
  addScalar(tag: string, value: number, step: number, wallTime?: number): void {
    this.addScalars({ [tag]: value }, step, wallTime);
  }

  /** Logs several scalars for one step in a single event. */
  addScalars(values: Record<string, number>, step: number, wallTime?: number): void {
    const list = Object.entries(values).map(([tag, value]) => ({ tag, value }));
    if (list.length > 0) this.write(encodeEvent(wallTime ?? this.now() / 1000, step, { values: list }));
  }

  /** Logs markdown text (TensorBoard's Text tab), e.g. the resolved config of a run. */
  addText(tag: string, text: string, step = 0, wallTime?: number): void {
    this.write(encodeEvent(wallTime ?? this.now() / 1000, step, { values: [{ tag, text }] }));
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private write(event: Uint8Array): void {
    if (this.fd === null) throw new Error(`TensorBoardWriter: ${this.file} is closed`);
    fs.writeSync(this.fd, frameRecord(event));
  }
}

/** A decoded summary value. */
export interface TfEventValue {
  tag: string;
  simpleValue?: number;
  text?: string;
  pluginName?: string;
}

/** A decoded Event (the fields rlhfkit writes). */
export interface TfEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: TfEventValue[];
}

/** Splits a TFRecord stream into records, checking both CRCs of each; `where` names the file in errors. */
export function readTfRecords(buf: Uint8Array, where = '<buffer>'): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw new Error(`${where}: truncated record header at byte ${pos} (a write was cut off?)`);
    const len = Number(dv.getBigUint64(pos, true));
    if (dv.getUint32(pos + 8, true) !== maskedCrc32c(buf, pos, pos + 8)) throw new Error(`${where}: bad length CRC at byte ${pos}`);
    const start = pos + 12;
    if (start + len + 4 > buf.length) throw new Error(`${where}: truncated record at byte ${pos} (needs ${len} bytes)`);
    if (dv.getUint32(start + len, true) !== maskedCrc32c(buf, start, start + len)) throw new Error(`${where}: bad data CRC in record at byte ${pos}`);
    out.push(buf.subarray(start, start + len));
    pos = start + len + 4;
  }
  return out;
}

const utf8 = new TextDecoder();
const f64 = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset, 8).getFloat64(0, true);
const f32 = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset, 4).getFloat32(0, true);

function decodeValue(buf: Uint8Array): TfEventValue {
  const v: TfEventValue = { tag: '' };
  for (const f of readProtoFields(buf)) {
    if (f.field === VALUE.tag && f.data) v.tag = utf8.decode(f.data);
    else if (f.field === VALUE.simpleValue && f.wire === WIRE.I32 && f.data) v.simpleValue = f32(f.data);
    else if (f.field === VALUE.metadata && f.data) {
      for (const m of readProtoFields(f.data)) {
        if (m.field !== METADATA.pluginData || !m.data) continue;
        for (const p of readProtoFields(m.data)) if (p.field === PLUGIN_DATA.pluginName && p.data) v.pluginName = utf8.decode(p.data);
      }
    } else if (f.field === VALUE.tensor && f.data) {
      for (const t of readProtoFields(f.data)) if (t.field === TENSOR.stringVal && t.data) v.text = utf8.decode(t.data);
    }
  }
  return v;
}

/** Decodes one Event record. */
export function decodeEvent(buf: Uint8Array): TfEvent {
  const ev: TfEvent = { wallTime: 0, step: 0, values: [] };
  for (const f of readProtoFields(buf)) {
    if (f.field === EVENT.wallTime && f.wire === WIRE.I64 && f.data) ev.wallTime = f64(f.data);
    else if (f.field === EVENT.step && f.varint !== undefined) ev.step = Number(BigInt.asIntN(64, f.varint));
    else if (f.field === EVENT.fileVersion && f.data) ev.fileVersion = utf8.decode(f.data);
    else if (f.field === EVENT.summary && f.data) {
      for (const s of readProtoFields(f.data)) if (s.field === SUMMARY.value && s.data) ev.values.push(decodeValue(s.data));
    }
  }
  return ev;
}

/** Reads and verifies a whole event file. */
export function readEventFile(file: string): TfEvent[] {
  return readTfRecords(fs.readFileSync(file), file).map(decodeEvent);
}
