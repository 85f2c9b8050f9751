// How an architecture describes itself to the native decoding step (backend/native-decode.ts): weights as DecodeLinears.
import type * as tf from '@tensorflow/tfjs';
import type { DecodeLinear } from '../backend/native-decode';
import type { Linear } from './linear';

/**
 * A Linear ([in, out] weight) as decoding reads it; null when an adapter (LoRA) changes its output or the weight is
 * frozen bfloat16 outside the tensor heap (weight16).
 */
export function decodeLinear(l: Linear): DecodeLinear | null {
  if (l.adapter != null || (l as { weight16?: unknown }).weight16 != null) return null;
  return { weight: l.weight, offset: 0, rowStride: l.outFeatures, colStride: 1, in: l.inFeatures, out: l.outFeatures, bias: l.bias, biasOffset: 0 };
}

/** Output columns [from, from + count) of a Linear (GPT-2's fused c_attn as q, k, v); null with an adapter. */
export function decodeColumns(l: Linear, from: number, count: number): DecodeLinear | null {
  const whole = decodeLinear(l);
  return whole == null ? null : { ...whole, offset: from, out: count, biasOffset: from };
}

/** A tied LM head: hidden · Eᵀ with E the [vocab, d] token embedding. */
export function tiedHead(embedding: tf.Tensor): DecodeLinear {
  const [vocab, d] = embedding.shape;
  return { weight: embedding, offset: 0, rowStride: 1, colStride: d, in: d, out: vocab, bias: null, biasOffset: 0 };
}

/** Every entry non-null, or null. */
export function allPresent<T>(xs: (T | null)[]): T[] | null {
  return xs.every((x) => x != null) ? (xs as T[]) : null;
}

/** Whether a module's weights are float32 variables on the tensor heap (not frozen bfloat16 outside it: weight16). */
export function onHeap(m: object): boolean {
  return (m as { weight16?: unknown }).weight16 == null;
}
