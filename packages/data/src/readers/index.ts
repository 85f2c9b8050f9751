// Picks a reader by file extension.
import * as path from 'node:path';
import { DataError } from '../errors';
import { readArrowTable } from './arrow';
import { readJsonTable } from './json';
import { readParquetTable } from './parquet';
import { rowsOf, type RawRow, type Table } from './table';

export type DataFormat = 'parquet' | 'arrow' | 'json' | 'jsonl';

/** The data format of a file name, or undefined for files that hold no rows (README.md, state.json, ...). */
export function formatOf(file: string): DataFormat | undefined {
  const base = path.basename(file).toLowerCase().replace(/\.gz$/, '');
  if (base.endsWith('.parquet')) return 'parquet';
  if (base.endsWith('.arrow')) return 'arrow';
  if (base.endsWith('.jsonl')) return 'jsonl';
  if (base.endsWith('.json')) {
    // Metadata files that datasets writes next to the data.
    if (['dataset_info.json', 'dataset_infos.json', 'state.json', 'dataset_dict.json'].includes(base)) return undefined;
    return 'json';
  }
  return undefined;
}

/** Read the rows of one data file; `columns` narrows what is read where the format allows it. */
export async function readTable(file: string, columns?: readonly string[]): Promise<Table> {
  const format = formatOf(file);
  switch (format) {
    case 'parquet':
      return readParquetTable(file, columns);
    case 'arrow':
      return readArrowTable(file, columns);
    case 'json':
    case 'jsonl':
      return readJsonTable(file);
    default:
      throw new DataError('unknown data file type; expected .parquet, .arrow, .json or .jsonl (optionally .gz).', { file });
  }
}

/** Read every file of a split (in name order, as datasets concatenates shards) into one list of rows. */
export async function readSplitRows(files: readonly string[], columns?: readonly string[]): Promise<RawRow[]> {
  const out: RawRow[] = [];
  for (const f of files) {
    const table = await readTable(f, columns);
    for (const r of rowsOf(table)) out.push(r);
  }
  return out;
}

export { readArrowTable } from './arrow';
export { readJsonTable, parseJsonLines, parseJsonList } from './json';
export { readParquetTable, parquetColumns } from './parquet';
export { rowsOf, type RawRow, type Table } from './table';
