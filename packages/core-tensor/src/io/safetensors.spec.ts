// Specs for the safetensors reader/writer: values against torch, byte-identity with HF files, and corrupt-file errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError } from './host-tensor';
import { parseSafetensors, readSafetensors, readSafetensorsHeader, readSafetensorsHeaderFull, serializeSafetensors, writeSafetensors } from './safetensors';

const FIXTURES = path.resolve(__dirname, '../../test/fixtures/safetensors');
const HF_REF = path.resolve(__dirname, '../../../../../shared/fixtures/hf-reference');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-st-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A safetensors file assembled by hand from a header object and raw data, independent of our writer. */
function handMade(header: Record<string, unknown>, data: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.from(data)]);
}

function writeTmp(name: string, buf: Uint8Array): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, buf);
  return f;
}

describe('reading', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'mixed.expected.json'), 'utf8')) as Record<
    string,
    { dtype: string; shape: number[]; values: number[] }
  >;

  test('a hand-written file with every dtype decodes to the values torch sees', () => {
    const sd = readSafetensors(path.join(FIXTURES, 'mixed.safetensors'));
    expect([...sd.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, e] of Object.entries(expected)) {
      const t = sd.get(name)!;
      expect({ name, dtype: t.dtype, shape: t.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
      expect(Array.from(t.data)).toEqual(e.values.map((v) => (t.data instanceof Float32Array ? Math.fround(v) : v)));
      expect(t.data instanceof Float32Array).toBe(['F32', 'F16', 'BF16', 'F64'].includes(e.dtype));
    }
  });

  test('parseSafetensors (buffer) and readSafetensors (file) agree, and keys filter', () => {
    const file = path.join(FIXTURES, 'mixed.safetensors');
    const { tensors, metadata } = parseSafetensors(fs.readFileSync(file), file);
    expect(metadata).toEqual({ format: 'pt', note: 'hand-written' });
    const fromFile = readSafetensors(file);
    for (const [k, t] of tensors) expect(Array.from(t.data)).toEqual(Array.from(fromFile.get(k)!.data));
    expect([...readSafetensors(file, new Set(['w.f16', 'scalar'])).keys()].sort()).toEqual(['scalar', 'w.f16']);
    expect(readSafetensorsHeader(file).get('w.bf16')).toEqual({ dtype: 'BF16', shape: [5] });
  });

  test('the HF reference checkpoints re-serialise byte for byte', () => {
    if (!fs.existsSync(HF_REF)) {
      console.warn(`skipped: ${HF_REF} not present`);
      return;
    }
    for (const m of ['gpt2', 'opt', 'llama']) {
      const f = path.join(HF_REF, m, 'model.safetensors');
      const sd = readSafetensors(f);
      expect(sd.size).toBeGreaterThan(10);
      const again = serializeSafetensors(sd, readSafetensorsHeaderFull(f).metadata);
      expect(Buffer.compare(again, fs.readFileSync(f))).toBe(0);
    }
  });
});

describe('writing', () => {
  test('F32/F16/BF16/I32/I64 round-trip; F16/BF16 rounding is torch rounding', () => {
    const vals = Float32Array.from([0.1, 1 / 3, -2.5, 65519.99, 1e-8]);
    const file = path.join(tmp, 'rt.safetensors');
    writeSafetensors(
      file,
      new Map([
        ['a', { shape: [5], data: vals }],
        ['h', { shape: [5], data: vals, dtype: 'F16' as const }],
        ['b', { shape: [5], data: vals, dtype: 'BF16' as const }],
        ['i', { shape: [2, 2], data: Int32Array.from([1, -2, 3, 2147483647]) }],
        ['l', { shape: [2], data: Int32Array.from([-1, 50256]), dtype: 'I64' as const }],
      ]),
    );
    const back = readSafetensors(file);
    expect(Array.from(back.get('a')!.data)).toEqual(Array.from(vals));
    // torch: t.to(torch.float16).float() and t.to(torch.bfloat16).float()
    expect(Array.from(back.get('h')!.data)).toEqual([0.0999755859375, 0.333251953125, -2.5, 65504, 0]);
    expect(Array.from(back.get('b')!.data)).toEqual([0.10009765625, 0.333984375, -2.5, 65536, 1.0011717677116394e-8].map(Math.fround));
    expect(back.get('i')).toEqual({ dtype: 'I32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 2147483647]) });
    expect(back.get('l')).toEqual({ dtype: 'I64', shape: [2], data: Int32Array.from([-1, 50256]) });
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('layout follows the Rust writer: dtype order then name, every tensor aligned, header padded to 8', () => {
    const buf = serializeSafetensors(
      new Map([
        ['z', { shape: [3], data: new Float32Array(3), dtype: 'F16' as const }],
        ['a', { shape: [1], data: new Float32Array(1), dtype: 'F16' as const }],
        ['m', { shape: [2], data: new Int32Array(2), dtype: 'I64' as const }],
        ['k', { shape: [3], data: new Float32Array(3) }],
      ]),
    );
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(buf.toString('utf8', 8, 8 + n));
    expect(Object.keys(header)).toEqual(['__metadata__', 'm', 'k', 'a', 'z']);
    expect(header.m.data_offsets).toEqual([0, 16]);
    expect(header.k.data_offsets).toEqual([16, 28]);
    expect(header.a.data_offsets).toEqual([28, 30]);
  });

  test('shape/data mismatch is refused before anything is written', () => {
    expect(() => writeSafetensors(path.join(tmp, 'bad.safetensors'), new Map([['x', { shape: [2, 2], data: new Float32Array(3) }]]))).toThrow(
      /tensor 'x': shape \[2,2\] holds 4 values but its data has 3/,
    );
    expect(fs.existsSync(path.join(tmp, 'bad.safetensors'))).toBe(false);
  });
});

describe('corrupt files are CheckpointErrors naming the file and tensor', () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const good = { __metadata__: { format: 'pt' }, w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };

  test('truncated data', () => {
    const f = writeTmp('trunc.safetensors', handMade(good, data).subarray(0, -4));
    expect(() => readSafetensors(f)).toThrow(CheckpointError);
    expect(() => readSafetensors(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: tensor 'w' header says bytes \\[0, 16\\).*truncated`));
  });

  test('truncated inside the header, and a file shorter than 8 bytes', () => {
    const f = writeTmp('trunc-head.safetensors', handMade(good, data).subarray(0, 20));
    expect(() => readSafetensors(f)).toThrow(/trunc-head\.safetensors: safetensors header length \d+ does not fit the file \(20 bytes\)/);
    const g = writeTmp('tiny.safetensors', new Uint8Array(3));
    expect(() => readSafetensors(g)).toThrow(/tiny\.safetensors: not a safetensors file \(only 3 bytes/);
  });

  test('offsets that lie about the size or run past the data', () => {
    const lying = writeTmp('lie.safetensors', handMade({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, data));
    expect(() => readSafetensors(lying)).toThrow(/lie\.safetensors: tensor 'w' header says bytes \[0, 12\) for F32\[2,2\] \(16 bytes needed/);
    const past = writeTmp('past.safetensors', handMade({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] } }, data));
    expect(() => readSafetensors(past)).toThrow(/past\.safetensors: tensor 'w' header says bytes \[8, 24\).*16 bytes of data/);
    const neg = writeTmp('neg.safetensors', handMade({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data));
    expect(() => readSafetensors(neg)).toThrow(/neg\.safetensors: tensor 'w' has a malformed header entry/);
  });

  test('an unknown dtype', () => {
    const f = writeTmp('dtype.safetensors', handMade({ w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, data));
    expect(() => readSafetensors(f)).toThrow(/dtype\.safetensors: tensor 'w' has dtype 'F8_E4M3', which rlhfkit cannot read/);
  });

  test('a header that is not JSON, and a missing file', () => {
    const bytes = handMade(good, data);
    bytes[9] = 0x7b; // '{{' is not JSON
    const f = writeTmp('json.safetensors', bytes);
    expect(() => readSafetensors(f)).toThrow(/json\.safetensors: safetensors header is not valid JSON/);
    expect(() => readSafetensors(path.join(tmp, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot open safetensors file \(ENOENT\)/);
  });
});
