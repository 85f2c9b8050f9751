// Input normalisation and attention masks: host arrays or tensors in, int32 ids / additive mask bias out.
import * as tf from '@tensorflow/tfjs';
import type { TokenIds } from './types';

/** Added to masked scores. Finite (unlike finfo.min) so two maskings never sum to -inf and a fully masked row
 *  (a left-pad query) stays NaN-free. */
export const MASK_NEG = -1e9;

function checkRect(rows: number[][], what: string): void {
  if (!Array.isArray(rows) || rows.length === 0 || !Array.isArray(rows[0])) {
    throw new Error(`${what} must be a non-empty [batch][seq] array or a 2-D tensor`);
  }
  const n = rows[0].length;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].length !== n) {
      throw new Error(`${what}: row ${i} has ${rows[i].length} entries but row 0 has ${n}; pad the batch to one length (with an attention mask)`);
    }
  }
}

/** Ids as an int32 [batch, seq] tensor (a new tensor; tensors passed in are cast if needed). */
export function toIntTensor(x: TokenIds, what: string): tf.Tensor2D {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new Error(`${what} must be 2-D [batch, seq], got shape ${JSON.stringify(x.shape)}`);
    return x.dtype === 'int32' ? (tf.clone(x) as tf.Tensor2D) : (tf.cast(x, 'int32') as tf.Tensor2D);
  }
  checkRect(x, what);
  return tf.tensor2d(x, [x.length, x[0].length], 'int32');
}

/**
 * Throws when a host array holds a value outside [lo, hi) (a tokenizer bigger than the model's vocabulary, a
 * position past the table): gather would read garbage on wasm instead of failing.
 */
export function checkRange(x: TokenIds, lo: number, hi: number, what: string, fix: string): void {
  if (x instanceof tf.Tensor) return; // checking a tensor would cost a device sync
  for (let r = 0; r < x.length; r++) {
    for (let c = 0; c < x[r].length; c++) {
      const v = x[r][c];
      if (!Number.isInteger(v) || v < lo || v >= hi) throw new Error(`${what}[${r}][${c}] is ${v}, outside [${lo}, ${hi}); ${fix}`);
    }
  }
}

/** A 0/1 mask as float32 [batch, len]. */
export function toMaskTensor(x: TokenIds, what: string): tf.Tensor2D {
  if (x instanceof tf.Tensor) {
    if (x.rank !== 2) throw new Error(`${what} must be 2-D [batch, seq], got shape ${JSON.stringify(x.shape)}`);
    return tf.cast(x, 'float32') as tf.Tensor2D;
  }
  checkRect(x, what);
  return tf.tensor2d(x, [x.length, x[0].length], 'float32');
}

/** Causal bias [1, 1, q, past+q] (query i sees keys <= past+i), or null when q == 1 (it sees everything). */
export function causalBias(q: number, past: number): tf.Tensor4D | null {
  if (q === 1) return null;
  const s = past + q;
  const data = new Float32Array(q * s);
  for (let i = 0; i < q; i++) for (let j = past + i + 1; j < s; j++) data[i * s + j] = MASK_NEG;
  return tf.tensor4d(data, [1, 1, q, s]);
}

/** Padding bias [b, 1, 1, len] from a float32 0/1 mask [b, len]. */
export function paddingBias(mask: tf.Tensor2D): tf.Tensor4D {
  const [b, len] = mask.shape;
  return tf.reshape(tf.mul(tf.sub(1, mask), MASK_NEG), [b, 1, 1, len]) as tf.Tensor4D; // [b, 1, 1, len]
}

/** Padding bias built on the host from 0/1 rows (generation: cheaper than a device op per step). */
export function paddingBiasFromRows(rows: ArrayLike<number>[], len: number): tf.Tensor4D {
  const data = new Float32Array(rows.length * len);
  for (let r = 0; r < rows.length; r++) for (let j = 0; j < len; j++) if (!rows[r][j]) data[r * len + j] = MASK_NEG;
  return tf.tensor4d(data, [rows.length, 1, 1, len]);
}

/** The sum of whichever biases exist (broadcast to [b, 1, q, s]). */
export function combineBias(a: tf.Tensor4D | null, b: tf.Tensor4D | null): tf.Tensor4D | null {
  if (a && b) return tf.add(a, b) as tf.Tensor4D;
  return a ?? b;
}

/** [b, q] int32 rows past..past+q-1 (HF's default position ids). */
export function arangePositions(b: number, q: number, past: number): tf.Tensor2D {
  const data = new Int32Array(b * q);
  for (let r = 0; r < b; r++) for (let i = 0; i < q; i++) data[r * q + i] = past + i;
  return tf.tensor2d(data, [b, q], 'int32');
}

/** Whether a host 0/1 mask has any zero (then a padding bias is needed). */
export function hasPadding(rows: ArrayLike<number>[]): boolean {
  for (const r of rows) for (let j = 0; j < r.length; j++) if (!r[j]) return true;
  return false;
}
