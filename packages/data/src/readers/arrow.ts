// Reads Arrow IPC files and streams (what `datasets.save_to_disk` and the datasets cache write) through apache-arrow.
import * as fs from 'node:fs';
import { tableFromIPC, Vector } from 'apache-arrow';
import { DataError } from '../errors';
import type { Table } from './table';

/** Convert Arrow values (Vectors, struct rows, bigints) into plain JS values. */
function arrowToPlain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'object') return v;
  if (v instanceof Vector) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = arrowToPlain(v.get(i));
    return out;
  }
  if (Array.isArray(v)) return v.map(arrowToPlain);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number | bigint>, arrowToPlain);
  if (v instanceof Date) return v;
  // Struct and map rows are proxies; toJSON gives their fields, whose values may still be Arrow objects.
  const maybe = v as { toJSON?: () => unknown };
  const obj = typeof maybe.toJSON === 'function' ? maybe.toJSON() : v;
  if (obj instanceof Map) return Object.fromEntries([...obj.entries()].map(([k, x]) => [String(k), arrowToPlain(x)]));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(obj as Record<string, unknown>)) out[k] = arrowToPlain(x);
  return out;
}

/** Read `columns` (all when omitted) of an Arrow IPC file or stream. */
export function readArrowTable(file: string, columns?: readonly string[]): Table {
  if (!fs.existsSync(file)) throw new DataError('file not found; check the path.', { file });
  let table;
  try {
    table = tableFromIPC(fs.readFileSync(file));
  } catch (err) {
    throw new DataError(`cannot read as Arrow IPC (${err instanceof Error ? err.message : String(err)}); is the file complete?`, { file });
  }
  const names = table.schema.fields.map((f) => f.name);
  const wanted = columns ? [...columns] : names;
  const missing = wanted.filter((c) => !names.includes(c));
  if (missing.length) {
    throw new DataError(`missing column(s) ${missing.map((m) => `'${m}'`).join(', ')}; the file has ${names.join(', ')}.`, { file });
  }
  const vectors = wanted.map((c) => table.getChild(c)!);
  const rows: Record<string, unknown>[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    wanted.forEach((c, j) => (row[c] = arrowToPlain(vectors[j].get(i))));
    rows[i] = row;
  }
  return { file, columns: names, rows, locate: (k) => `row ${k + 1}` };
}
