// Key/value cache for incremental decoding: per-layer keys and values, plus the running mask.
import * as tf from '@tensorflow/tfjs';
import { canWriteInPlace, writeRows } from '../backend/kv-write';
import { NativeDecodeState } from '../backend/native-decode';
import type { LayerKV } from './types';

/**
 * Appends new keys and values [b, kvHeads, q, headDim] to a layer's cache (along the sequence axis), keeping the
 * results alive outside the caller's tidy and freeing the previous ones; returns the full keys and values
 * ([b, kvHeads, past + q, headDim]). A cache in buffer form is turned back into exact tensors first.
 */
export function appendToLayerKV(kv: LayerKV, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
  if (kv.length !== undefined) unbufferLayerKV(kv);
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

/** Buffer form -> exact [b, kvHeads, length, headDim] tensors. */
function unbufferLayerKV(kv: LayerKV): void {
  const n = kv.length as number;
  const cut = (t: tf.Tensor4D | null): tf.Tensor4D | null => {
    if (!t) return null;
    const [b, h, , d] = t.shape;
    const exact = tf.keep(tf.slice(t, [0, 0, 0, 0], [b, h, n, d]) as tf.Tensor4D);
    t.dispose();
    return exact;
  };
  kv.k = cut(kv.k);
  kv.v = cut(kv.v);
  kv.length = undefined;
}

/**
 * Makes a layer's cache a buffer [b, h, cap, d] with room for `needed` positions: an exact cache or a full buffer
 * moves into a bigger one once (room for kv.capacity positions, doubling when full). False when the cache has
 * another batch, head count or head size, or the backend cannot write in place.
 */
export function growInPlace(kv: LayerKV, b: number, h: number, d: number, needed: number): boolean {
  if (!canWriteInPlace()) return false;
  const past = kv.length ?? (kv.k ? kv.k.shape[2] : 0);
  if (kv.k && (kv.k.shape[0] !== b || kv.k.shape[1] !== h || kv.k.shape[3] !== d)) return false;
  const room = kv.length !== undefined && kv.k ? kv.k.shape[2] : 0;
  if (needed > room) {
    const cap = Math.max(kv.capacity ?? 0, needed, 2 * room);
    const grow = (old: tf.Tensor4D | null): tf.Tensor4D => {
      const buf = tf.keep(tf.zeros([b, h, cap, d]) as tf.Tensor4D);
      if (old) writeRows(buf, old, 0, past);
      old?.dispose();
      return buf;
    };
    kv.k = grow(kv.k);
    kv.v = grow(kv.v);
    kv.length = past;
  }
  return true;
}

/**
 * Appends in place when the backend allows it (wasm): the cache becomes a buffer with room for kv.capacity
 * positions (doubling when full) and this step's keys/values are copied into it; nothing else is copied.
 * Returns the buffers and the filled length, or null when it cannot (then use appendToLayerKV).
 */
export function appendInPlace(kv: LayerKV, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D; length: number } | null {
  const [b, h, q, d] = k.shape;
  const past = kv.length ?? (kv.k ? kv.k.shape[2] : 0);
  if (!growInPlace(kv, b, h, d, past + q)) return null;
  writeRows(kv.k as tf.Tensor4D, k, past, q);
  writeRows(kv.v as tf.Tensor4D, v, past, q);
  kv.length = past + q;
  return { k: kv.k as tf.Tensor4D, v: kv.v as tf.Tensor4D, length: past + q };
}

export class KVCache {
  readonly layers: LayerKV[];
  /** Float32 [batch, length] mask of every cached token (1 = real), or null while all are real. */
  mask: tf.Tensor2D | null = null;
  /** Tokens cached so far (per row, padding included). */
  length = 0;
  batch: number | null = null;
  /** Expected total length (prompt + new tokens); decoding preallocates this much room in each layer. */
  capacity = 0;
  /** The native decoder's packed weights for this generation (backend/native-decode.ts), freed with the cache. */
  readonly nativeDecode = new NativeDecodeState();

  constructor(numLayers: number) {
    this.layers = Array.from({ length: numLayers }, () => ({ k: null, v: null }));
  }

  /** Hint: the cache will hold about this many tokens (generate() sets prompt + max new tokens). */
  reserve(tokens: number): void {
    this.capacity = Math.max(this.capacity, tokens);
    for (const kv of this.layers) kv.capacity = this.capacity;
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
      kv.length = undefined;
    }
    this.mask?.dispose();
    this.mask = null;
    this.length = 0;
    this.batch = null;
    this.nativeDecode.dispose();
  }
}
