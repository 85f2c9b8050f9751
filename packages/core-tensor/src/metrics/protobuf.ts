// Just enough protobuf wire format to write and read TensorBoard Event messages (no schema compiler).

/** Wire types of the protobuf encoding. */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

/** Builds one message; nested messages are encoded separately and added with `bytes`. */
export class ProtoWriter {
  private chunks: number[] = [];

  private varint(v: bigint): void {
    // int64 is two's complement on the wire: negatives take ten bytes.
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int64(field: number, v: number | bigint): this {
    this.tag(field, WIRE.VARINT);
    this.varint(BigInt(v));
    return this;
  }

  double(field: number, v: number): this {
    this.tag(field, WIRE.I64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.chunks.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE.I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.chunks.push(...b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE.LEN);
    this.varint(BigInt(data.length));
    for (let i = 0; i < data.length; i++) this.chunks.push(data[i]);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** One decoded field: varints come back as bigint, fixed-width as raw bytes, LEN as a sub-array. */
export interface ProtoField {
  field: number;
  wire: number;
  varint?: bigint;
  data?: Uint8Array;
}

/** Splits a message into its fields, in order; throws on truncated input. */
export function readProtoFields(buf: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error(`protobuf: truncated varint at byte ${pos}`);
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw new Error(`protobuf: varint longer than 10 bytes at byte ${pos}`);
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error(`protobuf: field needs ${n} bytes at byte ${pos} but only ${buf.length - pos} remain`);
    const d = buf.subarray(pos, pos + n);
    pos += n;
    return d;
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === WIRE.VARINT) out.push({ field, wire, varint: readVarint() });
    else if (wire === WIRE.I64) out.push({ field, wire, data: take(8) });
    else if (wire === WIRE.I32) out.push({ field, wire, data: take(4) });
    else if (wire === WIRE.LEN) out.push({ field, wire, data: take(Number(readVarint())) });
    else throw new Error(`protobuf: unsupported wire type ${wire} for field ${field} at byte ${pos}`);
  }
  return out;
}
