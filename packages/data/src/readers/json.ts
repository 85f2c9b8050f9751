// Reads JSON (a list of objects) and JSON Lines files, optionally gzipped, with line numbers for every row and every error.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { lineColumnAt } from '@rlhfkit/core-tensor';
import { DataError, typeName } from '../errors';
import type { Table } from './table';

/** Turn V8's "... at position N" into a line/column message; `line` is known already for JSON Lines. */
function jsonParseError(file: string, text: string, err: unknown, line?: number): DataError {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /position (\d+)/.exec(msg);
  const reason = msg.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
  const fix = 'fix the file or re-export it as a JSON list or JSON Lines.';
  const at = m ? lineColumnAt(text, Number(m[1])) : undefined;
  const where =
    line !== undefined ? `line ${line}${at ? `, column ${at.column}` : ''}` : at ? `line ${at.line}, column ${at.column}` : undefined;
  return new DataError(`malformed JSON (${reason}); ${fix}`, { file, where });
}

/**
 * Offsets of the items of a top-level JSON array, found by a scan that tracks strings and nesting, so a
 * bad row can be reported by line. Only called on text that JSON.parse already accepted.
 */
function topLevelItemOffsets(text: string): number[] {
  const offsets: number[] = [];
  let depth = 0;
  let inString = false;
  let expectItem = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (depth === 1 && expectItem && c !== ']') {
      offsets.push(i);
      expectItem = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1 && c === '[') expectItem = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectItem = true;
  }
  return offsets;
}

function readText(file: string): string {
  if (!fs.existsSync(file)) throw new DataError('file not found; check the path.', { file });
  const buf = fs.readFileSync(file);
  return (file.endsWith('.gz') ? zlib.gunzipSync(buf) : buf).toString('utf8').replace(/^\uFEFF/, '');
}

function checkObject(file: string, value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DataError(`expected a JSON object like {"prompt": ..., "chosen": ..., "rejected": ...}, found ${typeName(value)}.`, {
      file,
      where,
    });
  }
  return value as Record<string, unknown>;
}

function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/** JSON Lines: one object per non-blank line. */
export function parseJsonLines(file: string, text: string): Table {
  const rows: Record<string, unknown>[] = [];
  const lines: number[] = [];
  const all = text.split('\n');
  all.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw jsonParseError(file, line, err, i + 1);
    }
    rows.push(checkObject(file, value, `line ${i + 1}`));
    lines.push(i + 1);
  });
  return { file, columns: columnsOf(rows), rows, locate: (k) => `line ${lines[k]}` };
}

/** A JSON document holding a list of objects (what DeepSpeed-Chat's local/jsonfile expects). */
export function parseJsonList(file: string, text: string): Table {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw jsonParseError(file, text, err);
  }
  if (!Array.isArray(value)) {
    throw new DataError(`expected a JSON list of objects ([{"prompt": ..., "chosen": ..., "rejected": ...}, ...]), found ${typeName(value)}.`, {
      file,
    });
  }
  let offsets: number[] | undefined;
  const locate = (k: number): string => {
    offsets ??= topLevelItemOffsets(text);
    const off = offsets[k];
    return off === undefined ? `item ${k + 1}` : `item ${k + 1} (line ${lineColumnAt(text, off).line})`;
  };
  const rows = value.map((v, k) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) checkObject(file, v, locate(k));
    return v as Record<string, unknown>;
  });
  return { file, columns: columnsOf(rows), rows, locate };
}

/**
 * Read `.json`, `.jsonl` (and their `.gz`). A `.json` file that is not one JSON value but holds one object
 * per line is read as JSON Lines, as Hugging Face's json loader does (stanfordnlp/SHP ships such files).
 */
export function readJsonTable(file: string): Table {
  const text = readText(file);
  const base = file.replace(/\.gz$/, '');
  if (base.endsWith('.jsonl')) return parseJsonLines(file, text);
  if (text.trimStart()[0] === '{') {
    // One object per line parses as JSON Lines; a single (possibly pretty-printed) object is reported as not-a-list.
    try {
      JSON.parse(text);
    } catch {
      return parseJsonLines(file, text);
    }
  }
  return parseJsonList(file, text);
}
