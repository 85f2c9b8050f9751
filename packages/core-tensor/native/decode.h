// rlhfkit native kernels: one decoding step of a pre- or post-LN decoder (OPT, GPT-2) for a batch of single tokens.
#pragma once
#include <cstdint>

namespace rlhfkit {
namespace decode {

/** Floats that pack_panels writes for a k x n weight in panels of nr columns. */
inline long packed_size(long k, long n, long nr) { return ((n + nr - 1) / nr) * nr * k; }

/**
 * Packs W (k x n, W(p, j) = src[p*rsb + j*csb]) into panels of nr columns (the sgemm kernel set's register tile
 * width), each k rows of nr floats, zero-padded past n: decoding then streams every weight once, front to back,
 * through the sgemm's own micro-kernels.
 */
void pack_panels(const float* src, long rsb, long csb, long k, long n, long nr, float* dst);

/** x · W + bias with W packed by pack_panels (bias may be null). */
struct Linear {
  const float* w;
  const float* bias;
  long in, out;
};

struct Layer {
  const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;  // self-attention and final LayerNorm of the block (null: none)
  Linear q, k, v, o, fc1, fc2;
  float divisor;  // scores are divided by it (GPT-2: sqrt(head dim); OPT: 1, q is pre-scaled)
  float* k_cache;  // [batch, heads, cap, hd]: this step's keys and values are written at position `past`
  float* v_cache;
};

struct Model {
  long layers, d, heads, hd, ffn, vocab;
  int act;      // ops::Act of the MLP
  bool pre_ln;  // LayerNorm before attention and MLP (else after each residual add: OPT-350m)
  float eps, q_scale;
  const float *tok, *pos;  // token embedding [vocab, d]; learned positions [rows, d] or null
  long pos_offset;         // added to position ids (OPT: 2)
  long panel;              // the nr the weights were packed with; must be the active kernel set's
  const float *lnf_w, *lnf_b;  // final LayerNorm or null
  Linear head;                 // [d] -> [vocab]
  Layer* layer;
};

struct Step {
  long batch, past, cap;
  const int32_t *ids, *positions;  // [batch]
  const float* bias;               // additive padding bias [batch, past + 1], or null
  float* logits;                   // [batch, vocab]
};

/** Runs one step (threads: the pool's active count); false when out of memory. */
bool step(const Model& m, const Step& s);

}  // namespace decode
}  // namespace rlhfkit
