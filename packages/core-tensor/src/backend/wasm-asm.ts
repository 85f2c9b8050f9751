// A tiny WebAssembly assembler (binary format, SIMD included): enough to emit small kernels that share tfjs's heap.

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function name(s: string): number[] {
  const bytes = Array.from(Buffer.from(s, 'utf8'));
  return [...uleb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Instruction builders (each returns its bytes); `simd(op)` covers the 0xFD-prefixed ones. */
export const op = {
  block: (): number[] => [0x02, 0x40],
  loop: (): number[] => [0x03, 0x40],
  if: (): number[] => [0x04, 0x40],
  else: (): number[] => [0x05],
  end: (): number[] => [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  get: (i: number): number[] => [0x20, ...uleb(i)],
  set: (i: number): number[] => [0x21, ...uleb(i)],
  tee: (i: number): number[] => [0x22, ...uleb(i)],
  i32: (v: number): number[] => [0x41, ...sleb(v | 0)],
  f32: (v: number): number[] => [0x43, ...Array.from(new Uint8Array(new Float32Array([v]).buffer))],
  f32Load: (offset = 0): number[] => [0x2a, 0x02, ...uleb(offset)],
  f32Store: (offset = 0): number[] => [0x38, 0x02, ...uleb(offset)],
  i32Eqz: [0x45],
  i32LtU: [0x49],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f32Div: [0x95],
  f32Sqrt: [0x91],
  drop: [0x1a],
  simd: (code: number, ...imm: number[]): number[] => [0xfd, ...uleb(code), ...imm],
  /** v128.load / v128.store with 4-byte alignment hint (tfjs buffers are 4-aligned, not 16). */
  v128Load: (offset = 0): number[] => [0xfd, 0x00, 0x02, ...uleb(offset)],
  v128Store: (offset = 0): number[] => [0xfd, 0x0b, 0x02, ...uleb(offset)],
  v128Zero: (): number[] => [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  f32x4Splat: [0xfd, 0x13],
  /** i8x16.shuffle picking 32-bit lanes (0-3 from the first operand, 4-7 from the second). */
  shuffle32: (l0: number, l1: number, l2: number, l3: number): number[] =>
    [0xfd, 0x0d, ...[l0, l1, l2, l3].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3])],
  f32x4Extract: (lane: number): number[] => [0xfd, 0x1f, lane],
  f32x4Add: [0xfd, ...uleb(0xe4)],
  f32x4Sub: [0xfd, ...uleb(0xe5)],
  f32x4Mul: [0xfd, ...uleb(0xe6)],
  f32x4Div: [0xfd, ...uleb(0xe7)],
  f32x4Max: [0xfd, ...uleb(0xe9)],
  f32x4Sqrt: [0xfd, ...uleb(0xe3)],
};

export interface FuncDef {
  name: string;
  params: ValType[];
  results: ValType[];
  /** Extra locals after the params, in order. */
  locals: ValType[];
  body: number[][];
}

/** A module importing `env.memory` (shared when the heap is a SharedArrayBuffer) and exporting `funcs`. */
export function assemble(funcs: FuncDef[], memory: { minPages: number; shared: boolean }): Uint8Array<ArrayBuffer> {
  const types = funcs.map((f) => [0x60, ...uleb(f.params.length), ...f.params, ...uleb(f.results.length), ...f.results]);
  const limits = memory.shared ? [0x03, ...uleb(memory.minPages), ...uleb(65536)] : [0x00, ...uleb(memory.minPages)];
  const imports = [[...name('env'), ...name('memory'), 0x02, ...limits]];
  const exports = funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]);
  const codes = funcs.map((f) => {
    const locals = f.locals.map((t) => [...uleb(1), t]);
    const body = [...vec(locals), ...f.body.flat(), 0x0b];
    return [...uleb(body.length), ...body];
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(codes)),
  ];
  return new Uint8Array(bytes);
}
