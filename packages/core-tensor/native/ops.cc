// rlhfkit native kernels: fused row-wise operations (norms, activations, softmax cross-entropy, AdamW, embedding gradient).
#include "ops.h"

#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "parallel.h"

#if defined(__x86_64__) || defined(__i386__)

namespace rlhfkit {
namespace ops {
bool supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
}  // namespace ops
}  // namespace rlhfkit

// Everything below runs only where supported() holds: compiled for AVX2+FMA, internal linkage only (no inline
// library templates are instantiated here, so nothing AVX2-only can leak into the rest of the addon).
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "simd.h"

namespace rlhfkit {
namespace ops {
namespace {

// ---- norms ------------------------------------------------------------------------------------------------

struct NormArgs {
  const float *x, *w, *b, *dy, *mean, *rstd;
  float *y, *dx, *save_mean, *save_rstd;
  double* partial;  // per part: dw (d doubles) then db (d doubles)
  long rows, d;
  float eps;
  bool rms;
};

void norm_rows(const NormArgs& a, long r0, long r1) {
  const long d = a.d;
  for (long r = r0; r < r1; ++r) {
    const float* x = a.x + r * d;
    float* y = a.y + r * d;
    float mu = 0.0f;
    if (!a.rms) mu = hsum(a.x + r * d, d) / static_cast<float>(d);
    // Sum of squares of the centred row (LayerNorm) or of the row (RMSNorm), 8 lanes at a time.
    __m256 acc = _mm256_setzero_ps();
    const __m256 vmu = _mm256_set1_ps(mu);
    long c = 0;
    for (; c + 8 <= d; c += 8) {
      const __m256 z = _mm256_sub_ps(_mm256_loadu_ps(x + c), vmu);
      acc = _mm256_fmadd_ps(z, z, acc);
    }
    float ss = reduce_add(acc);
    for (; c < d; ++c) ss += (x[c] - mu) * (x[c] - mu);
    const float inv = 1.0f / __builtin_sqrtf(ss / static_cast<float>(d) + a.eps);
    if (a.save_mean != nullptr) a.save_mean[r] = mu;
    if (a.save_rstd != nullptr) a.save_rstd[r] = inv;
    const __m256 vinv = _mm256_set1_ps(inv);
    for (c = 0; c + 8 <= d; c += 8) {
      __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vmu), vinv);
      if (a.w != nullptr) v = _mm256_mul_ps(v, _mm256_loadu_ps(a.w + c));
      if (a.b != nullptr) v = _mm256_add_ps(v, _mm256_loadu_ps(a.b + c));
      _mm256_storeu_ps(y + c, v);
    }
    for (; c < d; ++c) {
      float v = (x[c] - mu) * inv;
      if (a.w != nullptr) v *= a.w[c];
      if (a.b != nullptr) v += a.b[c];
      y[c] = v;
    }
  }
}

void norm_grad_rows(const NormArgs& a, long r0, long r1, int part) {
  const long d = a.d;
  double* dw = a.partial != nullptr ? a.partial + static_cast<long>(part) * 2 * d : nullptr;
  double* db = dw != nullptr ? dw + d : nullptr;
  for (long r = r0; r < r1; ++r) {
    const float* x = a.x + r * d;
    const float* dy = a.dy + r * d;
    float* dx = a.dx + r * d;
    const float mu = a.rms ? 0.0f : a.mean[r];
    const float inv = a.rstd[r];
    // sum(g) and sum(g * xhat), g = dy * w.
    float sg = 0.0f, sgx = 0.0f;
    for (long c = 0; c < d; ++c) {
      const float xh = (x[c] - mu) * inv;
      const float g = a.w != nullptr ? dy[c] * a.w[c] : dy[c];
      sg += g;
      sgx += g * xh;
      if (dw != nullptr) {
        dw[c] += static_cast<double>(dy[c]) * xh;
        if (!a.rms) db[c] += dy[c];
      }
    }
    const float mg = a.rms ? 0.0f : sg / static_cast<float>(d);
    const float mgx = sgx / static_cast<float>(d);
    for (long c = 0; c < d; ++c) {
      const float xh = (x[c] - mu) * inv;
      const float g = a.w != nullptr ? dy[c] * a.w[c] : dy[c];
      dx[c] = inv * (g - mg - xh * mgx);
    }
  }
}

void norm_fwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<NormArgs>*>(ctx);
  norm_rows(j->args, j->begin(part), j->end(part));
}

void norm_bwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<NormArgs>*>(ctx);
  norm_grad_rows(j->args, j->begin(part), j->end(part), part);
}

void norm_forward(NormArgs& a) {
  Job<NormArgs> job{a, a.rows, parts_for(a.rows, a.rows * a.d, 1 << 15)};
  run_job(job, norm_fwd_part);
}

void norm_backward(NormArgs& a, float* dw, float* db) {
  const int parts = parts_for(a.rows, a.rows * a.d, 1 << 14);
  const long d = a.d;
  double* partial = nullptr;
  if (dw != nullptr) {
    partial = static_cast<double*>(std::calloc(static_cast<size_t>(parts) * 2 * d, sizeof(double)));
    if (partial == nullptr) return;
  }
  a.partial = partial;
  Job<NormArgs> job{a, a.rows, parts};
  run_job(job, norm_bwd_part);
  if (partial != nullptr) {
    for (long c = 0; c < d; ++c) {
      double sw = 0, sb = 0;
      for (int p = 0; p < parts; ++p) {
        sw += partial[p * 2 * d + c];
        sb += partial[p * 2 * d + d + c];
      }
      dw[c] = static_cast<float>(sw);
      if (db != nullptr) db[c] = static_cast<float>(sb);
    }
    std::free(partial);
  }
}

// ---- activations (act_value, act_slope: simd.h) ---------------------------------------------------------------

struct ActArgs {
  const float *pre, *dy;
  float *y, *dpre;
  double* partial;  // per part: n doubles of column sums
  float* block;     // per part: n floats, the column sums of the current block of rows
  long rows, n;
  int act;
};

void act_rows(const ActArgs& a, long r0, long r1) {
  const long n = a.n;
  for (long r = r0; r < r1; ++r) {
    const float* x = a.pre + r * n;
    float* y = a.y + r * n;
    long c = 0;
    for (; c + 8 <= n; c += 8) _mm256_storeu_ps(y + c, act_value(_mm256_loadu_ps(x + c), a.act));
    if (c < n) {
      float tail[8] = {0}, out[8];
      std::memcpy(tail, x + c, (n - c) * sizeof(float));
      _mm256_storeu_ps(out, act_value(_mm256_loadu_ps(tail), a.act));
      std::memcpy(y + c, out, (n - c) * sizeof(float));
    }
  }
}

/** Adds the block's float column sums into the part's float64 ones, and clears the block. */
void flush_block(float* block, double* colsum, long n) {
  for (long c = 0; c < n; ++c) {
    colsum[c] += block[c];
    block[c] = 0.0f;
  }
}

// Column sums go through float blocks of kBlockRows rows (vector adds), then into float64 per part.
constexpr long kBlockRows = 32;

void act_grad_rows(const ActArgs& a, long r0, long r1, int part) {
  const long n = a.n;
  double* colsum = a.partial != nullptr ? a.partial + static_cast<long>(part) * n : nullptr;
  float* block = a.block != nullptr ? a.block + static_cast<long>(part) * n : nullptr;
  const bool slope = a.act != kLinear;
  for (long r = r0; r < r1; ++r) {
    const float* dy = a.dy + r * n;
    const float* x = slope ? a.pre + r * n : nullptr;
    float* dp = a.dpre != nullptr ? a.dpre + r * n : nullptr;
    long c = 0;
    for (; c + 8 <= n; c += 8) {
      __m256 v = _mm256_loadu_ps(dy + c);
      if (slope) v = _mm256_mul_ps(v, act_slope(_mm256_loadu_ps(x + c), a.act));
      if (dp != nullptr) _mm256_storeu_ps(dp + c, v);
      if (block != nullptr) _mm256_storeu_ps(block + c, _mm256_add_ps(_mm256_loadu_ps(block + c), v));
    }
    if (c < n) {
      const long k = n - c;
      float dyb[8] = {0}, xb[8] = {0}, g[8];
      std::memcpy(dyb, dy + c, k * sizeof(float));
      if (slope) std::memcpy(xb, x + c, k * sizeof(float));
      __m256 v = _mm256_loadu_ps(dyb);
      if (slope) v = _mm256_mul_ps(v, act_slope(_mm256_loadu_ps(xb), a.act));
      _mm256_storeu_ps(g, v);
      if (dp != nullptr) std::memcpy(dp + c, g, k * sizeof(float));
      if (block != nullptr) {
        for (long j = 0; j < k; ++j) block[c + j] += g[j];
      }
    }
    if (block != nullptr && ((r - r0) % kBlockRows == kBlockRows - 1 || r + 1 == r1)) flush_block(block, colsum, n);
  }
}

void act_fwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<ActArgs>*>(ctx);
  act_rows(j->args, j->begin(part), j->end(part));
}

void act_bwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<ActArgs>*>(ctx);
  act_grad_rows(j->args, j->begin(part), j->end(part), part);
}

// ---- softmax cross-entropy ---------------------------------------------------------------------------------

struct CeArgs {
  const float *logits, *dy, *lse_in;
  const int32_t* labels;
  float *out, *lse, *dlogits;
  long rows, v;
};

void ce_rows(const CeArgs& a, long r0, long r1) {
  const long v = a.v;
  for (long r = r0; r < r1; ++r) {
    const float* x = a.logits + r * v;
    const float m = hmax(x, v);
    const float s = sum_exp(x, v, m);
    const float lse = m + __builtin_logf(s);
    a.lse[r] = lse;
    const int32_t label = a.labels[r];
    a.out[r] = (label >= 0 && label < v ? x[label] : 0.0f) - lse;
  }
}

void ce_grad_rows(const CeArgs& a, long r0, long r1) {
  const long v = a.v;
  for (long r = r0; r < r1; ++r) {
    const float* x = a.logits + r * v;
    float* out = a.dlogits + r * v;
    const float g = a.dy[r];
    const __m256 vlse = _mm256_set1_ps(a.lse_in[r]);
    const __m256 vneg = _mm256_set1_ps(-g);
    long c = 0;
    for (; c + 8 <= v; c += 8) _mm256_storeu_ps(out + c, _mm256_mul_ps(vneg, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + c), vlse))));
    for (; c < v; ++c) out[c] = -g * __builtin_expf(x[c] - a.lse_in[r]);
    const int32_t label = a.labels[r];
    if (label >= 0 && label < v) out[label] += g;
  }
}

void ce_fwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<CeArgs>*>(ctx);
  ce_rows(j->args, j->begin(part), j->end(part));
}

void ce_bwd_part(int part, void* ctx) {
  auto* j = static_cast<Job<CeArgs>*>(ctx);
  ce_grad_rows(j->args, j->begin(part), j->end(part));
}

// ---- AdamW ---------------------------------------------------------------------------------------------------

struct AdamWArgs {
  const AdamWItem* items;
  long count;
  const long* starts;  // global element index where each item starts; starts[count] = total
};

// The same float32 operations in the same order as the tfjs composite (train/adamw.ts): no fused multiply-adds.
__attribute__((optimize("fp-contract=off"))) void adamw_range(const AdamWItem& it, long i0, long i1) {
  const __m256 b1 = _mm256_set1_ps(it.b1), omb1 = _mm256_set1_ps(it.omb1), b2 = _mm256_set1_ps(it.b2),
               omb2 = _mm256_set1_ps(it.omb2), bc2 = _mm256_set1_ps(it.bc2), eps = _mm256_set1_ps(it.eps),
               step = _mm256_set1_ps(it.step), decay = _mm256_set1_ps(it.decay);
  long i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m256 g = _mm256_loadu_ps(it.g + i);
    const __m256 m = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(it.m + i), b1), _mm256_mul_ps(g, omb1));
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(it.v + i), b2), _mm256_mul_ps(_mm256_mul_ps(g, g), omb2));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), bc2), eps);
    const __m256 p = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(it.p + i), decay), _mm256_mul_ps(_mm256_div_ps(m, denom), step));
    _mm256_storeu_ps(it.mo + i, m);
    _mm256_storeu_ps(it.vo + i, v);
    _mm256_storeu_ps(it.po + i, p);
  }
  for (; i < i1; ++i) {
    const float g = it.g[i];
    const float m = it.m[i] * it.b1 + g * it.omb1;
    const float v = it.v[i] * it.b2 + g * g * it.omb2;
    const float denom = __builtin_sqrtf(v) / it.bc2 + it.eps;
    it.mo[i] = m;
    it.vo[i] = v;
    it.po[i] = it.p[i] * it.decay - m / denom * it.step;
  }
}

void adamw_part(int part, void* ctx) {
  auto* j = static_cast<Job<AdamWArgs>*>(ctx);
  const AdamWArgs& a = j->args;
  const long e0 = j->begin(part), e1 = j->end(part);
  for (long k = 0; k < a.count; ++k) {
    const long s = a.starts[k], e = a.starts[k + 1];
    if (e <= e0 || s >= e1) continue;
    adamw_range(a.items[k], (e0 > s ? e0 : s) - s, (e1 < e ? e1 : e) - s);
  }
}

// ---- embedding gradient ----------------------------------------------------------------------------------------

struct SegArgs {
  const float* x;
  const int32_t* ids;
  float* out;
  long n, inner, segments;
};

void seg_part(int part, void* ctx) {
  auto* j = static_cast<Job<SegArgs>*>(ctx);
  const SegArgs& a = j->args;
  const long s0 = j->begin(part), s1 = j->end(part);
  std::memset(a.out + s0 * a.inner, 0, (s1 - s0) * a.inner * sizeof(float));
  for (long i = 0; i < a.n; ++i) {
    const long s = a.ids[i];
    if (s < s0 || s >= s1) continue;
    float* o = a.out + s * a.inner;
    const float* x = a.x + i * a.inner;
    long c = 0;
    for (; c + 8 <= a.inner; c += 8) _mm256_storeu_ps(o + c, _mm256_add_ps(_mm256_loadu_ps(o + c), _mm256_loadu_ps(x + c)));
    for (; c < a.inner; ++c) o[c] += x[c];
  }
}

}  // namespace

void layer_norm(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows, long d,
                float eps) {
  NormArgs a{x, w, b, nullptr, nullptr, nullptr, y, nullptr, mean, rstd, nullptr, rows, d, eps, false};
  norm_forward(a);
}

void layer_norm_serial(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows,
                       long d, float eps) {
  NormArgs a{x, w, b, nullptr, nullptr, nullptr, y, nullptr, mean, rstd, nullptr, rows, d, eps, false};
  norm_rows(a, 0, rows);
}

void layer_norm_grad(const float* dy, const float* x, const float* mean, const float* rstd, const float* w, float* dx,
                     float* dw, float* db, long rows, long d) {
  NormArgs a{x, w, nullptr, dy, mean, rstd, nullptr, dx, nullptr, nullptr, nullptr, rows, d, 0.0f, false};
  norm_backward(a, dw, db);
}

void rms_norm(const float* x, const float* w, float* y, float* rstd, long rows, long d, float eps) {
  NormArgs a{x, w, nullptr, nullptr, nullptr, nullptr, y, nullptr, nullptr, rstd, nullptr, rows, d, eps, true};
  norm_forward(a);
}

void rms_norm_grad(const float* dy, const float* x, const float* rstd, const float* w, float* dx, float* dw, long rows,
                   long d) {
  NormArgs a{x, w, nullptr, dy, nullptr, rstd, nullptr, dx, nullptr, nullptr, nullptr, rows, d, 0.0f, true};
  norm_backward(a, dw, nullptr);
}

void activation(const float* pre, float* y, long rows, long n, int act) {
  ActArgs a{pre, nullptr, y, nullptr, nullptr, nullptr, rows, n, act};
  Job<ActArgs> job{a, rows, parts_for(rows, rows * n * (act == kRelu ? 1 : 8), 1 << 16)};
  run_job(job, act_fwd_part);
}

void activation_grad(const float* dy, const float* pre, float* dpre, float* dbias, long rows, long n, int act) {
  const int parts = parts_for(rows, rows * n * (act == kRelu || act == kLinear ? 1 : 8), 1 << 16);
  double* partial = nullptr;
  float* block = nullptr;
  if (dbias != nullptr) {
    partial = static_cast<double*>(std::calloc(static_cast<size_t>(parts) * n, sizeof(double)));
    block = static_cast<float*>(std::calloc(static_cast<size_t>(parts) * n, sizeof(float)));
    if (partial == nullptr || block == nullptr) {
      std::free(partial);
      std::free(block);
      return;
    }
  }
  ActArgs a{pre, dy, nullptr, dpre, partial, block, rows, n, act};
  Job<ActArgs> job{a, rows, parts};
  run_job(job, act_bwd_part);
  if (partial != nullptr) {
    for (long c = 0; c < n; ++c) {
      double s = 0;
      for (int p = 0; p < parts; ++p) s += partial[static_cast<long>(p) * n + c];
      dbias[c] = static_cast<float>(s);
    }
    std::free(partial);
    std::free(block);
  }
}

void label_log_probs(const float* logits, const int32_t* labels, float* out, float* lse, long rows, long v) {
  CeArgs a{logits, nullptr, nullptr, labels, out, lse, nullptr, rows, v};
  Job<CeArgs> job{a, rows, parts_for(rows, rows * v * 4, 1 << 16)};
  run_job(job, ce_fwd_part);
}

void label_log_probs_grad(const float* dy, const float* logits, const int32_t* labels, const float* lse,
                          float* dlogits, long rows, long v) {
  CeArgs a{logits, dy, lse, labels, nullptr, nullptr, dlogits, rows, v};
  Job<CeArgs> job{a, rows, parts_for(rows, rows * v * 4, 1 << 16)};
  run_job(job, ce_bwd_part);
}

void adamw(const AdamWItem* items, long count) {
  long* starts = static_cast<long*>(std::malloc((count + 1) * sizeof(long)));
  if (starts == nullptr) return;
  long total = 0;
  for (long k = 0; k < count; ++k) {
    starts[k] = total;
    total += items[k].n;
  }
  starts[count] = total;
  AdamWArgs a{items, count, starts};
  // Whole blocks of 64 elements per part keep the vector loop on full lanes away from item ends.
  Job<AdamWArgs> job{a, total, parts_for(total / 64 + 1, total * 4, 1 << 16)};
  run_job(job, adamw_part);
  std::free(starts);
}

void segment_sum(const float* x, const int32_t* ids, float* out, long n, long inner, long segments) {
  SegArgs a{x, ids, out, n, inner, segments};
  Job<SegArgs> job{a, segments, parts_for(segments, (n + segments) * inner, 1 << 16)};
  run_job(job, seg_part);
}

}  // namespace ops
}  // namespace rlhfkit
#pragma GCC pop_options

#else  // not x86: the fused kernels are not built (the native path is off without AVX2 anyway)

namespace rlhfkit {
namespace ops {

bool supported() { return false; }
void layer_norm(const float*, const float*, const float*, float*, float*, float*, long, long, float) {}
void layer_norm_serial(const float*, const float*, const float*, float*, float*, float*, long, long, float) {}
void layer_norm_grad(const float*, const float*, const float*, const float*, const float*, float*, float*, float*, long,
                     long) {}
void rms_norm(const float*, const float*, float*, float*, long, long, float) {}
void rms_norm_grad(const float*, const float*, const float*, const float*, float*, float*, long, long) {}
void activation(const float*, float*, long, long, int) {}
void activation_grad(const float*, const float*, float*, float*, long, long, int) {}
void label_log_probs(const float*, const int32_t*, float*, float*, long, long) {}
void label_log_probs_grad(const float*, const float*, const int32_t*, const float*, float*, long, long) {}
void adamw(const AdamWItem*, long) {}
void segment_sum(const float*, const int32_t*, float*, long, long, long) {}
}  // namespace ops
}  // namespace rlhfkit

#endif
