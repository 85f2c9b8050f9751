// rlhfkit native kernels: multi-head attention for training shapes: the products on the sgemm, softmax in between.
#include "attention.h"

#include <cstdlib>

#include "gemm.h"
#include "parallel.h"

namespace rlhfkit {
namespace attn {
namespace {

struct SoftmaxArgs {
  float* p;       // [rows, s], in place
  const float* dp;  // backward: dP [rows, s] (dS written over it)
  float* ds;
  const float* bias;
  long bias_batch, heads, t, s;
  float divisor;
};

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
}  // namespace
}  // namespace attn
}  // namespace rlhfkit
#include "simd.h"
namespace rlhfkit {
namespace attn {
namespace {
#endif

/** probs row = softmax(row / divisor + bias row), in place (the division as tfjs's tf.div does it). */
void softmax_part(int part, void* ctx) {
  auto* j = static_cast<Job<SoftmaxArgs>*>(ctx);
  const SoftmaxArgs& a = j->args;
  const long s = a.s;
  for (long r = j->begin(part); r < j->end(part); ++r) {
    float* x = a.p + r * s;
    const long i = r % a.t;
    const long bi = r / (a.t * a.heads);
    const float* brow = a.bias != nullptr ? a.bias + ((a.bias_batch == 1 ? 0 : bi) * a.t + i) * s : nullptr;
    if (a.divisor != 1.0f || brow != nullptr) {
      for (long c = 0; c < s; ++c) {
        float v = a.divisor != 1.0f ? x[c] / a.divisor : x[c];
        x[c] = brow != nullptr ? v + brow[c] : v;
      }
    }
#if defined(__x86_64__) || defined(__i386__)
    const float m = hmax(x, s);
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    long c = 0;
    for (; c + 8 <= s; c += 8) {
      const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm));
      _mm256_storeu_ps(x + c, e);
      acc = _mm256_add_ps(acc, e);
    }
    float sum = reduce_add(acc);
    for (; c < s; ++c) {
      x[c] = __builtin_expf(x[c] - m);
      sum += x[c];
    }
#else
    float m = x[0], sum = 0.0f;
    for (long c = 1; c < s; ++c) m = x[c] > m ? x[c] : m;
    for (long c = 0; c < s; ++c) {
      x[c] = __builtin_expf(x[c] - m);
      sum += x[c];
    }
#endif
    const float rs = 1.0f / sum;
    for (long c2 = 0; c2 < s; ++c2) x[c2] *= rs;
  }
}

/** dS = P ⊙ (dP - Σ_c P·dP) / divisor, written over dP. */
void softmax_grad_part(int part, void* ctx) {
  auto* j = static_cast<Job<SoftmaxArgs>*>(ctx);
  const SoftmaxArgs& a = j->args;
  for (long r = j->begin(part); r < j->end(part); ++r) {
    const float* p = a.p + r * a.s;
    float* d = a.ds + r * a.s;
    float dot = 0.0f;
    for (long c = 0; c < a.s; ++c) dot += p[c] * d[c];
    for (long c = 0; c < a.s; ++c) {
      const float g = p[c] * (d[c] - dot);
      d[c] = a.divisor != 1.0f ? g / a.divisor : g;
    }
  }
}

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC pop_options
#endif

/** The attention's products, counted apart in the profile (stats: gemm.attention). */
bool run_products(const KernelSet& ks, GemmProblem* ps, long count) {
  double flops = 0;
  for (long i = 0; i < count; ++i) flops += 2.0 * ps[i].m * ps[i].n * ps[i].k;
  stats::Scope scope("gemm.attention", flops);
  return gemm_batch_locked(ks, ps, count, active_threads());
}

inline GemmProblem problem(const float* a, long rsa, long csa, const float* b, long rsb, long csb, float* c, long ldc,
                           long m, long n, long k) {
  return GemmProblem{a, rsa, csa, b, rsb, csb, c, ldc, nullptr, false, m, n, k};
}

}  // namespace

bool forward(const float* q, long ldq, const float* k, long ldk, const float* v, long ldv, const float* bias,
             long bias_batch, float* out, float* probs, long b, long t, long heads, long hd, float divisor) {
  return forward_gqa(q, ldq, k, ldk, v, ldv, bias, bias_batch, out, probs, b, t, heads, heads, hd, divisor);
}

bool forward_gqa(const float* q, long ldq, const float* k, long ldk, const float* v, long ldv, const float* bias,
                 long bias_batch, float* out, float* probs, long b, long t, long heads, long kv_heads, long hd, float divisor) {
  const long s = t, d = heads * hd, count = b * heads, group = heads / kv_heads;
  GemmProblem* ps = static_cast<GemmProblem*>(std::malloc(sizeof(GemmProblem) * count));
  if (ps == nullptr) return false;
  const KernelSet& ks = active_kernels();
  for (long bi = 0; bi < b; ++bi) {
    for (long h = 0; h < heads; ++h) {
      // scores = q_bh · k_bjᵀ (j = h / group): kᵀ read with row stride 1 and column stride ldk
      ps[bi * heads + h] = problem(q + bi * t * ldq + h * hd, ldq, 1, k + bi * t * ldk + (h / group) * hd, 1, ldk,
                                   probs + (bi * heads + h) * t * s, s, t, s, hd);
    }
  }
  bool ok = run_products(ks, ps, count);
  if (ok) {
    Job<SoftmaxArgs> job{SoftmaxArgs{probs, nullptr, nullptr, bias, bias_batch, heads, t, s, divisor}, count * t,
                         parts_for(count * t, count * t * s * 8, 1 << 15)};
    run_job(job, softmax_part);
    for (long bi = 0; bi < b; ++bi) {
      for (long h = 0; h < heads; ++h) {
        ps[bi * heads + h] = problem(probs + (bi * heads + h) * t * s, s, 1, v + bi * t * ldv + (h / group) * hd, ldv, 1,
                                     out + bi * t * d + h * hd, d, t, hd, s);
      }
    }
    ok = run_products(ks, ps, count);
  }
  std::free(ps);
  return ok;
}

bool backward(const float* dout, const float* q, long ldq, const float* k, long ldk, const float* v, long ldv,
              const float* probs, float* dq, float* dk, float* dv, long b, long t, long heads, long hd, float divisor) {
  return backward_gqa(dout, q, ldq, k, ldk, v, ldv, probs, dq, dk, dv, b, t, heads, heads, hd, divisor);
}

bool backward_gqa(const float* dout, const float* q, long ldq, const float* k, long ldk, const float* v, long ldv,
                  const float* probs, float* dq, float* dk, float* dv, long b, long t, long heads, long kv_heads, long hd,
                  float divisor) {
  const long s = t, d = heads * hd, count = b * heads, group = heads / kv_heads, kvd = kv_heads * hd;
  GemmProblem* ps = static_cast<GemmProblem*>(std::malloc(sizeof(GemmProblem) * 2 * count));
  float* dp = static_cast<float*>(std::malloc(sizeof(float) * count * t * s));
  // With groups, every query head's share of dk and dv lands in its own columns first ([b*t, heads*hd]), then each
  // kv head sums its group's.
  float* per_head = group > 1 ? static_cast<float*>(std::malloc(sizeof(float) * 2 * b * t * d)) : nullptr;
  bool ok = ps != nullptr && dp != nullptr && (group == 1 || per_head != nullptr);
  float* dk_h = group > 1 ? per_head : dk;
  float* dv_h = group > 1 ? per_head + b * t * d : dv;
  const KernelSet& ks = active_kernels();
  if (ok) {
    for (long bi = 0; bi < b; ++bi) {
      for (long h = 0; h < heads; ++h) {
        const long i = bi * heads + h;
        const float* p = probs + i * t * s;
        const float* go = dout + bi * t * d + h * hd;
        // dv = pᵀ · dout;  dP = dout · vᵀ
        ps[2 * i] = problem(p, 1, s, go, d, 1, dv_h + bi * t * d + h * hd, d, s, hd, t);
        ps[2 * i + 1] = problem(go, d, 1, v + bi * t * ldv + (h / group) * hd, 1, ldv, dp + i * t * s, s, t, s, hd);
      }
    }
    ok = run_products(ks, ps, 2 * count);
  }
  if (ok) {
    Job<SoftmaxArgs> job{SoftmaxArgs{const_cast<float*>(probs), nullptr, dp, nullptr, 1, heads, t, s, divisor},
                         count * t, parts_for(count * t, count * t * s * 2, 1 << 15)};
    run_job(job, softmax_grad_part);
    for (long bi = 0; bi < b; ++bi) {
      for (long h = 0; h < heads; ++h) {
        const long i = bi * heads + h;
        const float* g = dp + i * t * s;
        // dq = dS · k;  dk = dSᵀ · q
        ps[2 * i] = problem(g, s, 1, k + bi * t * ldk + (h / group) * hd, ldk, 1, dq + bi * t * d + h * hd, d, t, hd, s);
        ps[2 * i + 1] = problem(g, 1, s, q + bi * t * ldq + h * hd, ldq, 1, dk_h + bi * t * d + h * hd, d, s, hd, t);
      }
    }
    ok = run_products(ks, ps, 2 * count);
  }
  if (ok && group > 1) {
    for (long r = 0; r < b * t; ++r) {
      for (long j = 0; j < kv_heads; ++j) {
        for (long c = 0; c < hd; ++c) {
          float sk = 0.0f, sv = 0.0f;
          for (long g = 0; g < group; ++g) {
            sk += dk_h[r * d + (j * group + g) * hd + c];
            sv += dv_h[r * d + (j * group + g) * hd + c];
          }
          dk[r * kvd + j * hd + c] = sk;
          dv[r * kvd + j * hd + c] = sv;
        }
      }
    }
  }
  std::free(ps);
  std::free(dp);
  std::free(per_head);
  return ok;
}

}  // namespace attn
}  // namespace rlhfkit
