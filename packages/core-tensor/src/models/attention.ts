// Multi-head attention core shared by every architecture: heads split/merge, GQA, masks, KV cache, dropout.
import * as tf from '@tensorflow/tfjs';
import { canUseDecodeAttention, decodeAttentionKernel } from '../backend/decode-attention';
import { canUseNativeAttention, nativeAttention } from '../backend/native-attention';
import { appendInPlace, appendToLayerKV } from './kv-cache';
import type { LayerContext, LayerKV } from './types';

/** x [b*t, heads*headDim] -> [b, heads, t, headDim]. */
export function splitHeads(x: tf.Tensor, b: number, t: number, heads: number, headDim: number): tf.Tensor4D {
  if (t === 1) return tf.reshape(x, [b, heads, 1, headDim]) as tf.Tensor4D; // one query: the transpose moves nothing
  const x4 = tf.reshape(x, [b, t, heads, headDim]); // [b, t, heads, headDim]
  return tf.transpose(x4, [0, 2, 1, 3]) as tf.Tensor4D; // [b, heads, t, headDim]
}

/** x [b, heads, t, headDim] -> [b*t, heads*headDim]. */
export function mergeHeads(x: tf.Tensor4D): tf.Tensor2D {
  const [b, heads, t, headDim] = x.shape;
  if (t === 1) return tf.reshape(x, [b, heads * headDim]) as tf.Tensor2D; // [b, heads*headDim]
  const xt = tf.transpose(x, [0, 2, 1, 3]); // [b, t, heads, headDim]
  return tf.reshape(xt, [b * t, heads * headDim]) as tf.Tensor2D; // [b*t, heads*headDim]
}

export interface AttentionOptions {
  /** Scores are divided by this (sqrt(headDim) for GPT-2/LLaMA; 1 for OPT, which pre-scales q as HF does). */
  scoreDivisor: number;
  /** Dropout on the attention probabilities (training only). */
  dropoutRate: number;
}

/**
 * softmax(q·kᵀ / divisor + maskBias)·v with grouped-query attention: q [b, heads, t, d], k and v
 * [b, kvHeads, t, d]; query head h reads kv head floor(h / (heads / kvHeads)), as HF's repeat_kv.
 * With kv, this step's keys/values are appended to the cache first. Returns [b*t, heads*d].
 */
export function attention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  ctx: LayerContext,
  kv: LayerKV | undefined,
  opts: AttentionOptions,
): tf.Tensor2D {
  const [b, heads, t, d] = q.shape;
  const kvHeads = k.shape[1];
  const group = heads / kvHeads;
  const bias = ctx.maskBias;
  if (t === 1 && (!ctx.training || opts.dropoutRate === 0) && (bias == null || bias.shape[0] === b) && canUseDecodeAttention()) {
    // One query per row (KV-cache decoding): the cache grows in place and one fused kernel replaces five.
    const cached = kv ? appendInPlace(kv, k, v) : null;
    if (cached) return mergeHeads(decodeAttentionKernel(q, cached.k, cached.v, bias, opts.scoreDivisor, cached.length)); // [b, heads*d]
    const full = kv ? appendToLayerKV(kv, k, v) : { k, v };
    return mergeHeads(decodeAttentionKernel(q, full.k, full.v, bias, opts.scoreDivisor, full.k.shape[2]));
  }
  let kk = k;
  let vv = v;
  if (kv) ({ k: kk, v: vv } = appendToLayerKV(kv, k, v));
  const s = kk.shape[2];
  // kᵀ via the transposeB flag: core-tensor's wasm matmul wrapper transposes explicitly when that pays off,
  // and the cache then grows along a contiguous axis (concat of kᵀ on its last axis was 4x slower).
  // Heads sharing a kv head are stacked along the query axis, so GQA needs no copy of k/v.
  const qg = group === 1 ? q : (tf.reshape(q, [b, kvHeads, group * t, d]) as tf.Tensor4D); // [b, kvHeads, group*t, d]
  let scores: tf.Tensor = tf.matMul(qg, kk, false, true); // [b, kvHeads, group*t, s]
  if (opts.scoreDivisor !== 1) scores = tf.div(scores, opts.scoreDivisor);
  if (group !== 1) scores = tf.reshape(scores, [b, heads, t, s]); // [b, heads, t, s]
  if (ctx.maskBias) scores = tf.add(scores, ctx.maskBias);
  let probs = tf.softmax(scores);
  probs = ctx.dropout(probs, opts.dropoutRate);
  if (group !== 1) probs = tf.reshape(probs, [b, kvHeads, group * t, s]); // [b, kvHeads, group*t, s]
  let out = tf.matMul(probs as tf.Tensor4D, vv) as tf.Tensor4D; // [b, kvHeads, group*t, d]
  if (group !== 1) out = tf.reshape(out, [b, heads, t, d]) as tf.Tensor4D; // [b, heads, t, d]
  return mergeHeads(out);
}

/**
 * attention() from the projections' rows: q [b*t, heads*d], k and v [b*t, kvHeads*d] -> [b*t, heads*d]. Without a
 * cache, on wasm with the native kernels, for multi-head (not grouped) attention without attention dropout, one
 * fused kernel runs each way with no head split/merge transposes (backend/native-attention.ts); otherwise the
 * heads are split and attention() runs.
 */
export function attentionFromRows(
  q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, heads: number, kvHeads: number, headDim: number,
  ctx: LayerContext, kv: LayerKV | undefined, opts: AttentionOptions,
): tf.Tensor2D {
  const { batch: b, queryLen: t } = ctx;
  const noDropout = !ctx.training || opts.dropoutRate === 0;
  if (kv == null && heads === kvHeads && noDropout && q.dtype === 'float32' && canUseNativeAttention(b, t, ctx.maskBias)) {
    return nativeAttention(q as tf.Tensor2D, k as tf.Tensor2D, v as tf.Tensor2D, ctx.maskBias, b, heads, opts.scoreDivisor);
  }
  const q4 = splitHeads(q, b, t, heads, headDim);
  const k4 = splitHeads(k, b, t, kvHeads, headDim);
  const v4 = splitHeads(v, b, t, kvHeads, headDim);
  return attention(q4, k4, v4, ctx, kv, opts);
}
