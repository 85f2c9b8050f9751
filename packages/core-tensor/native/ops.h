// rlhfkit native kernels: the fused operations' entry points (pointers into the wasm heap; sizes in elements).
#pragma once
#include <cstdint>

namespace rlhfkit {
namespace ops {

/** Whether this CPU runs the fused kernels (they are compiled for AVX2+FMA). */
bool supported();

/** Activation kinds shared with the TypeScript side (backend/native-ops.ts). */
enum Act { kLinear = 0, kRelu = 1, kGeluErf = 2, kGeluTanh = 3, kSilu = 4, kQuickGelu = 5 };

// LayerNorm over rows of d: y = (x - mean) * rstd [* w] [+ b]; saves mean and rstd per row.
void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows, long d,
                float eps);
// The same on the calling thread only (inside another pool job), mean and rstd optional.
void layer_norm_serial(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows,
                       long d, float eps);
// dx, and dw/db (when non-null) summed over rows.
void layer_norm_grad(const float* dy, const float* x, const float* mean, const float* rstd, const float* w, float* dx,
                     float* dw, float* db, long rows, long d);
// RMSNorm: y = w * (x * rstd), rstd = 1/sqrt(mean(x^2) + eps); saves rstd.
void rms_norm(const float* x, const float* w, float* y, float* rstd, long rows, long d, float eps);
void rms_norm_grad(const float* dy, const float* x, const float* rstd, const float* w, float* dx, float* dw, long rows,
                   long d);

// y = act(pre) elementwise over rows x n.
void activation(const float* pre, float* y, long rows, long n, int act);
// dpre = dy * act'(pre) (skipped when dpre is null, i.e. linear), dbias = column sums of dpre (when non-null).
void activation_grad(const float* dy, const float* pre, float* dpre, float* dbias, long rows, long n, int act);

// Per row r of logits [rows, v]: lse[r] = log sum exp, out[r] = logits[r, label[r]] - lse[r].
void label_log_probs(const float* logits, const int32_t* labels, float* out, float* lse, long rows, long v);
// dlogits[r, j] = dy[r] * ([j == label[r]] - exp(logits[r, j] - lse[r])).
void label_log_probs_grad(const float* dy, const float* logits, const int32_t* labels, const float* lse,
                          float* dlogits, long rows, long v);

/** One parameter of an AdamW step: buffers and the float32 scalars of the update. */
struct AdamWItem {
  const float *p, *g, *m, *v;
  float *po, *mo, *vo;
  long n;
  float b1, omb1, b2, omb2, bc2, eps, step, decay;
};
// m = m*b1 + g*omb1; v = v*b2 + g*g*omb2; p = p*decay - m / (sqrt(v)/bc2 + eps) * step, for every item.
void adamw(const AdamWItem* items, long count);

// out [segments, inner] = 0, then out[ids[i]] += x[i] (ids outside [0, segments) dropped).
void segment_sum(const float* x, const int32_t* ids, float* out, long n, long inner, long segments);

}  // namespace ops
}  // namespace rlhfkit
