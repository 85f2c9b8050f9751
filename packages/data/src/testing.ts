// Fixture writers for specs: small dataset files in every format we read, written to temp folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type DataType, Int64, Table as ArrowTable, tableToIPC, type Vector, vectorFromArray } from 'apache-arrow';
import { loadHyparquetWriter } from './esm';

type Row = Record<string, unknown>;

export function makeTempDir(prefix = 'rlhfkit-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

function ensureParent(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
}

/**
 * Write rows as a snappy parquet file with hyparquet-writer. String columns become UTF8, numbers DOUBLE;
 * pass `schema` (parquet SchemaElements) for real nested struct/list columns.
 */
export function writeParquet(file: string, rows: readonly Row[], schema?: unknown[]): void {
  ensureParent(file);
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const columnData = names.map((name) => {
    const data = rows.map((r) => (r[name] === undefined ? null : r[name]));
    const sample = data.find((v) => v !== null);
    const type = schema ? undefined : typeof sample === 'string' ? 'STRING' : typeof sample === 'number' ? 'DOUBLE' : undefined;
    return { name, data, ...(type ? { type } : {}) };
  });
  const w = loadHyparquetWriter();
  const buf = w.parquetWriteBuffer({ columnData, codec: 'SNAPPY', ...(schema ? { schema } : {}) } as Parameters<typeof w.parquetWriteBuffer>[0]);
  fs.writeFileSync(file, Buffer.from(buf));
}

/**
 * Write rows as an Arrow IPC file ('file', magic ARROW1) or stream ('stream', what datasets writes).
 * Column types are inferred unless given in `types` (needed for empty lists, or Int64 as datasets writes ints).
 */
export function writeArrow(file: string, rows: readonly Row[], format: 'file' | 'stream' = 'stream', types: Record<string, DataType> = {}): void {
  ensureParent(file);
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const columns: Record<string, Vector> = {};
  for (const n of names) {
    const data = rows.map((r) => (r[n] === undefined ? null : r[n]));
    const t = types[n];
    columns[n] = t ? vectorFromArray(t instanceof Int64 ? data.map((v) => (v === null ? null : BigInt(v as number))) : data, t) : vectorFromArray(data);
  }
  fs.writeFileSync(file, tableToIPC(new ArrowTable(columns), format));
}

export function writeJson(file: string, rows: readonly Row[]): void {
  ensureParent(file);
  fs.writeFileSync(file, JSON.stringify(rows, null, 2));
}

export function writeJsonl(file: string, rows: readonly Row[]): void {
  ensureParent(file);
  fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

export function writeText(file: string, text: string): void {
  ensureParent(file);
  fs.writeFileSync(file, text);
}

/** n rm-static style rows with recognisable text: prompt i, chosen i, rejected i. */
export function rmStaticRows(n: number, tag = ''): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: `\n\nHuman: question ${tag}${i}\n\nAssistant:`,
    response: ` good answer ${tag}${i}`,
    chosen: ` good answer ${tag}${i}`,
    rejected: ` bad answer ${tag}${i}`,
  }));
}
