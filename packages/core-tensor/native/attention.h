// rlhfkit native kernels: multi-head attention over whole sequences (training shapes), forward and backward.
#pragma once

namespace rlhfkit {
namespace attn {

/**
 * q, k, v: rows [b*t] of `heads` heads of `hd` floats, row strides ldq, ldk, ldv (head h at column h*hd); bias:
 * additive [bias_batch, t, t] (bias_batch 1 broadcasts; null for none). Writes out [b*t, heads*hd] and probs
 * [b, heads, t, t] = softmax(q·kᵀ / divisor + bias). Returns false when out of memory.
 */
bool forward(const float* q, long ldq, const float* k, long ldk, const float* v, long ldv, const float* bias,
             long bias_batch, float* out, float* probs, long b, long t, long heads, long hd, float divisor);

/** From dout [b*t, heads*hd] and the forward's probs: dq, dk, dv [b*t, heads*hd]. */
bool backward(const float* dout, const float* q, long ldq, const float* k, long ldk, const float* v, long ldv,
              const float* probs, float* dq, float* dk, float* dv, long b, long t, long heads, long hd, float divisor);

/**
 * Grouped-query attention: as forward, with k and v holding kv_heads heads (kv_heads divides heads); query head h reads
 * kv head h / (heads / kv_heads), as HF's repeat_kv.
 */
bool forward_gqa(const float* q, long ldq, const float* k, long ldk, const float* v, long ldv, const float* bias,
                 long bias_batch, float* out, float* probs, long b, long t, long heads, long kv_heads, long hd, float divisor);

/** From dout [b*t, heads*hd]: dq [b*t, heads*hd], dk and dv [b*t, kv_heads*hd] (each kv head summed over its group). */
bool backward_gqa(const float* dout, const float* q, long ldq, const float* k, long ldk, const float* v, long ldv,
                  const float* probs, float* dq, float* dk, float* dv, long b, long t, long heads, long kv_heads, long hd,
                  float divisor);

}  // namespace attn
}  // namespace rlhfkit
