// Rotary position embeddings in HF's rotate_half convention, with linear / dynamic-NTK / llama3 scaling.
import * as tf from '@tensorflow/tfjs';
import type { RopeScaling } from './config';

const f32 = Math.fround;

/** inv_freq[i] = 1 / theta^(2i/dim), rounded through float32 at each step as torch computes it. */
export function ropeInverseFrequencies(dim: number, theta: number, scaling: RopeScaling | null): Float32Array {
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(Math.pow(theta, f32((2 * i) / dim))));
  if (scaling?.type === 'llama3') {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = scaling;
    const lowWavelen = originalMaxPositions / lowFreqFactor;
    const highWavelen = originalMaxPositions / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / factor;
      else if (wavelen >= highWavelen) {
        // medium band: blend the scaled and unscaled frequency
        const smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / factor) + smooth * inv[i];
      }
    }
  }
  return inv;
}

/** cos/sin tables [length, dim] for positions 0..length-1: emb = cat(freqs, freqs), freqs = (t / posScale) * inv. */
export function ropeTables(inv: Float32Array, length: number, posScale = 1): { cos: Float32Array; sin: Float32Array } {
  const half = inv.length;
  const dim = 2 * half;
  const cos = new Float32Array(length * dim);
  const sin = new Float32Array(length * dim);
  for (let t = 0; t < length; t++) {
    const tt = posScale === 1 ? t : f32(t / posScale);
    for (let i = 0; i < half; i++) {
      const angle = f32(tt * inv[i]);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * dim + i] = c;
      cos[t * dim + half + i] = c;
      sin[t * dim + i] = s;
      sin[t * dim + half + i] = s;
    }
  }
  return { cos, sin };
}

/** Holds the device tables and gathers them at the requested positions. */
export class RotaryEmbedding {
  private cos: tf.Tensor2D;
  private sin: tf.Tensor2D;
  private readonly inv: Float32Array;

  constructor(
    private readonly dim: number,
    private readonly theta: number,
    private readonly maxPositions: number,
    private readonly scaling: RopeScaling | null,
  ) {
    this.inv = ropeInverseFrequencies(dim, theta, scaling);
    const t = ropeTables(this.inv, maxPositions, this.posScale());
    this.cos = tf.tensor2d(t.cos, [maxPositions, dim]);
    this.sin = tf.tensor2d(t.sin, [maxPositions, dim]);
  }

  private posScale(): number {
    return this.scaling?.type === 'linear' ? this.scaling.factor : 1;
  }

  /**
   * positionIds [b, q] -> cos, sin [b, 1, q, dim]. Beyond the precomputed table (or, for dynamic scaling,
   * once the sequence outgrows max_position_embeddings) a table for this call is built and freed by the
   * caller's tidy, so the number of live tensors does not grow.
   */
  gather(positionIds: tf.Tensor2D, totalLen: number): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
    let cos = this.cos;
    let sin = this.sin;
    if (this.scaling?.type === 'dynamic' && totalLen > this.maxPositions) {
      // HF's dynamic NTK: a larger base for the current length
      const f = this.scaling.factor;
      const base = this.theta * Math.pow((f * totalLen) / this.maxPositions - (f - 1), this.dim / (this.dim - 2));
      const t = ropeTables(ropeInverseFrequencies(this.dim, base, null), totalLen);
      cos = tf.tensor2d(t.cos, [totalLen, this.dim]);
      sin = tf.tensor2d(t.sin, [totalLen, this.dim]);
    } else if (totalLen > this.maxPositions) {
      const t = ropeTables(this.inv, totalLen, this.posScale());
      cos = tf.tensor2d(t.cos, [totalLen, this.dim]);
      sin = tf.tensor2d(t.sin, [totalLen, this.dim]);
    }
    const [b, q] = positionIds.shape;
    return {
      cos: tf.reshape(tf.gather(cos, positionIds), [b, 1, q, this.dim]) as tf.Tensor4D, // [b, 1, q, dim]
      sin: tf.reshape(tf.gather(sin, positionIds), [b, 1, q, this.dim]) as tf.Tensor4D, // [b, 1, q, dim]
    };
  }

  dispose(): void {
    this.cos.dispose();
    this.sin.dispose();
  }
}

/** x [b, heads, q, dim] -> x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x[dim/2:], x[:dim/2]). */
export function applyRotary(x: tf.Tensor4D, rope: { cos: tf.Tensor4D; sin: tf.Tensor4D }): tf.Tensor4D {
  const [x1, x2] = tf.split(x, 2, 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  return tf.add(tf.mul(x, rope.cos), tf.mul(rotated, rope.sin)) as tf.Tensor4D;
}
