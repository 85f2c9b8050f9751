// Small SIMD kernels assembled at start-up and run on tfjs's own wasm heap (no copies), for what the stock build lacks.
import { assemble, F32, FuncDef, I32, op, V128 } from './wasm-asm';
import type { WasmBackend } from './wasm-internals';

/** Pointers are byte offsets into the tfjs heap; row lengths are in bytes and a multiple of 16. */
export interface SimdKernels {
  /** out[j] = Σ_c a[c]·b[j·row + c] for j < n (one query against n keys). */
  dots(a: number, b: number, out: number, n: number, rowBytes: number): void;
  /** out[c] = Σ_j p[j]·v[j·row + c] (probability-weighted sum of n value rows). */
  axpys(p: number, v: number, out: number, n: number, rowBytes: number): void;
  /** dst [cols, rows] = transpose of src [rows, cols] (float32 or int32); rows and cols multiples of 4. */
  transpose4(src: number, dst: number, rows: number, cols: number): void;
  /**
   * One AdamW update of n floats, written to fresh buffers (po, mo, vo), with exactly the float32 operations
   * and order of the tfjs composite in train/adamw.ts: m = m·b1 + g·(1-b1); v = v·b2 + g·g·(1-b2);
   * p = p·decay - m / (sqrt(v) / bc2 + eps) · step.
   */
  adamw(p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n: number,
    b1: number, omb1: number, b2: number, omb2: number, bc2: number, eps: number, step: number, decay: number): void;
}

// Locals of dots/axpys: params 0..4, then these.
const A = 0, B = 1, OUT = 2, N = 3, ROW = 4, J = 5, C = 6, ACC = 7;

const dots: FuncDef = {
  name: 'dots',
  params: [I32, I32, I32, I32, I32],
  results: [],
  locals: [I32, I32, V128],
  body: [
    op.block(), op.loop(),
    op.get(J), op.get(N), op.i32GeU, op.brIf(1),
    op.v128Zero(), op.set(ACC),
    op.i32(0), op.set(C),
    op.loop(),
    op.get(ACC),
    op.get(A), op.get(C), op.i32Add, op.v128Load(),
    op.get(B), op.get(C), op.i32Add, op.v128Load(),
    op.f32x4Mul, op.f32x4Add, op.set(ACC),
    op.get(C), op.i32(16), op.i32Add, op.tee(C), op.get(ROW), op.i32LtU, op.brIf(0),
    op.end(),
    op.get(OUT),
    op.get(ACC), op.f32x4Extract(0), op.get(ACC), op.f32x4Extract(1), op.f32Add,
    op.get(ACC), op.f32x4Extract(2), op.get(ACC), op.f32x4Extract(3), op.f32Add, op.f32Add,
    op.f32Store(),
    op.get(OUT), op.i32(4), op.i32Add, op.set(OUT),
    op.get(B), op.get(ROW), op.i32Add, op.set(B),
    op.get(J), op.i32(1), op.i32Add, op.set(J),
    op.br(0),
    op.end(), op.end(),
  ],
};

// axpys: A = p, B = v; ACC holds splat(p[j]).
const axpys: FuncDef = {
  name: 'axpys',
  params: [I32, I32, I32, I32, I32],
  results: [],
  locals: [I32, I32, V128],
  body: [
    // out = 0
    op.loop(),
    op.get(OUT), op.get(C), op.i32Add, op.v128Zero(), op.v128Store(),
    op.get(C), op.i32(16), op.i32Add, op.tee(C), op.get(ROW), op.i32LtU, op.brIf(0),
    op.end(),
    op.block(), op.loop(),
    op.get(J), op.get(N), op.i32GeU, op.brIf(1),
    op.get(A), op.f32Load(), op.f32x4Splat, op.set(ACC),
    op.i32(0), op.set(C),
    op.loop(),
    op.get(OUT), op.get(C), op.i32Add,
    op.get(OUT), op.get(C), op.i32Add, op.v128Load(),
    op.get(ACC), op.get(B), op.get(C), op.i32Add, op.v128Load(), op.f32x4Mul,
    op.f32x4Add, op.v128Store(),
    op.get(C), op.i32(16), op.i32Add, op.tee(C), op.get(ROW), op.i32LtU, op.brIf(0),
    op.end(),
    op.get(A), op.i32(4), op.i32Add, op.set(A),
    op.get(B), op.get(ROW), op.i32Add, op.set(B),
    op.get(J), op.i32(1), op.i32Add, op.set(J),
    op.br(0),
    op.end(), op.end(),
  ],
};

// transpose4 locals: params src, dst, rows, cols; then i, j, rowBytes, colBytes, sp, dp, and a, b, c, d, t0..t3.
const T = { SRC: 0, DST: 1, ROWS: 2, COLS: 3, I: 4, J: 5, RB: 6, CB: 7, SP: 8, DP: 9, A: 10, B: 11, C: 12, D: 13, T0: 14, T1: 15, T2: 16, T3: 17 };

/** 4x4 tiles: four row loads, eight lane shuffles, four column stores. */
const transpose4: FuncDef = {
  name: 'transpose4',
  params: [I32, I32, I32, I32],
  results: [],
  locals: [I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128],
  body: [
    op.get(T.COLS), op.i32(2), op.i32Shl, op.set(T.RB),
    op.get(T.ROWS), op.i32(2), op.i32Shl, op.set(T.CB),
    op.block(), op.loop(),
    op.get(T.I), op.get(T.ROWS), op.i32GeU, op.brIf(1),
    op.i32(0), op.set(T.J),
    op.loop(),
    // sp = src + i*rowBytes + 4j ; dp = dst + j*colBytes + 4i
    op.get(T.SRC), op.get(T.I), op.get(T.RB), op.i32Mul, op.i32Add, op.get(T.J), op.i32(2), op.i32Shl, op.i32Add, op.set(T.SP),
    op.get(T.DST), op.get(T.J), op.get(T.CB), op.i32Mul, op.i32Add, op.get(T.I), op.i32(2), op.i32Shl, op.i32Add, op.set(T.DP),
    op.get(T.SP), op.v128Load(), op.set(T.A),
    op.get(T.SP), op.get(T.RB), op.i32Add, op.tee(T.SP), op.v128Load(), op.set(T.B),
    op.get(T.SP), op.get(T.RB), op.i32Add, op.tee(T.SP), op.v128Load(), op.set(T.C),
    op.get(T.SP), op.get(T.RB), op.i32Add, op.v128Load(), op.set(T.D),
    op.get(T.A), op.get(T.B), op.shuffle32(0, 4, 1, 5), op.set(T.T0), // a0 b0 a1 b1
    op.get(T.A), op.get(T.B), op.shuffle32(2, 6, 3, 7), op.set(T.T1), // a2 b2 a3 b3
    op.get(T.C), op.get(T.D), op.shuffle32(0, 4, 1, 5), op.set(T.T2), // c0 d0 c1 d1
    op.get(T.C), op.get(T.D), op.shuffle32(2, 6, 3, 7), op.set(T.T3), // c2 d2 c3 d3
    op.get(T.DP), op.get(T.T0), op.get(T.T2), op.shuffle32(0, 1, 4, 5), op.v128Store(),
    op.get(T.DP), op.get(T.CB), op.i32Add, op.tee(T.DP), op.get(T.T0), op.get(T.T2), op.shuffle32(2, 3, 6, 7), op.v128Store(),
    op.get(T.DP), op.get(T.CB), op.i32Add, op.tee(T.DP), op.get(T.T1), op.get(T.T3), op.shuffle32(0, 1, 4, 5), op.v128Store(),
    op.get(T.DP), op.get(T.CB), op.i32Add, op.get(T.T1), op.get(T.T3), op.shuffle32(2, 3, 6, 7), op.v128Store(),
    op.get(T.J), op.i32(4), op.i32Add, op.tee(T.J), op.get(T.COLS), op.i32LtU, op.brIf(0),
    op.end(),
    op.get(T.I), op.i32(4), op.i32Add, op.set(T.I),
    op.br(0),
    op.end(), op.end(),
  ],
};

// adamw: i32 params 0-7, f32 params 8-15, then i32 i, end, and one v128 splat per f32 param plus g/m/v temps.
const W = { P: 0, G: 1, M: 2, V: 3, PO: 4, MO: 5, VO: 6, N: 7, F: 8, I: 16, END: 17, S: 18, GV: 26, MV: 27, VV: 28 };

/** The update for one 4-lane vector (ops on v128) or one float (ops on f32), at byte offset i. */
function adamwBody(lanes: 'v128' | 'f32'): number[][] {
  const vec = lanes === 'v128';
  const load = vec ? op.v128Load() : op.f32Load();
  const store = vec ? op.v128Store() : op.f32Store();
  const [add, sub, mul, div, sqrt] = vec
    ? [op.f32x4Add, op.f32x4Sub, op.f32x4Mul, op.f32x4Div, op.f32x4Sqrt]
    : [op.f32Add, op.f32Sub, op.f32Mul, op.f32Div, op.f32Sqrt];
  // constants: splatted v128 locals, or the f32 params themselves
  const k = (j: number): number[] => op.get(vec ? W.S + j : W.F + j);
  const at = (base: number): number[] => [...op.get(base), ...op.get(W.I), ...op.i32Add];
  if (!vec) {
    // The n % 4 tail, one float at a time; m and v are read back from where they were just written.
    return [
      at(W.MO), at(W.M), load, k(0), mul, at(W.G), load, k(1), mul, add, store, // mo = m*b1 + g*(1-b1)
      at(W.VO), at(W.V), load, k(2), mul, at(W.G), load, at(W.G), load, mul, k(3), mul, add, store, // vo = v*b2 + g*g*(1-b2)
      at(W.PO), at(W.P), load, k(7), mul,
      at(W.MO), load, at(W.VO), load, sqrt, k(4), div, k(5), add, div, k(6), mul, sub, store, // po = p*decay - m/(sqrt(v)/bc2+eps)*step
    ];
  }
  return [
    at(W.G), load, op.set(W.GV),
    at(W.M), load, k(0), mul, op.get(W.GV), k(1), mul, add, op.set(W.MV),
    at(W.MO), op.get(W.MV), store,
    at(W.V), load, k(2), mul, op.get(W.GV), op.get(W.GV), mul, k(3), mul, add, op.set(W.VV),
    at(W.VO), op.get(W.VV), store,
    at(W.PO), at(W.P), load, k(7), mul,
    op.get(W.MV), op.get(W.VV), sqrt, k(4), div, k(5), add, div, k(6), mul, sub, store,
  ];
}

const adamw: FuncDef = {
  name: 'adamw',
  params: [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32],
  results: [],
  locals: [I32, I32, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128, V128],
  body: [
    ...Array.from({ length: 8 }, (_, j) => [...op.get(W.F + j), ...op.f32x4Splat, ...op.set(W.S + j)]),
    // end = (n & ~3) * 4 bytes: the vector part
    op.get(W.N), op.i32(-4), op.i32And, op.i32(2), op.i32Shl, op.set(W.END),
    op.block(), op.loop(),
    op.get(W.I), op.get(W.END), op.i32GeU, op.brIf(1),
    ...adamwBody('v128'),
    op.get(W.I), op.i32(16), op.i32Add, op.set(W.I),
    op.br(0),
    op.end(), op.end(),
    op.get(W.N), op.i32(2), op.i32Shl, op.set(W.END),
    op.block(), op.loop(),
    op.get(W.I), op.get(W.END), op.i32GeU, op.brIf(1),
    ...adamwBody('f32'),
    op.get(W.I), op.i32(4), op.i32Add, op.set(W.I),
    op.br(0),
    op.end(), op.end(),
  ],
};

const byModule = new WeakMap<object, SimdKernels | null>();

/** The heap tfjs's wasm module runs on: exported by the plain build, created by JS in the threaded one. */
function heapMemory(backend: WasmBackend): WebAssembly.Memory | null {
  const w = backend.wasm as unknown as { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  return w.wasmMemory ?? w.asm?.memory ?? null;
}

/** The kernels bound to this backend's heap, or null where they cannot be built (then callers use JS loops). */
export function simdKernels(backend: WasmBackend): SimdKernels | null {
  const key = backend.wasm as unknown as object;
  const cached = byModule.get(key);
  if (cached !== undefined) return cached;
  let kernels: SimdKernels | null = null;
  const memory = heapMemory(backend);
  if (memory != null) {
    try {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const bytes = assemble([dots, axpys, transpose4, adamw], { minPages: 1, shared });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
      kernels = instance.exports as unknown as SimdKernels;
    } catch {
      kernels = null; // no wasm SIMD in this runtime
    }
  }
  byModule.set(key, kernels);
  return kernels;
}
