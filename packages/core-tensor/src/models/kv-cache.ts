// Key/value cache for incremental decoding: per-layer keys and values, plus the running mask.
import * as tf from '@tensorflow/tfjs';
import type { LayerKV } from './types';

/**
 * Appends new keys and values [b, kvHeads, q, headDim] to a layer's cache (along the sequence axis), keeping the
 * results alive outside the caller's tidy and freeing the previous ones; returns the full keys and values.
 */
export function appendToLayerKV(kv: LayerKV, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
  const fullK = kv.k ? tf.concat([kv.k, k], 2) : k; // [b, kvHeads, past + q, headDim]
  const fullV = kv.v ? tf.concat([kv.v, v], 2) : v; // [b, kvHeads, past + q, headDim]
  tf.keep(fullK);
  tf.keep(fullV);
  kv.k?.dispose();
  kv.v?.dispose();
  kv.k = fullK;
  kv.v = fullV;
  return { k: fullK, v: fullV };
}

export class KVCache {
  readonly layers: LayerKV[];
  /** Float32 [batch, length] mask of every cached token (1 = real), or null while all are real. */
  mask: tf.Tensor2D | null = null;
  /** Tokens cached so far (per row, padding included). */
  length = 0;
  batch: number | null = null;

  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => ({ k: null, v: null }));
  }

  /** Replaces the stored mask (kept outside any tidy); the old one is disposed. */
  setMask(mask: tf.Tensor2D | null): void {
    if (mask === this.mask) return;
    if (mask) tf.keep(mask);
    this.mask?.dispose();
    this.mask = mask;
  }

  dispose(): void {
    for (const kv of this.layers) {
      kv.k?.dispose();
      kv.v?.dispose();
      kv.k = null;
      kv.v = null;
    }
    this.mask?.dispose();
    this.mask = null;
    this.length = 0;
    this.batch = null;
  }
}
