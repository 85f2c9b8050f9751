// Specs for CRC-32C, Event encoding (vs bytes from Google's protobuf runtime) and TensorBoard event files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32c, maskedCrc32c } from './crc32c';
import { decodeEvent, encodeEvent, frameRecord, readEventFile, readTfRecords, TensorBoardWriter } from './tfevents';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

// Golden bytes: Event messages built with python3-protobuf 3.21 from tensorboard's event.proto/summary.proto
// field definitions and .SerializeToString(); records framed with a separate bitwise CRC32C in Python.
const GOLD = {
  e0: '0900002040fc54d9411a0d627261696e2e4576656e743a32', // wall_time 1700000000.5, file_version
  e1: '0900005040fc54d94110072a240a110a0a747261696e2f6c6f737315000020400a0f0a08747261696e2f6c721517b7d138', // step 7, loss 2.5, lr 1e-4
  e2: '0900008040fc54d94110ac022a240a220a06636f6e666967420e0807120042086c723a2031652d344a080a060a0474657874', // step 300, text
  e3: '09000000000000f03f10fdffffffffffffffff01', // wall_time 1, step -3
  file:
    '1800000000000000a37f4b220900002040fc54d9411a0d627261696e2e4576656e743a322b35311031000000000000009d8383e9' +
    '0900005040fc54d94110072a240a110a0a747261696e2f6c6f737315000020400a0f0a08747261696e2f6c721517b7d13855bd04b5',
};

describe('crc32c', () => {
  it('matches the standard check value and RFC 3720 B.4 vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('masks like TFRecord: rotr15 + 0xa282ead8 (hand-computed)', () => {
    expect(maskedCrc32c(new TextEncoder().encode('123456789'))).toBe(0xc78ab0e5);
  });
});

describe('Event encoding', () => {
  it('produces the same bytes as protobuf for file_version, scalars, text and a negative step', () => {
    expect(hex(encodeEvent(1700000000.5, 0, { fileVersion: 'brain.Event:2' }))).toBe(GOLD.e0);
    expect(hex(encodeEvent(1700000001.25, 7, { values: [{ tag: 'train/loss', value: 2.5 }, { tag: 'train/lr', value: 1e-4 }] }))).toBe(GOLD.e1);
    expect(hex(encodeEvent(1700000002.0, 300, { values: [{ tag: 'config', text: 'lr: 1e-4' }] }))).toBe(GOLD.e2);
    expect(hex(encodeEvent(1, -3, { values: [] }))).toBe(GOLD.e3 + '2a00'); // plus an empty summary (field 5, length 0)
  });

  it('frames records like the golden TFRecord stream', () => {
    const framed = [GOLD.e0, GOLD.e1].map((h) => frameRecord(bytes(h)));
    expect(hex(Buffer.concat(framed))).toBe(GOLD.file);
  });

  it('decodes the golden stream', () => {
    const recs = readTfRecords(bytes(GOLD.file));
    expect(recs.length).toBe(2);
    const e0 = decodeEvent(recs[0]);
    expect(e0).toEqual({ wallTime: 1700000000.5, step: 0, fileVersion: 'brain.Event:2', values: [] });
    const e1 = decodeEvent(recs[1]);
    expect(e1.step).toBe(7);
    expect(e1.values.map((v) => v.tag)).toEqual(['train/loss', 'train/lr']);
    expect(e1.values[0].simpleValue).toBe(2.5);
    expect(e1.values[1].simpleValue).toBeCloseTo(1e-4, 10);
    const e2 = decodeEvent(bytes(GOLD.e2));
    expect(e2.values[0]).toEqual({ tag: 'config', text: 'lr: 1e-4', pluginName: 'text' });
    expect(decodeEvent(bytes(GOLD.e3)).step).toBe(-3);
  });

  it('detects corruption and truncation', () => {
    const good = bytes(GOLD.file);
    const bad = good.slice();
    bad[20] ^= 1; // inside the first record's data
    expect(() => readTfRecords(bad, 'x.tfevents')).toThrow(/x.tfevents: bad data CRC in record at byte 0/);
    const badLen = good.slice();
    badLen[0] ^= 1;
    expect(() => readTfRecords(badLen)).toThrow(/bad length CRC at byte 0/);
    expect(() => readTfRecords(good.subarray(0, good.length - 3))).toThrow(/truncated record at byte 40/);
  });
});

describe('TensorBoardWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-tb-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes events.out.tfevents.<time>.<host> starting with brain.Event:2, readable back', () => {
    let t = 1_700_000_000_000;
    const w = new TensorBoardWriter(dir, { now: () => t, hostname: 'box' });
    expect(path.basename(w.file)).toBe('events.out.tfevents.1700000000.box');
    t += 1500;
    w.addScalar('train/loss', 3.25, 1);
    w.addScalars({ 'train/loss': 3.0, 'train/lr': 5e-5 }, 2);
    w.addText('config', '| key | value |\n|---|---|\n| lr | 5e-5 |');
    w.close();
    const events = readEventFile(w.file);
    expect(events[0].fileVersion).toBe('brain.Event:2');
    expect(events[0].wallTime).toBe(1_700_000_000);
    expect(events[1]).toEqual({ wallTime: 1_700_000_001.5, step: 1, values: [{ tag: 'train/loss', simpleValue: 3.25 }] });
    expect(events[2].values.map((v) => v.tag)).toEqual(['train/loss', 'train/lr']);
    expect(events[3].values[0].text).toContain('| lr | 5e-5 |');
    // a second writer in the same second gets its own file
    const w2 = new TensorBoardWriter(dir, { now: () => 1_700_000_000_000, hostname: 'box' });
    expect(w2.file).not.toBe(w.file);
    w2.close();
    expect(() => w.addScalar('x', 1, 1)).toThrow(/closed/);
  });
});
