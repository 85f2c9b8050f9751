// Specs for the pytorch_model.bin reader, against files torch 1.13 wrote (test/fixtures/make-torch-fixtures.py).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError } from './host-tensor';
import { readTorchBin } from './torch-bin';
import { ZipArchive } from './zip';

const DIR = path.resolve(__dirname, '../../test/fixtures/torch-bin');
const fx = (name: string): string => path.join(DIR, name);

interface Expected {
  shape: number[];
  dtype: string;
  values: number[];
}
const TORCH_TO_ST: Record<string, string> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

function expectMatchesTorch(file: string, expectedFile: string): void {
  const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8')) as Record<string, Expected>;
  const sd = readTorchBin(file);
  expect([...sd.keys()]).toEqual(Object.keys(expected)); // torch's insertion order is kept
  for (const [name, e] of Object.entries(expected)) {
    const t = sd.get(name)!;
    expect({ name, shape: t.shape, dtype: t.dtype }).toEqual({ name, shape: e.shape, dtype: TORCH_TO_ST[e.dtype] });
    const want = t.data instanceof Float32Array ? e.values.map(Math.fround) : e.values;
    expect({ name, values: Array.from(t.data) }).toEqual({ name, values: want });
  }
}

describe('readTorchBin', () => {
  test('every storage type, views with offsets and strides, tied weights, 0-d and empty tensors', () => {
    expectMatchesTorch(fx('basic.bin'), fx('basic.expected.json'));
  });

  test('views of one storage come out as independent row-major copies; tied weights equal but unaliased', () => {
    const sd = readTorchBin(fx('basic.bin'));
    const base = sd.get('base')!;
    const t = sd.get('base_t')!;
    expect(t.shape).toEqual([6, 4]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) expect(t.data[j * 4 + i]).toBe(base.data[i * 6 + j]);
    expect(Array.from(sd.get('window')!.data)).toEqual([8, 9, 10, 14, 15, 16].map((k) => base.data[k]));
    const a = sd.get('embed.weight')!.data;
    const b = sd.get('lm_head.weight')!.data;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a).not.toBe(b);
    base.data[0] = 1234; // mutating one tensor must not leak into the views read from the same storage
    expect(t.data[0]).not.toBe(1234);
  });

  test('a real module state_dict (OrderedDict with _metadata restored by BUILD)', () => {
    expectMatchesTorch(fx('linear.bin'), fx('linear.expected.json'));
  });

  test('deflated entries and zip64 records read the same', () => {
    const ref = readTorchBin(fx('linear.bin'));
    for (const f of ['linear-deflate.bin', 'linear-zip64.bin']) {
      const sd = readTorchBin(fx(f));
      expect([...sd.keys()]).toEqual([...ref.keys()]);
      for (const [k, t] of ref) expect(sd.get(k)).toEqual(t);
    }
    // Python wrote zip64 extras and the zip64 end records but kept real values in the classic end record;
    // saturate those (as writers do past 4 GiB / 65535 entries) so the reader must follow the zip64 locator.
    const bytes = Buffer.from(fs.readFileSync(fx('linear-zip64.bin')));
    const eocd = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    bytes.writeUInt16LE(0xffff, eocd + 8);
    bytes.writeUInt16LE(0xffff, eocd + 10);
    bytes.writeUInt32LE(0xffffffff, eocd + 12);
    bytes.writeUInt32LE(0xffffffff, eocd + 16);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-z64-'));
    try {
      fs.writeFileSync(path.join(tmp, 'z.bin'), bytes);
      expect(readTorchBin(path.join(tmp, 'z.bin'))).toEqual(ref);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const z = ZipArchive.open(fx('linear-deflate.bin'));
    try {
      expect(z.entries.get('archive/data.pkl') ?? [...z.entries.values()].find((e) => e.name.endsWith('data.pkl'))).toMatchObject({ method: 8 });
    } finally {
      z.close();
    }
  });

  test('nn.Parameter values (torch._utils._rebuild_parameter)', () => {
    expect(readTorchBin(fx('param.bin')).get('p')).toEqual({ dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
  });

  test('keys filter', () => {
    expect([...readTorchBin(fx('basic.bin'), new Set(['i64', 'mask'])).keys()]).toEqual(['i64', 'mask']);
  });
});

describe('refusals', () => {
  const pwned = '/tmp/rlhfkit-pwned';
  beforeAll(() => fs.rmSync(pwned, { force: true }));

  test('os.system through REDUCE is refused by name and nothing runs', () => {
    expect(() => readTorchBin(fx('malicious.bin'))).toThrow(
      `refusing to load ${fx('malicious.bin')}: it references posix.system, which rlhfkit does not execute`,
    );
    expect(fs.existsSync(pwned)).toBe(false);
  });

  test('builtins.exec through STACK_GLOBAL (protocol 4) is refused too', () => {
    expect(() => readTorchBin(fx('malicious-exec.bin'))).toThrow(/it references builtins\.exec, which rlhfkit does not execute/);
    expect(fs.existsSync(pwned)).toBe(false);
  });

  test('legacy (pre-1.6) files get a message saying how to convert them', () => {
    expect(() => readTorchBin(fx('legacy.bin'))).toThrow(/legacy\.bin: this is a legacy \(pre-1\.6, non-zip\) torch\.save file.*re-save/);
  });

  test('a truncated archive, a missing file, and a non-checkpoint file are CheckpointErrors', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-bin-'));
    try {
      const whole = fs.readFileSync(fx('linear.bin'));
      const cut = path.join(tmp, 'cut.bin');
      fs.writeFileSync(cut, whole.subarray(0, whole.length - 40));
      expect(() => readTorchBin(cut)).toThrow(CheckpointError);
      expect(() => readTorchBin(cut)).toThrow(/cut\.bin: .*(truncated|corrupt)/);
      const text = path.join(tmp, 'text.bin');
      fs.writeFileSync(text, 'hello');
      expect(() => readTorchBin(text)).toThrow(/text\.bin: not a torch checkpoint/);
      expect(() => readTorchBin(path.join(tmp, 'none.bin'))).toThrow(/none\.bin: cannot open .*ENOENT/);
      // A storage entry shorter than the tensor that uses it (zip rebuilt by hand with data/0 cut in half).
      const z = ZipArchive.open(fx('linear.bin'));
      const entries = [...z.entries.keys()].map((n) => ({ n, d: z.read(n) }));
      z.close();
      const short = path.join(tmp, 'short.bin');
      fs.writeFileSync(short, storedZip(entries.map(({ n, d }) => ({ name: n, data: n.endsWith('data/0') ? d.subarray(0, 8) : d }))));
      expect(() => readTorchBin(short)).toThrow(/short\.bin: tensor 'weight' \(shape \[2,3\], stride \[3,1\], offset 0\) reaches element 5 of storage '0', which has 2/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/** A minimal stored-entry zip writer (CRC left 0: our reader, like torch's, does not check it). */
function storedZip(entries: { name: string; data: Uint8Array }[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nb = Buffer.from(name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nb.length, 26);
    locals.push(lh, nb, Buffer.from(data));
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nb.length, 28);
    ch.writeUInt32LE(offset, 42);
    centrals.push(ch, nb);
    offset += 30 + nb.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
