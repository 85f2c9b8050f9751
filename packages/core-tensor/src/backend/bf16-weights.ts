// Frozen weights held as bfloat16 outside the tensor heap, and the two ops that read them: a product and a row gather.
import * as tf from '@tensorflow/tfjs';
import { wasmFastPaths } from './fast-paths';
import type { NativeGemmAddon } from './native-build';
import { nativeGemmAddon } from './native-gemm';
import { heapAccess } from './native-ops';
import { asWasm } from './wasm-internals';

/** What native/addon-bf16.cc adds to the addon. */
interface Bf16Addon extends NativeGemmAddon {
  gemmBf16(
    heap: Float32Array, m: number, n: number, k: number, transA: boolean, aOff: number, w: Uint16Array, wOff: number, rsb: number, csb: number,
    cOff: number, biasOff: number,
  ): void;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * A [rows, cols] row-major matrix of bfloat16 values in an ordinary (external) buffer: half the bytes of float32 and,
 * on the wasm backend, outside its 4 GiB heap. Frozen weights only: nothing differentiates with respect to it.
 */
export class Bf16Matrix {
  constructor(readonly bits: Uint16Array, readonly rows: number, readonly cols: number) {
    if (bits.length !== rows * cols) throw new Error(`Bf16Matrix: ${bits.length} values for a [${rows}, ${cols}] matrix`);
  }

  /** float32 values rounded to nearest even (as torch's .to(torch.bfloat16)); NaN stays NaN. */
  static fromFloat32(data: Float32Array, rows: number, cols: number): Bf16Matrix {
    const n = rows * cols;
    const src = new Uint32Array(data.buffer, data.byteOffset, n);
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const x = src[i];
      out[i] = (x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0 ? 0x7fc0 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
    return new Bf16Matrix(out, rows, cols);
  }

  get shape(): [number, number] {
    return [this.rows, this.cols];
  }

  get bytes(): number {
    return this.bits.byteLength;
  }

  /** The values widened to float32 (a fresh array), row-major; transposed gives the [cols, rows] layout. */
  toFloat32(transposed = false): Float32Array {
    const out = new Float32Array(this.rows * this.cols);
    const o = new Uint32Array(out.buffer);
    const b = this.bits;
    if (!transposed) {
      for (let i = 0; i < b.length; i++) o[i] = b[i] << 16;
    } else {
      for (let r = 0; r < this.rows; r++) for (let c = 0; c < this.cols; c++) o[c * this.rows + r] = b[r * this.cols + c] << 16;
    }
    return out;
  }
}

/** The widening of one bfloat16 value (tests). */
export function bf16ToNumber(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** The native product when it can run (wasm backend, native kernels built, not switched off); null otherwise. */
function nativeBf16(): Bf16Addon | null {
  if (!wasmFastPaths.nativeMatMul || tf.getBackend() !== 'wasm') return null;
  const addon = nativeGemmAddon() as Bf16Addon | null;
  return addon != null && typeof addon.gemmBf16 === 'function' ? addon : null;
}

/** Whether bf16 products run natively here (else each product widens its whole matrix into a temporary tensor). */
export function bf16ProductsNative(): boolean {
  return nativeBf16() != null;
}

/** x [m, k] · op(W) (+ bias), no gradient: natively (W widened as the product packs it), or through a widened copy. */
function productNoGrad(x: tf.Tensor2D, w: Bf16Matrix, transposeW: boolean, bias: tf.Tensor1D | null): tf.Tensor2D {
  const [m, k] = x.shape;
  const n = transposeW ? w.rows : w.cols;
  const need = transposeW ? w.cols : w.rows;
  if (k !== need) throw new Error(`bf16 product: x has ${k} columns but the weight needs ${need}`);
  const addon = nativeBf16();
  if (addon != null && x.dtype === 'float32') {
    const backend = asWasm(tf.backend());
    const out = backend.makeOutput([m, n], 'float32');
    try {
      const h = heapAccess(backend);
      // op(W)(p, j) = W[p, j] (rsb = cols, csb = 1) or W[j, p] (rsb = 1, csb = cols).
      addon.gemmBf16(h.heap, m, n, k, false, h.at(x), w.bits, 0, transposeW ? 1 : w.cols, transposeW ? w.cols : 1, h.at(out), h.at(bias));
    } catch (e) {
      backend.disposeData(out.dataId);
      throw e;
    }
    return tf.engine().makeTensorFromTensorInfo(out, backend as unknown as tf.KernelBackend) as tf.Tensor2D;
  }
  return tf.tidy((): tf.Tensor2D => {
    const wt = tf.tensor2d(w.toFloat32(), [w.rows, w.cols]); // a temporary float32 copy
    const y: tf.Tensor2D = tf.matMul(x, wt, false, transposeW); // [m, n]
    return bias ? (tf.add(y, bias) as tf.Tensor2D) : y;
  });
}

/**
 * x [m, k] · op(W) + bias -> [m, n] with W a frozen bfloat16 matrix (op(W) = W, or Wᵀ with transposeW). Differentiable
 * in x (dx = dy · op(W)ᵀ, on the same bf16 values) and in the bias; W itself never gets a gradient.
 */
export function bf16MatMul(x: tf.Tensor2D, w: Bf16Matrix, transposeW: boolean, bias: tf.Tensor1D | null = null): tf.Tensor2D {
  if (!tf.engine().isTapeOn()) return productNoGrad(x, w, transposeW, bias);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xin = args[0] as tf.Tensor2D;
    const bin = bias != null ? (args[1] as tf.Tensor1D) : null;
    const value = productNoGrad(xin, w, transposeW, bin);
    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const dx = productNoGrad(dy as tf.Tensor2D, w, !transposeW, null);
      return bin != null ? [dx, tf.sum(dy, 0)] : [dx];
    };
    return { value, gradFunc };
  });
  return (bias != null ? op(x, bias) : op(x)) as tf.Tensor2D;
}

/** Rows of a frozen bfloat16 table: ids [...] (int32) -> [..., cols] float32 (an embedding lookup without a gradient). */
export function bf16Gather(w: Bf16Matrix, ids: tf.Tensor): tf.Tensor {
  const idx = ids.dataSync();
  const cols = w.cols;
  const out = new Float32Array(idx.length * cols);
  const o = new Uint32Array(out.buffer);
  const b = w.bits;
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i];
    if (!(r >= 0 && r < w.rows)) throw new Error(`embedding lookup: id ${r} is outside the table's ${w.rows} rows`);
    const src = r * cols;
    const dst = i * cols;
    for (let c = 0; c < cols; c++) o[dst + c] = b[src + c] << 16;
  }
  return tf.tensor(out, [...ids.shape, cols], 'float32');
}
