// A read-only zip reader for torch's checkpoint archives: stored and deflated entries, zip64, positional reads.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { CheckpointError } from './host-tensor';
import { openForRead, readExact } from './file-io';

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

function u64(dv: DataView, at: number): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('zip64 field too large');
  return Number(v);
}

/** An open zip file; call `close()` when done. Entry data is read on demand, never the whole archive at once. */
export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** True when the file starts with a zip local-file header (the format of torch.save since 1.6). */
  static isZip(file: string): boolean {
    const { fd, size } = openForRead(file);
    try {
      if (size < 4) return false;
      const b = readExact(fd, 0, 4, file, 'magic');
      return new DataView(b.buffer).getUint32(0, true) === SIG_LOCAL;
    } finally {
      fs.closeSync(fd);
    }
  }

  static open(file: string): ZipArchive {
    const { fd, size } = openForRead(file);
    const zip = new ZipArchive(file, fd, size);
    try {
      zip.readCentralDirectory();
    } catch (e) {
      zip.close();
      throw e;
    }
    return zip;
  }

  close(): void {
    if (!this.closed) fs.closeSync(this.fd);
    this.closed = true;
  }

  private fail(what: string): never {
    throw new CheckpointError(`${this.file}: ${what}; the zip archive is truncated or corrupt`);
  }

  private readCentralDirectory(): void {
    // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
    const tailLen = Math.min(this.size, 22 + U16_MAX);
    const tailStart = this.size - tailLen;
    const tail = readExact(this.fd, tailStart, tailLen, this.file, 'zip end of central directory');
    const tv = new DataView(tail.buffer);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      // zip64: a locator just before the EOCD points at the zip64 end record with 64-bit fields.
      const loc = eocd - 20;
      if (loc < 0 || tv.getUint32(loc, true) !== SIG_EOCD64_LOCATOR) this.fail('zip64 fields without a zip64 locator');
      const recOffset = u64(tv, loc + 8);
      const rec = readExact(this.fd, recOffset, 56, this.file, 'zip64 end of central directory');
      const rv = new DataView(rec.buffer);
      if (rv.getUint32(0, true) !== SIG_EOCD64) this.fail('bad zip64 end-of-central-directory signature');
      count = u64(rv, 32);
      cdSize = u64(rv, 40);
      cdOffset = u64(rv, 48);
    }
    if (cdOffset + cdSize > this.size) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${this.size} bytes)`);
    const cd = readExact(this.fd, cdOffset, cdSize, this.file, 'zip central directory');
    const dv = new DataView(cd.buffer);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || dv.getUint32(p, true) !== SIG_CENTRAL) this.fail(`central directory entry ${i} is malformed`);
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      const name = Buffer.from(cd.buffer, p + 46, nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1');
      // The zip64 extra field carries, in this order, only those sizes/offsets whose 32-bit slot is 0xFFFFFFFF.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === U32_MAX) {
            size = u64(dv, q);
            q += 8;
          }
          if (compressedSize === U32_MAX) {
            compressedSize = u64(dv, q);
            q += 8;
          }
          if (localHeaderOffset === U32_MAX) localHeaderOffset = u64(dv, q);
        }
        e += 4 + len;
      }
      if (flags & 0x1) this.fail(`entry '${name}' is encrypted`);
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      p = extraEnd + commentLen;
    }
  }

  /** Absolute file offset of an entry's data (after its local header, whose extra field may differ from the central one). */
  dataOffset(entry: ZipEntry): number {
    const h = readExact(this.fd, entry.localHeaderOffset, 30, this.file, `local header of '${entry.name}'`);
    const dv = new DataView(h.buffer);
    if (dv.getUint32(0, true) !== SIG_LOCAL) this.fail(`entry '${entry.name}' has no local header at offset ${entry.localHeaderOffset}`);
    return entry.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  }

  /** The uncompressed bytes of `name`, in a fresh buffer. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new CheckpointError(`${this.file}: the archive has no entry '${name}'`);
    const start = this.dataOffset(entry);
    if (start + entry.compressedSize > this.size) {
      this.fail(`entry '${name}' needs bytes [${start}, ${start + entry.compressedSize}) but the file has ${this.size}`);
    }
    const raw = readExact(this.fd, start, entry.compressedSize, this.file, `entry '${name}'`);
    if (entry.method === 0) return raw;
    if (entry.method === 8) {
      let out: Buffer;
      try {
        out = zlib.inflateRawSync(raw);
      } catch (e) {
        this.fail(`entry '${name}' does not inflate (${(e as Error).message})`);
      }
      if (out.length !== entry.size) this.fail(`entry '${name}' inflates to ${out.length} bytes, not the ${entry.size} its header says`);
      // Return an unshared buffer: small Buffers may sit inside Node's pool at odd offsets.
      return new Uint8Array(out);
    }
    throw new CheckpointError(`${this.file}: entry '${name}' uses zip compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
  }
}
