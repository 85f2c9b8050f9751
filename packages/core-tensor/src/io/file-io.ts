// Positional file reads and atomic writes for checkpoints: whole-file Buffers stop at 2 GiB, real checkpoints do not.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './host-tensor';
import { tempPathFor, trackTemp } from './temp-files';

const CHUNK = 1 << 30; // readSync takes at most 2^31-1 bytes per call

/** Opens `file` for reading, turning ENOENT & co into a CheckpointError that names the file. */
export function openForRead(file: string, what = 'checkpoint file'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CheckpointError(`${file}: cannot open ${what} (${code})`);
  }
  return { fd, size: fs.fstatSync(fd).size };
}

/** Reads exactly `length` bytes at `position` into a fresh (hence aligned, unshared) buffer. */
export function readExact(fd: number, position: number, length: number, file: string, what: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(CHUNK, length - done), position + done);
    if (n === 0) {
      throw new CheckpointError(`${file}: ${what} needs bytes [${position}, ${position + length}) but the file ends at ${position + done}; the file is truncated`);
    }
    done += n;
  }
  return out;
}

/** Writes `parts` to `file` through a temp file and a rename, so readers never see half a file. */
export function writeFileAtomic(file: string, parts: Iterable<Uint8Array>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  // Tracked while it exists, so an exit mid-write (an exception thrown by `parts`, process.exit) leaves no temp behind.
  const untrack = trackTemp(tmp);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const p of parts) {
        let done = 0;
        while (done < p.byteLength) done += fs.writeSync(fd, p, done, Math.min(CHUNK, p.byteLength - done));
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    untrack();
  }
}

/** 1-based line and column of a character offset. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export interface ReadJsonOptions {
  /** What the file is, for messages: 'config.json', 'the trainer state'. */
  what: string;
  /** Appended to a parse error: what the user can do about it. */
  hint?: string;
  /** Accept only a JSON object (not an array, string, number or null). */
  object?: boolean;
  /** Builds the error the caller's users catch, from the message without the file (`file: ` is prepended by default). */
  error?: (detail: string, file: string) => Error;
}

/**
 * Reads and parses one JSON file. A missing or unreadable file, text that is not JSON, or (with `object`) JSON that
 * is not an object becomes one error naming the file, what it is and, for bad JSON, the parser's message (with the
 * line and column where V8 gives a position) and `hint`.
 */
export function readJsonFile<T = unknown>(file: string, opts: ReadJsonOptions): T {
  const fail = (detail: string): Error => (opts.error ? opts.error(detail, file) : new CheckpointError(`${file}: ${detail}`));
  const hint = opts.hint ? `; ${opts.hint}` : '';
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw fail(`cannot read ${opts.what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const at = pos ? lineColumnAt(text, Number(pos[1])) : undefined;
    throw fail(`cannot parse ${opts.what} as JSON (${msg}${at ? `; line ${at.line}, column ${at.column}` : ''})${hint}`);
  }
  if (opts.object && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw fail(`${opts.what} must be a JSON object, found ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}${hint}`);
  }
  return value as T;
}
