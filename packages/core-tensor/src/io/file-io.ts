// Positional file reads and atomic writes for checkpoints: whole-file Buffers stop at 2 GiB, real checkpoints do not.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './host-tensor';

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
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    for (const p of parts) {
      let done = 0;
      while (done < p.byteLength) done += fs.writeSync(fd, p, done, Math.min(CHUNK, p.byteLength - done));
    }
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
