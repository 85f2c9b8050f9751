// rlhfkit native kernels: a pre-LN decoder layer's two residual blocks (self-attention, MLP) as one call each way.
#pragma once

namespace rlhfkit {
namespace blocks {

/**
 * y = x + attention(LN(x)) · Wo + bo, with q = (LN(x) · Wq + bq) * q_scale, k and v likewise (weights [d, d] as
 * [in, out]); saves h = LN(x), its mean and rstd, q (scaled), k, v, the attention probabilities and output a.
 */
struct Attn {
  const float *x, *ln_w, *ln_b, *wq, *bq, *wk, *bk, *wv, *bv, *wo, *bo, *bias;
  long bias_batch, b, t, heads, hd;
  float eps, q_scale, divisor;
  float *y, *h, *mean, *rstd, *q, *k, *v, *probs, *a;
};
bool attn_forward(const Attn& p);

/** From dy and what the forward saved: dx and the gradients of every weight, bias and norm parameter. */
struct AttnGrad {
  const float *dy, *x, *ln_w, *h, *mean, *rstd, *q, *k, *v, *probs, *a, *wq, *wk, *wv, *wo;
  long b, t, heads, hd;
  float q_scale, divisor;
  float *dx, *dln_w, *dln_b, *dwq, *dbq, *dwk, *dbk, *dwv, *dbv, *dwo, *dbo;
};
bool attn_backward(const AttnGrad& p);

/**
 * z = y + act(LN(y) · W1 + b1) · W2 + b2; saves h = LN(y), its mean and rstd, f = act(pre) and, for activations other
 * than relu, pre itself.
 */
struct Mlp {
  const float *y, *ln_w, *ln_b, *w1, *b1, *w2, *b2;
  long n, d, ffn;
  int act;
  float eps;
  float *z, *h, *mean, *rstd, *pre, *f;
};
bool mlp_forward(const Mlp& p);

struct MlpGrad {
  const float *dz, *y, *ln_w, *h, *mean, *rstd, *pre, *f, *w1, *w2;
  long n, d, ffn;
  int act;
  float *dy, *dln_w, *dln_b, *dw1, *db1, *dw2, *db2;
};
bool mlp_backward(const MlpGrad& p);

}  // namespace blocks
}  // namespace rlhfkit
