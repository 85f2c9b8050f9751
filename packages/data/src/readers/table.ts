// The shape every reader returns: rows of plain JS values, each able to say where in its file it came from.

/** One file's rows, plus how to name a row's position in an error message. */
export interface Table {
  readonly file: string;
  /** Column names present in the file (for JSON: the union of keys seen). */
  readonly columns: readonly string[];
  readonly rows: readonly Record<string, unknown>[];
  /** "row 3", "line 7", "item 2 (line 5)": the position of rows[index] in the file, 1-based for people. */
  locate(index: number): string;
}

/** A row with its provenance, as adapters see it. */
export interface RawRow {
  readonly values: Record<string, unknown>;
  readonly table: Table;
  readonly index: number;
}

export function rowsOf(table: Table): RawRow[] {
  return table.rows.map((values, index) => ({ values, table, index }));
}

/** Arrow/parquet give Int64 as bigint; JSON.stringify and arithmetic want numbers. */
export function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plainValue);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number | bigint>, plainValue);
  if (v instanceof Date) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
  return out;
}
