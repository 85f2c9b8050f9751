// Specs for readJsonFile: one error naming the file for a missing file, bad JSON or a non-object; caller's error class.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readJsonFile } from './file-io';
import { CheckpointError } from './host-tensor';

class MyError extends Error {}

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-json-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('readJsonFile', () => {
  test('parses a file', () => {
    const f = path.join(tmp, 'a.json');
    fs.writeFileSync(f, '{"a": [1, 2], "b": null}');
    expect(readJsonFile(f, { what: 'a', object: true })).toEqual({ a: [1, 2], b: null });
    fs.writeFileSync(f, '[1, 2]');
    expect(readJsonFile<number[]>(f, { what: 'a list' })).toEqual([1, 2]);
  });

  test('a missing file names the file, what it is and the errno code (CheckpointError by default)', () => {
    const f = path.join(tmp, 'missing.json');
    expect(() => readJsonFile(f, { what: 'the trainer state' })).toThrow(CheckpointError);
    expect(() => readJsonFile(f, { what: 'the trainer state' })).toThrow(`${f}: cannot read the trainer state (ENOENT)`);
  });

  test('bad JSON: the parser message (line and column where V8 gives a position) and the hint, in the caller error class', () => {
    const f = path.join(tmp, 'config.json');
    const read = (): unknown => readJsonFile(f, { what: 'config.json', hint: 'fix the file', error: (d, file) => new MyError(`${file}: ${d}`) });
    fs.writeFileSync(f, '{"model_type": "opt",\n  "vocab_size": }');
    expect(read).toThrow(MyError);
    expect(read).toThrow(`${f}: cannot parse config.json as JSON (Unexpected token '}'`);
    expect(read).toThrow(/\); fix the file$/);
    // Where V8 reports a position, the line and column follow it.
    fs.writeFileSync(f, '{"model_type": "opt",\n  "vocab_size": 8,\n}');
    expect(read).toThrow(/position \d+; line 3, column 1\); fix the file$/);
  });

  test('object: a list, a string or null is refused, saying what was found', () => {
    const f = path.join(tmp, 'c.json');
    for (const [text, found] of [['[1]', 'a list'], ['"x"', 'string'], ['null', 'null'], ['3', 'number']]) {
      fs.writeFileSync(f, text);
      expect(() => readJsonFile(f, { what: 'config.json', object: true })).toThrow(`${f}: config.json must be a JSON object, found ${found}`);
    }
  });
});
