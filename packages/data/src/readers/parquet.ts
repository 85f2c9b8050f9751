// Reads parquet files (as the Hugging Face hub ships them: snappy or zstd) through hyparquet and its compressors.
import * as fs from 'node:fs';
import { DataError } from '../errors';
import { loadCompressors, loadHyparquet } from '../esm';
import { plainValue, type Table } from './table';

/** The whole file as an ArrayBuffer (hyparquet's AsyncBuffer contract: byteLength + slice). */
function fileBuffer(file: string): ArrayBuffer {
  const b = fs.readFileSync(file);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Top-level column names of a parquet file, read from its footer only. */
export async function parquetColumns(file: string): Promise<string[]> {
  const hp = loadHyparquet();
  const metadata = await hp.parquetMetadataAsync(fileBuffer(file));
  return hp.parquetSchema(metadata).children.map((c) => c.element.name);
}

/**
 * Read `columns` (all when omitted) of a parquet file. A requested column that the file lacks is an error
 * naming the file and the columns it does have.
 */
export async function readParquetTable(file: string, columns?: readonly string[]): Promise<Table> {
  if (!fs.existsSync(file)) throw new DataError('file not found; check the path.', { file });
  const hp = loadHyparquet();
  let names: string[];
  let rows: Record<string, unknown>[];
  try {
    const buffer = fileBuffer(file);
    const metadata = await hp.parquetMetadataAsync(buffer);
    names = hp.parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = (columns ?? []).filter((c) => !names.includes(c));
    if (missing.length) {
      throw new DataError(`missing column(s) ${missing.map((m) => `'${m}'`).join(', ')}; the file has ${names.join(', ')}.`, { file });
    }
    const raw = await hp.parquetReadObjects({
      file: buffer,
      metadata,
      columns: columns ? [...columns] : undefined,
      compressors: loadCompressors(),
    });
    rows = raw.map((r) => plainValue(r) as Record<string, unknown>);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`cannot read as parquet (${err instanceof Error ? err.message : String(err)}); is the file complete?`, { file });
  }
  return { file, columns: names, rows, locate: (k) => `row ${k + 1}` };
}
