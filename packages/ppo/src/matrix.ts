// Host matrices of step 3: row-major Float32Array / Int32Array with a shape, the only data the roles exchange.
import * as tf from '@tensorflow/tfjs';
import type { IntMatrix } from '@rlhfkit/data';

export type { IntMatrix } from '@rlhfkit/data';

/** A [rows, cols] float32 matrix in row-major order (per-token log-probs, values, rewards). */
export interface FloatMatrix {
  readonly data: Float32Array;
  readonly shape: [number, number];
}

export function floatMatrix(rows: number, cols: number, fill = 0): FloatMatrix {
  const data = new Float32Array(rows * cols);
  if (fill !== 0) data.fill(fill);
  return { data, shape: [rows, cols] };
}

export function intMatrix(rows: number, cols: number, fill = 0): IntMatrix {
  const data = new Int32Array(rows * cols);
  if (fill !== 0) data.fill(fill);
  return { data, shape: [rows, cols] };
}

/** An all-ones int matrix (the mask of an unpadded block). */
export function onesMask(rows: number, cols: number): IntMatrix {
  return intMatrix(rows, cols, 1);
}

/** Plain rows -> a float matrix (every row must have the same length). */
export function floatFromRows(rows: readonly (readonly number[])[]): FloatMatrix {
  const cols = rows[0]?.length ?? 0;
  const out = floatMatrix(rows.length, cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`row ${i} has ${r.length} values but row 0 has ${cols}; a matrix needs equal rows`);
    out.data.set(r, i * cols);
  });
  return out;
}

/** Plain rows -> an int matrix. */
export function intFromRows(rows: readonly (readonly number[])[]): IntMatrix {
  const cols = rows[0]?.length ?? 0;
  const out = intMatrix(rows.length, cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`row ${i} has ${r.length} values but row 0 has ${cols}; a matrix needs equal rows`);
    out.data.set(r, i * cols);
  });
  return out;
}

/** A matrix's rows as plain arrays. */
export function matrixRows(m: FloatMatrix | IntMatrix): number[][] {
  const [r, c] = m.shape;
  return Array.from({ length: r }, (_, i) => Array.from(m.data.subarray(i * c, (i + 1) * c)));
}

/** One row as a view (no copy). */
export function row<M extends FloatMatrix | IntMatrix>(m: M, i: number): M['data'] {
  const c = m.shape[1];
  return m.data.subarray(i * c, (i + 1) * c) as M['data'];
}

/** Rows [start, end) as a copy. */
export function sliceRows<M extends FloatMatrix | IntMatrix>(m: M, start: number, end: number): M {
  const [r, c] = m.shape;
  const s = Math.max(0, Math.min(start, r));
  const e = Math.max(s, Math.min(end, r));
  return { data: m.data.slice(s * c, e * c), shape: [e - s, c] } as unknown as M;
}

/** Columns [from, to) of every row, as a copy (DeepSpeed-Chat's `x[:, from:to]`). */
export function sliceCols<M extends FloatMatrix | IntMatrix>(m: M, from: number, to = m.shape[1]): M {
  const [r, c] = m.shape;
  const s = Math.max(0, Math.min(from, c));
  const e = Math.max(s, Math.min(to, c));
  const w = e - s;
  const data = new (m.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(r * w);
  for (let i = 0; i < r; i++) data.set(m.data.subarray(i * c + s, i * c + e), i * w);
  return { data, shape: [r, w] } as unknown as M;
}

/** Rows picked by index, in that order (a copy). */
export function pickRows<M extends FloatMatrix | IntMatrix>(m: M, indices: readonly number[]): M {
  const c = m.shape[1];
  const data = new (m.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(indices.length * c);
  indices.forEach((idx, i) => data.set(m.data.subarray(idx * c, (idx + 1) * c), i * c));
  return { data, shape: [indices.length, c] } as unknown as M;
}

/** Row-wise concatenation of matrices with the same number of columns. */
export function concatRows<M extends FloatMatrix | IntMatrix>(parts: readonly M[]): M {
  if (parts.length === 0) throw new Error('concatRows: nothing to concatenate');
  const c = parts[0].shape[1];
  let rows = 0;
  for (const p of parts) {
    if (p.shape[1] !== c) throw new Error(`concatRows: a part has ${p.shape[1]} columns but the first has ${c}`);
    rows += p.shape[0];
  }
  const data = new (parts[0].data.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(rows * c);
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { data, shape: [rows, c] } as unknown as M;
}

/** The matrix as a tensor (int32 for IntMatrix, float32 otherwise); the caller disposes it. */
export function toTensor(m: FloatMatrix | IntMatrix): tf.Tensor2D {
  return m.data instanceof Int32Array ? tf.tensor2d(m.data, m.shape, 'int32') : tf.tensor2d(m.data, m.shape, 'float32');
}

/** A 2-D tensor read back as a float matrix (synchronously; the tensor is not disposed). */
export function fromTensor(t: tf.Tensor): FloatMatrix {
  if (t.rank !== 2) throw new Error(`expected a 2-D tensor, got shape [${t.shape}]`);
  const data = t.dtype === 'float32' ? Float32Array.from(t.dataSync() as Float32Array) : Float32Array.from(t.dataSync());
  return { data, shape: [t.shape[0] as number, t.shape[1] as number] };
}

/** DeepSpeed-Chat's `attention_mask = seq.not_equal(pad).long()`. */
export function notEqualMask(seq: IntMatrix, pad: number): IntMatrix {
  const data = new Int32Array(seq.data.length);
  for (let i = 0; i < data.length; i++) data[i] = seq.data[i] !== pad ? 1 : 0;
  return { data, shape: [seq.shape[0], seq.shape[1]] };
}

/** Mean of a plain array (0 for none). */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : 0;
}
