// rlhfkit native kernels: a LLaMA decoder layer's two residual blocks (RMSNorm, RoPE, GQA attention; RMSNorm, SwiGLU).
#pragma once

namespace rlhfkit {
namespace llama {

/**
 * y = x + attention(RoPE(RMSNorm(x) · Wq + bq), RoPE(... · Wk + bk), ... · Wv + bv) · Wo + bo for x [n = b*t, d];
 * Wq [d, heads*hd], Wk and Wv [d, kv_heads*hd], Wo [heads*hd, d] (as [in, out]); biases may be null. RoPE is HF's
 * rotate_half with the rows' own tables cos, sin [n, hd]. Saves h = RMSNorm(x), its rstd, the rotated q and k, v, the
 * attention probabilities [b, heads, t, t] and the attention output a [n, heads*hd].
 */
struct Attn {
  const float *x, *ln_w, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *cos, *sin, *bias;
  long bias_batch, b, t, d, heads, kv_heads, hd;
  float eps, divisor;
  float *y, *h, *rstd, *q, *k, *v, *probs, *a;
};
bool attn_forward(const Attn& p);

/** From dy and what the forward saved: dx and every parameter's gradient (a bias gradient only where it has one). */
struct AttnGrad {
  const float *dy, *x, *ln_w, *h, *rstd, *q, *k, *v, *probs, *a, *wq, *wk, *wv, *wo, *cos, *sin;
  long b, t, d, heads, kv_heads, hd;
  float divisor;
  float *dx, *dln_w, *dwq, *dbq, *dwk, *dbk, *dwv, *dbv, *dwo, *dbo;
};
bool attn_backward(const AttnGrad& p);

/**
 * z = y + (act(h · Wg + bg) * (h · Wu + bu)) · Wd + bd with h = RMSNorm(y); Wg, Wu [d, ffn], Wd [ffn, d], biases may
 * be null. Saves h, rstd, g = h · Wg + bg, u = h · Wu + bu and f = act(g) * u.
 */
struct Mlp {
  const float *y, *ln_w, *wg, *bg, *wu, *bu, *wd, *bd;
  long n, d, ffn;
  int act;
  float eps;
  float *z, *h, *rstd, *g, *u, *f;
};
bool mlp_forward(const Mlp& p);

struct MlpGrad {
  const float *dz, *y, *ln_w, *h, *rstd, *g, *u, *f, *wg, *wu, *wd;
  long n, d, ffn;
  int act;
  float *dy, *dln_w, *dwg, *dbg, *dwu, *dbu, *dwd, *dbd;
};
bool mlp_backward(const MlpGrad& p);

}  // namespace llama
}  // namespace rlhfkit
