// Reads real files in every supported format (snappy parquet from hyparquet-writer, Arrow IPC file and stream, JSON, JSONL, gzip).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Field, Int64, List, Struct, Utf8 } from 'apache-arrow';
import { DataError } from '../errors';
import { loadHyparquet } from '../esm';
import { makeTempDir, removeDir, writeArrow, writeJson, writeJsonl, writeParquet, writeText } from '../testing';
import { readTable } from './index';

const rows = [
  { prompt: 'p0', chosen: 'c0', rejected: 'r0', score: 1.5 },
  { prompt: 'p1 ünïcødé 中文', chosen: 'c1', rejected: null, score: 2 },
];

const passageList = new List(new Field('item', new Struct([new Field('docid', new Utf8(), true), new Field('text', new Utf8(), true)]), true));

describe('readers', () => {
  let dir: string;
  beforeAll(() => (dir = makeTempDir()));
  afterAll(() => removeDir(dir));

  it('reads snappy parquet written by hyparquet-writer, only the requested columns', async () => {
    const f = path.join(dir, 'a.parquet');
    writeParquet(f, rows);
    const meta = loadHyparquet().parquetMetadata(fs.readFileSync(f));
    expect(meta.row_groups[0].columns.map((c) => c.meta_data?.codec)).toEqual(['SNAPPY', 'SNAPPY', 'SNAPPY', 'SNAPPY']);
    const t = await readTable(f, ['prompt', 'rejected']);
    expect(t.columns).toEqual(['prompt', 'chosen', 'rejected', 'score']);
    expect(t.rows).toEqual([
      { prompt: 'p0', rejected: 'r0' },
      { prompt: 'p1 ünïcødé 中文', rejected: null },
    ]);
    expect(t.locate(1)).toBe('row 2');
  });

  it('reads nested parquet (struct and list<struct>) as plain objects', async () => {
    const f = path.join(dir, 'nested.parquet');
    writeParquet(
      f,
      [{ question: { full_text: 'q?' }, passages: [{ text: 't1' }, { text: 't2' }] }, { question: { full_text: 'q2' }, passages: [] }],
      [
        { name: 'root', num_children: 2 },
        { name: 'question', repetition_type: 'OPTIONAL', num_children: 1 },
        { name: 'full_text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'passages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 1 },
        { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
    );
    const t = await readTable(f);
    expect(t.rows).toEqual([
      { question: { full_text: 'q?' }, passages: [{ text: 't1' }, { text: 't2' }] },
      { question: { full_text: 'q2' }, passages: [] },
    ]);
  });

  it.each(['file', 'stream'] as const)('reads Arrow IPC %s format, with nested values and int64 as numbers', async (format) => {
    const f = path.join(dir, `a-${format}.arrow`);
    writeArrow(f, [
      { query: 'q', n: 3, positive_passages: [{ docid: 'd', text: 'pos' }] },
      { query: 'q2', n: 4, positive_passages: [] },
    ], format, { n: new Int64(), positive_passages: passageList });
    const head = fs.readFileSync(f).subarray(0, 6);
    if (format === 'file') expect(head.toString('latin1')).toBe('ARROW1');
    else expect(head.readUInt32LE(0)).toBe(0xffffffff); // stream continuation marker, as datasets writes
    const t = await readTable(f);
    expect(t.rows).toEqual([
      { query: 'q', n: 3, positive_passages: [{ docid: 'd', text: 'pos' }] },
      { query: 'q2', n: 4, positive_passages: [] },
    ]);
  });

  it('reads a JSON list and names rows by item and line', async () => {
    const f = path.join(dir, 'list.json');
    writeJson(f, rows);
    const t = await readTable(f);
    expect(t.rows).toEqual(rows);
    expect(t.locate(1)).toBe('item 2 (line 8)');
  });

  it('reads JSONL (and a .json file holding JSON Lines, as SHP ships) with line numbers, skipping blank lines', async () => {
    const f = path.join(dir, 'a.jsonl');
    writeText(f, `${JSON.stringify(rows[0])}\n\n${JSON.stringify(rows[1])}\n`);
    const t = await readTable(f);
    expect(t.rows).toEqual(rows);
    expect(t.locate(1)).toBe('line 3');
    const g = path.join(dir, 'lines.json');
    writeJsonl(g, rows);
    expect((await readTable(g)).rows).toEqual(rows);
  });

  it('reads gzipped JSONL', async () => {
    const f = path.join(dir, 'a.jsonl.gz');
    fs.writeFileSync(f, zlib.gzipSync(rows.map((r) => JSON.stringify(r)).join('\n')));
    expect((await readTable(f)).rows).toEqual(rows);
  });

  describe('bad input', () => {
    it('malformed JSON names the file, line and column', async () => {
      const f = path.join(dir, 'bad.json');
      writeText(f, '[\n  {"prompt": "a", "chosen": "b"},\n  {"prompt": "c" "chosen": "d"}\n]\n');
      await expect(readTable(f)).rejects.toThrow(DataError);
      await expect(readTable(f)).rejects.toThrow(/bad\.json, line 3, column 18: malformed JSON \(Expected ',' or '}' after property value\)/);
    });

    it('a malformed JSONL line names its line', async () => {
      const f = path.join(dir, 'bad.jsonl');
      writeText(f, '{"prompt": "a"}\n{"prompt": }\n');
      await expect(readTable(f)).rejects.toThrow(/bad\.jsonl, line 2(, column \d+)?: malformed JSON/);
    });

    it('a JSON document that is not a list, or a list item that is not an object', async () => {
      const f = path.join(dir, 'obj.json');
      writeText(f, '{\n  "prompt": "a"\n}\n');
      await expect(readTable(f)).rejects.toThrow(/obj\.json: expected a JSON list of objects/);
      const g = path.join(dir, 'items.json');
      writeText(g, '[\n  {"prompt": "a"},\n  "oops"\n]');
      await expect(readTable(g)).rejects.toThrow(/items\.json, item 2 \(line 3\): expected a JSON object/);
    });

    it('a missing file, a missing parquet/arrow column, a truncated parquet file', async () => {
      await expect(readTable(path.join(dir, 'nope.parquet'))).rejects.toThrow(/nope\.parquet: file not found/);
      const f = path.join(dir, 'cols.parquet');
      writeParquet(f, [{ prompt: 'a' }]);
      await expect(readTable(f, ['prompt', 'chosen'])).rejects.toThrow(/cols\.parquet: missing column\(s\) 'chosen'; the file has prompt/);
      const a = path.join(dir, 'cols.arrow');
      writeArrow(a, [{ prompt: 'a' }]);
      await expect(readTable(a, ['rejected'])).rejects.toThrow(/cols\.arrow: missing column\(s\) 'rejected'/);
      const cut = path.join(dir, 'cut.parquet');
      fs.writeFileSync(cut, fs.readFileSync(f).subarray(0, 20));
      await expect(readTable(cut)).rejects.toThrow(/cut\.parquet: cannot read as parquet/);
    });
  });
});
