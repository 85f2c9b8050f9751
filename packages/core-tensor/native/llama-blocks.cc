// rlhfkit native kernels: a LLaMA layer's residual blocks from the fused pieces (RMSNorm, products, RoPE, attention, SwiGLU).
#include "llama-blocks.h"

#include <cstdlib>
#include <cstring>

#include "attention.h"
#include "gemm.h"
#include "ops.h"
#include "parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "simd.h"

namespace rlhfkit {
namespace llama {
namespace {

void add_into(float* x, const float* y, long n) {
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

/** Column sums of dy [rows, n] into out (float64 per thread, then summed); nothing when out is null. */
void colsum(const float* dy, float* out, long rows, long n) {
  if (out != nullptr) ops::activation_grad(dy, nullptr, nullptr, out, rows, n, ops::kLinear);
}

// ---- RoPE (HF's rotate_half) ------------------------------------------------------------------------------------

struct RopeArgs {
  float* x;  // [rows, heads*hd] with row stride ld, in place
  long ld, heads, hd;
  const float *cos, *sin;  // [rows, hd]
  bool inverse;            // the backward: the transpose of the rotation
};

/**
 * Forward: x_i c_i + rotate_half(x)_i s_i, rotate_half(x) = cat(-x[half:], x[:half]) (the tfjs layer's order of
 * operations). Backward: dx_i = dy_i c_i + dy_{i+half} s_{i+half} (i < half), dy_i c_i - dy_{i-half} s_{i-half}.
 */
void rope_part(int part, void* ctx) {
  auto* j = static_cast<Job<RopeArgs>*>(ctx);
  const RopeArgs& a = j->args;
  const long half = a.hd / 2;
  for (long r = j->begin(part); r < j->end(part); ++r) {
    const float* c = a.cos + r * a.hd;
    const float* s = a.sin + r * a.hd;
    for (long h = 0; h < a.heads; ++h) {
      float* x = a.x + r * a.ld + h * a.hd;
      for (long i = 0; i < half; ++i) {
        const float lo = x[i], hi = x[i + half];
        if (!a.inverse) {
          x[i] = lo * c[i] + -hi * s[i];
          x[i + half] = hi * c[i + half] + lo * s[i + half];
        } else {
          x[i] = lo * c[i] + hi * s[i + half];
          x[i + half] = hi * c[i + half] - lo * s[i];
        }
      }
    }
  }
}

void rope(float* x, long ld, long rows, long heads, long hd, const float* cos, const float* sin, bool inverse) {
  Job<RopeArgs> job{RopeArgs{x, ld, heads, hd, cos, sin, inverse}, rows, parts_for(rows, rows * heads * hd * 2, 1 << 15)};
  run_job(job, rope_part);
}

// ---- SwiGLU: f = act(g) * u, and its gradient ----------------------------------------------------------------

struct GluArgs {
  const float *g, *u, *df;
  float *f, *dg, *du;
  long n;  // elements
  int act;
};

void glu_fwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<GluArgs>*>(ctx);
  const GluArgs& a = j->args;
  long i = j->begin(part);
  const long end = j->end(part);
  for (; i + 8 <= end; i += 8) {
    _mm256_storeu_ps(a.f + i, _mm256_mul_ps(act_value(_mm256_loadu_ps(a.g + i), a.act), _mm256_loadu_ps(a.u + i)));
  }
  if (i < end) {
    float gb[8] = {0}, ub[8] = {0}, out[8];
    std::memcpy(gb, a.g + i, (end - i) * sizeof(float));
    std::memcpy(ub, a.u + i, (end - i) * sizeof(float));
    _mm256_storeu_ps(out, _mm256_mul_ps(act_value(_mm256_loadu_ps(gb), a.act), _mm256_loadu_ps(ub)));
    std::memcpy(a.f + i, out, (end - i) * sizeof(float));
  }
}

/** du = df * act(g); dg = (df * u) * act'(g) (tf.mul's gradient, then the activation's). */
inline void glu_grad8(const GluArgs& a, const float* g, const float* u, const float* df, float* dg, float* du) {
  const __m256 vg = _mm256_loadu_ps(g), vdf = _mm256_loadu_ps(df);
  _mm256_storeu_ps(du, _mm256_mul_ps(vdf, act_value(vg, a.act)));
  _mm256_storeu_ps(dg, _mm256_mul_ps(_mm256_mul_ps(vdf, _mm256_loadu_ps(u)), act_slope(vg, a.act)));
}

void glu_bwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<GluArgs>*>(ctx);
  const GluArgs& a = j->args;
  long i = j->begin(part);
  const long end = j->end(part);
  for (; i + 8 <= end; i += 8) glu_grad8(a, a.g + i, a.u + i, a.df + i, a.dg + i, a.du + i);
  if (i < end) {
    const long k = end - i;
    float gb[8] = {0}, ub[8] = {0}, db[8] = {0}, og[8], ou[8];
    std::memcpy(gb, a.g + i, k * sizeof(float));
    std::memcpy(ub, a.u + i, k * sizeof(float));
    std::memcpy(db, a.df + i, k * sizeof(float));
    glu_grad8(a, gb, ub, db, og, ou);
    std::memcpy(a.dg + i, og, k * sizeof(float));
    std::memcpy(a.du + i, ou, k * sizeof(float));
  }
}

void glu(GluArgs a, bool backward) {
  Job<GluArgs> job{a, a.n, parts_for(a.n, a.n * 16, 1 << 16)};
  run_job(job, backward ? glu_bwd_part : glu_fwd_part);
}

}  // namespace

bool attn_forward(const Attn& p) {
  const long n = p.b * p.t, d = p.d, qd = p.heads * p.hd, kvd = p.kv_heads * p.hd;
  ops::rms_norm(p.x, p.ln_w, p.h, p.rstd, n, d, p.eps);
  GemmProblem qkv[3] = {block_product(p.h, false, n, d, p.wq, false, qd, p.q, p.bq), block_product(p.h, false, n, d, p.wk, false, kvd, p.k, p.bk),
                        block_product(p.h, false, n, d, p.wv, false, kvd, p.v, p.bv)};
  if (!run_block_products(qkv, 3)) return false;
  rope(p.q, qd, n, p.heads, p.hd, p.cos, p.sin, false);
  rope(p.k, kvd, n, p.kv_heads, p.hd, p.cos, p.sin, false);
  if (!attn::forward_gqa(p.q, qd, p.k, kvd, p.v, kvd, p.bias, p.bias_batch, p.a, p.probs, p.b, p.t, p.heads, p.kv_heads, p.hd,
                         p.divisor)) {
    return false;
  }
  GemmProblem o = block_product(p.a, false, n, qd, p.wo, false, d, p.y, p.bo);
  if (!run_block_products(&o, 1)) return false;
  add_into(p.y, p.x, n * d);  // the residual
  return true;
}

bool attn_backward(const AttnGrad& p) {
  const long n = p.b * p.t, d = p.d, qd = p.heads * p.hd, kvd = p.kv_heads * p.hd;
  float* buf = static_cast<float*>(std::malloc(sizeof(float) * (2 * n * qd + 2 * n * kvd + 3 * n * d)));
  if (buf == nullptr) return false;
  float *da = buf, *dq = da + n * qd, *dk = dq + n * qd, *dv = dk + n * kvd, *dh = dv + n * kvd, *t2 = dh + n * d, *t3 = t2 + n * d;
  colsum(p.dy, p.dbo, n, d);
  GemmProblem out[2] = {block_product(p.dy, false, n, d, p.wo, true, qd, da), block_product(p.a, true, qd, n, p.dy, false, d, p.dwo)};
  bool ok = run_block_products(out, 2);
  ok = ok && attn::backward_gqa(da, p.q, qd, p.k, kvd, p.v, kvd, p.probs, dq, dk, dv, p.b, p.t, p.heads, p.kv_heads, p.hd, p.divisor);
  if (ok) {
    rope(dq, qd, n, p.heads, p.hd, p.cos, p.sin, true);
    rope(dk, kvd, n, p.kv_heads, p.hd, p.cos, p.sin, true);
    colsum(dq, p.dbq, n, qd);
    colsum(dk, p.dbk, n, kvd);
    colsum(dv, p.dbv, n, kvd);
    GemmProblem g[6] = {block_product(p.h, true, d, n, dq, false, qd, p.dwq), block_product(p.h, true, d, n, dk, false, kvd, p.dwk),
                        block_product(p.h, true, d, n, dv, false, kvd, p.dwv), block_product(dq, false, n, qd, p.wq, true, d, dh),
                        block_product(dk, false, n, kvd, p.wk, true, d, t2),   block_product(dv, false, n, kvd, p.wv, true, d, t3)};
    ok = run_block_products(g, 6);
  }
  if (ok) {
    add_into(dh, t2, n * d);
    add_into(dh, t3, n * d);
    ops::rms_norm_grad(dh, p.x, p.rstd, p.ln_w, p.dx, p.dln_w, n, d);
    add_into(p.dx, p.dy, n * d);  // the residual
  }
  std::free(buf);
  return ok;
}

bool mlp_forward(const Mlp& p) {
  const long n = p.n, d = p.d, f = p.ffn;
  ops::rms_norm(p.y, p.ln_w, p.h, p.rstd, n, d, p.eps);
  GemmProblem up[2] = {block_product(p.h, false, n, d, p.wg, false, f, p.g, p.bg), block_product(p.h, false, n, d, p.wu, false, f, p.u, p.bu)};
  if (!run_block_products(up, 2)) return false;
  glu(GluArgs{p.g, p.u, nullptr, p.f, nullptr, nullptr, n * f, p.act}, false);
  GemmProblem down = block_product(p.f, false, n, f, p.wd, false, d, p.z, p.bd);
  if (!run_block_products(&down, 1)) return false;
  add_into(p.z, p.y, n * d);
  return true;
}

bool mlp_backward(const MlpGrad& p) {
  const long n = p.n, d = p.d, f = p.ffn;
  float* buf = static_cast<float*>(std::malloc(sizeof(float) * (2 * n * f + 2 * n * d)));
  if (buf == nullptr) return false;
  float *df = buf, *du = df + n * f, *dh = du + n * f, *t2 = dh + n * d;
  colsum(p.dz, p.dbd, n, d);
  GemmProblem g[2] = {block_product(p.dz, false, n, d, p.wd, true, f, df), block_product(p.f, true, f, n, p.dz, false, d, p.dwd)};
  bool ok = run_block_products(g, 2);
  if (ok) {
    glu(GluArgs{p.g, p.u, df, nullptr, df, du, n * f, p.act}, true);  // dg written over df
    colsum(df, p.dbg, n, f);
    colsum(du, p.dbu, n, f);
    GemmProblem g2[4] = {block_product(p.h, true, d, n, df, false, f, p.dwg), block_product(p.h, true, d, n, du, false, f, p.dwu),
                         block_product(df, false, n, f, p.wg, true, d, dh), block_product(du, false, n, f, p.wu, true, d, t2)};
    ok = run_block_products(g2, 4);
  }
  if (ok) {
    add_into(dh, t2, n * d);
    ops::rms_norm_grad(dh, p.y, p.rstd, p.ln_w, p.dy, p.dln_w, n, d);
    add_into(p.dy, p.dz, n * d);
  }
  std::free(buf);
  return ok;
}

}  // namespace llama
}  // namespace rlhfkit
#pragma GCC pop_options

#else

namespace rlhfkit {
namespace llama {
bool attn_forward(const Attn&) { return false; }
bool attn_backward(const AttnGrad&) { return false; }
bool mlp_forward(const Mlp&) { return false; }
bool mlp_backward(const MlpGrad&) { return false; }
}  // namespace llama
}  // namespace rlhfkit

#endif
