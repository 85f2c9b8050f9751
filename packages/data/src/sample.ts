// Typed access to one raw row for adapters: a wrong type is an error naming the file, the row and the key.
import { DataError, typeName } from './errors';
import type { RawRow } from './readers/table';

type Key = string | number;

function pathName(path: readonly Key[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** One row of a dataset as an adapter sees it. */
export class Sample {
  constructor(
    readonly row: RawRow,
    /** The adapter's dataset name, for error messages. */
    readonly dataset: string,
  ) {}

  /** The raw values of the row. */
  get values(): Record<string, unknown> {
    return this.row.values;
  }

  private fail(path: readonly Key[], message: string): never {
    throw new DataError(message, { file: this.row.table.file, where: this.row.table.locate(this.row.index), key: pathName(path) });
  }

  /**
   * Walk into the row. A missing top-level column or object key is an error; an index past the end of a
   * list gives undefined (DeepSpeed-Chat would raise IndexError; we skip such rows and count them instead).
   */
  get(...path: Key[]): unknown {
    let v: unknown = this.row.values;
    for (let i = 0; i < path.length; i++) {
      const k = path[i];
      if (v === null || v === undefined) return v;
      if (typeof k === 'number') {
        if (!Array.isArray(v)) this.fail(path.slice(0, i + 1), `expected a list, found ${typeName(v)} (the ${this.dataset} adapter indexes it).`);
        v = (v as unknown[])[k];
      } else {
        if (typeof v !== 'object' || Array.isArray(v)) {
          this.fail(path.slice(0, i + 1), `expected an object with key '${k}', found ${typeName(v)}.`);
        }
        const obj = v as Record<string, unknown>;
        if (!(k in obj)) {
          const what = i === 0 ? 'column' : 'key';
          this.fail(path.slice(0, i + 1), `missing ${what} '${k}' (the ${this.dataset} adapter needs it); the row has ${Object.keys(obj).join(', ') || 'no keys'}.`);
        }
        v = obj[k];
      }
    }
    return v;
  }

  /** A string, or null when the value is null/absent from a list; any other type is an error. */
  text(...path: Key[]): string | null {
    const v = this.get(...path);
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string') this.fail(path, `expected text (a string), found ${typeName(v)}.`);
    return v;
  }

  /** A number (numeric strings accepted, as Python's float()/int() accept them). */
  number(...path: Key[]): number {
    const v = this.get(...path);
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) this.fail(path, `expected a number, found ${typeName(v)}${typeof v === 'string' ? ` '${v}'` : ''}.`);
    return n;
  }

  /** A list (possibly empty); null stays null. */
  list(...path: Key[]): unknown[] | null {
    const v = this.get(...path);
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v)) this.fail(path, `expected a list, found ${typeName(v)}.`);
    return v;
  }
}

/** Concatenate pieces, or null when any piece is null: the "return None" branches of DeepSpeed-Chat's adapters. */
export function join(...parts: (string | null)[]): string | null {
  for (const p of parts) if (p === null) return null;
  return parts.join('');
}
