// rlhfkit native kernels: a pre-LN decoder layer's residual blocks from the fused pieces (LayerNorm, products, attention).
#include "blocks.h"

#include <cstdlib>
#include <cstring>

#include "attention.h"
#include "gemm.h"
#include "ops.h"

namespace rlhfkit {
namespace blocks {
namespace {

void add_into(float* x, const float* y, long n) {
  for (long i = 0; i < n; ++i) x[i] += y[i];
}

void scale(float* x, long n, float s) {
  for (long i = 0; i < n; ++i) x[i] *= s;
}

/** Column sums of dy [rows, n] into out (float64 per thread, then summed). */
void colsum(const float* dy, float* out, long rows, long n) { ops::activation_grad(dy, nullptr, nullptr, out, rows, n, ops::kLinear); }

}  // namespace

bool attn_forward(const Attn& p) {
  const long n = p.b * p.t, d = p.heads * p.hd;
  ops::layer_norm(p.x, p.ln_w, p.ln_b, p.h, p.mean, p.rstd, n, d, p.eps);
  GemmProblem qkv[3] = {block_product(p.h, false, n, d, p.wq, false, d, p.q, p.bq), block_product(p.h, false, n, d, p.wk, false, d, p.k, p.bk),
                        block_product(p.h, false, n, d, p.wv, false, d, p.v, p.bv)};
  if (!run_block_products(qkv, 3)) return false;
  if (p.q_scale != 1.0f) scale(p.q, n * d, p.q_scale);  // HF scales q, bias included
  if (!attn::forward(p.q, d, p.k, d, p.v, d, p.bias, p.bias_batch, p.a, p.probs, p.b, p.t, p.heads, p.hd, p.divisor)) return false;
  GemmProblem o = block_product(p.a, false, n, d, p.wo, false, d, p.y, p.bo);
  if (!run_block_products(&o, 1)) return false;
  add_into(p.y, p.x, n * d);  // the residual
  return true;
}

bool attn_backward(const AttnGrad& p) {
  const long n = p.b * p.t, d = p.heads * p.hd;
  float* buf = static_cast<float*>(std::malloc(sizeof(float) * 6 * n * d));
  if (buf == nullptr) return false;
  float *da = buf, *dq = da + n * d, *dk = dq + n * d, *dv = dk + n * d, *t2 = dv + n * d, *t3 = t2 + n * d;
  bool ok = true;
  colsum(p.dy, p.dbo, n, d);
  GemmProblem out[2] = {block_product(p.dy, false, n, d, p.wo, true, d, da), block_product(p.a, true, d, n, p.dy, false, d, p.dwo)};
  ok = run_block_products(out, 2);
  ok = ok && attn::backward(da, p.q, d, p.k, d, p.v, d, p.probs, dq, dk, dv, p.b, p.t, p.heads, p.hd, p.divisor);
  if (ok) {
    if (p.q_scale != 1.0f) scale(dq, n * d, p.q_scale);
    colsum(dq, p.dbq, n, d);
    colsum(dk, p.dbk, n, d);
    colsum(dv, p.dbv, n, d);
    // da is free again: it takes the first of the three input gradients.
    GemmProblem g[6] = {block_product(p.h, true, d, n, dq, false, d, p.dwq), block_product(p.h, true, d, n, dk, false, d, p.dwk),
                        block_product(p.h, true, d, n, dv, false, d, p.dwv), block_product(dq, false, n, d, p.wq, true, d, da),
                        block_product(dk, false, n, d, p.wk, true, d, t2),   block_product(dv, false, n, d, p.wv, true, d, t3)};
    ok = run_block_products(g, 6);
  }
  if (ok) {
    add_into(da, t2, n * d);
    add_into(da, t3, n * d);
    ops::layer_norm_grad(da, p.x, p.mean, p.rstd, p.ln_w, p.dx, p.dln_w, p.dln_b, n, d);
    add_into(p.dx, p.dy, n * d);  // the residual
  }
  std::free(buf);
  return ok;
}

bool mlp_forward(const Mlp& p) {
  const long n = p.n, d = p.d, f = p.ffn;
  ops::layer_norm(p.y, p.ln_w, p.ln_b, p.h, p.mean, p.rstd, n, d, p.eps);
  const bool relu = p.act == ops::kRelu;
  GemmProblem up = block_product(p.h, false, n, d, p.w1, false, f, relu ? p.f : p.pre, p.b1, relu);
  if (!run_block_products(&up, 1)) return false;
  if (!relu) ops::activation(p.pre, p.f, n, f, p.act);
  GemmProblem down = block_product(p.f, false, n, f, p.w2, false, d, p.z, p.b2);
  if (!run_block_products(&down, 1)) return false;
  add_into(p.z, p.y, n * d);
  return true;
}

bool mlp_backward(const MlpGrad& p) {
  const long n = p.n, d = p.d, f = p.ffn;
  float* buf = static_cast<float*>(std::malloc(sizeof(float) * (n * f + n * d)));
  if (buf == nullptr) return false;
  float *df = buf, *dh = df + n * f;
  colsum(p.dz, p.db2, n, d);
  GemmProblem g[2] = {block_product(p.dz, false, n, d, p.w2, true, f, df), block_product(p.f, true, f, n, p.dz, false, d, p.dw2)};
  bool ok = run_block_products(g, 2);
  if (ok) {
    // relu's slope is read off f (f > 0 exactly where pre > 0); the others' off pre.
    const float* slope = p.act == ops::kRelu ? p.f : p.pre;
    ops::activation_grad(df, slope, df, p.db1, n, f, p.act);
    GemmProblem g2[2] = {block_product(p.h, true, d, n, df, false, f, p.dw1), block_product(df, false, n, f, p.w1, true, d, dh)};
    ok = run_block_products(g2, 2);
  }
  if (ok) {
    ops::layer_norm_grad(dh, p.y, p.mean, p.rstd, p.ln_w, p.dy, p.dln_w, p.dln_b, n, d);
    add_into(p.dy, p.dz, n * d);
  }
  std::free(buf);
  return ok;
}

}  // namespace blocks
}  // namespace rlhfkit
