// rlhfkit native kernels: AVX2 vector maths (exp, erf, tanh, sigmoid, activations, reductions); include inside an AVX2 target region.
#pragma once
#include <immintrin.h>

#include "ops.h"

namespace rlhfkit {
namespace {

inline float reduce_add(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

inline float reduce_max(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

/** Sum of n floats, 8 lanes at a time. */
inline float hsum(const float* x, long n) {
  __m256 acc = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
  float s = reduce_add(acc);
  for (; i < n; ++i) s += x[i];
  return s;
}

/** Largest of n floats (n >= 1). */
inline float hmax(const float* x, long n) {
  __m256 acc = _mm256_set1_ps(x[0]);
  long i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_max_ps(acc, _mm256_loadu_ps(x + i));
  float m = reduce_max(acc);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

/**
 * e^x for 8 lanes, Cephes' expf: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-7 polynomial, then 2^n by the
 * exponent bits; within 2 ulp of the exact value. Below -87.34 (where float32 results turn subnormal) it gives 0,
 * above 88.72 +inf; NaN stays NaN.
 */
inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
  const __m256 xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));  // NaN passes: min/max return the second operand on NaN
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i n = _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127));
  __m256 res = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(n, 23)));
  res = _mm256_blendv_ps(res, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  res = _mm256_blendv_ps(res, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, _mm256_set1_ps(88.7228f), _CMP_GT_OQ));
  return res;
}

/** Sum of e^(x[i] - m) over n floats. */
inline float sum_exp(const float* x, long n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  long i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
  if (i < n) {
    float tail[8];
    for (int j = 0; j < 8; ++j) tail[j] = i + j < n ? x[i + j] : -__builtin_inff();
    acc = _mm256_add_ps(acc, exp256(_mm256_sub_ps(_mm256_loadu_ps(tail), vm)));
  }
  return reduce_add(acc);
}

/** erf for 8 lanes: a rational approximation on [-4, 4] (Eigen's generic_fast_erf_float), ±1 beyond. */
inline __m256 erf256(__m256 x) {
  const __m256 xc = _mm256_max_ps(_mm256_set1_ps(-4.0f), _mm256_min_ps(_mm256_set1_ps(4.0f), x));  // NaN passes
  const __m256 x2 = _mm256_mul_ps(xc, xc);
  __m256 p = _mm256_set1_ps(-2.72614225801306e-10f);
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(2.77068142495902e-08f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
  p = _mm256_mul_ps(xc, p);
  __m256 q = _mm256_set1_ps(-1.45660718464996e-05f);
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-2.13374055278905e-04f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
  return _mm256_div_ps(p, q);
}

/**
 * tanh for 8 lanes: below |x| = 0.5 a rational approximation (Eigen's ptanh_float, within 2.5e-7 relative), above
 * it (1 - e) / (1 + e) with e = exp(-2|x|) and the sign restored (within 1e-7 absolute).
 */
inline __m256 tanh256(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 ax = _mm256_andnot_ps(sign, x);
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-2.76076847742355e-16f);
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(2.00018790482477e-13f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-8.60467152213735e-11f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(5.12229709037114e-08f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(1.48572235717979e-05f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(6.37261928875436e-04f));
  p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(4.89352455891786e-03f));
  p = _mm256_mul_ps(x, p);
  __m256 q = _mm256_set1_ps(1.19825839466702e-06f);
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(1.18534705686654e-04f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(2.26843463243900e-03f));
  q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(4.89352518554385e-03f));
  const __m256 small = _mm256_div_ps(p, q);
  const __m256 e = exp256(_mm256_mul_ps(ax, _mm256_set1_ps(-2.0f)));
  const __m256 large = _mm256_or_ps(_mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)), _mm256_and_ps(x, sign));
  return _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.5f), _CMP_LT_OQ));
}

/** 1 / (1 + e^-x) for 8 lanes. */
inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// ---- activations by ops::Act kind (ops.h): value and slope ----------------------------------------------------

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluC = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

/** act(x) for 8 lanes. */
inline __m256 act_value(__m256 x, int act) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  switch (act) {
    case ops::kRelu:
      return _mm256_and_ps(x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
    case ops::kGeluErf:
      return _mm256_mul_ps(_mm256_mul_ps(x, half), _mm256_add_ps(erf256(_mm256_mul_ps(x, _mm256_set1_ps(kInvSqrt2))), one));
    case ops::kGeluTanh: {
      const __m256 inner = _mm256_mul_ps(
          _mm256_add_ps(x, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(x, x), x), _mm256_set1_ps(kGeluC))),
          _mm256_set1_ps(kSqrt2OverPi));
      return _mm256_mul_ps(_mm256_mul_ps(x, half), _mm256_add_ps(tanh256(inner), one));
    }
    case ops::kSilu:
      return _mm256_mul_ps(x, sigmoid256(x));
    case ops::kQuickGelu:
      return _mm256_mul_ps(x, sigmoid256(_mm256_mul_ps(x, _mm256_set1_ps(1.702f))));
    default:
      return x;
  }
}

/** act'(x) for 8 lanes. */
inline __m256 act_slope(__m256 x, int act) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  switch (act) {
    case ops::kRelu:
      return _mm256_and_ps(one, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
    case ops::kGeluErf: {
      const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf256(_mm256_mul_ps(x, _mm256_set1_ps(kInvSqrt2)))));
      const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(kInvSqrt2Pi), exp256(_mm256_mul_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(-0.5f))));
      return _mm256_fmadd_ps(x, pdf, cdf);
    }
    case ops::kGeluTanh: {
      const __m256 x2 = _mm256_mul_ps(x, x);
      const __m256 inner = _mm256_mul_ps(_mm256_fmadd_ps(_mm256_mul_ps(x2, x), _mm256_set1_ps(kGeluC), x), _mm256_set1_ps(kSqrt2OverPi));
      const __m256 t = tanh256(inner);
      const __m256 du = _mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi), _mm256_fmadd_ps(_mm256_set1_ps(3.0f * kGeluC), x2, one));
      // 0.5 (1 + t) + 0.5 x (1 - t^2) du
      return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_fnmadd_ps(t, t, one)), du, _mm256_mul_ps(half, _mm256_add_ps(one, t)));
    }
    case ops::kSilu: {
      const __m256 s = sigmoid256(x);
      return _mm256_mul_ps(s, _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one));
    }
    case ops::kQuickGelu: {
      const __m256 k = _mm256_set1_ps(1.702f);
      const __m256 s = sigmoid256(_mm256_mul_ps(x, k));
      return _mm256_fmadd_ps(_mm256_mul_ps(x, k), _mm256_mul_ps(s, _mm256_sub_ps(one, s)), s);
    }
    default:
      return one;
  }
}

}  // namespace
}  // namespace rlhfkit
