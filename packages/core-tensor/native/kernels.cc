// rlhfkit native sgemm: the register-blocked micro-kernels, one template compiled per instruction set.
#include <cstring>

#include "gemm.h"

namespace rlhfkit {
namespace {

// GCC vector types: the same source becomes SSE2/NEON, AVX2+FMA or AVX-512 code depending on the
// target attribute of the function it is inlined into, so the ISA-specific part is only a wrapper.
typedef float v4f __attribute__((vector_size(16)));
#if defined(__x86_64__) || defined(__i386__)
typedef float v8f __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
#endif

template <typename V>
inline __attribute__((always_inline)) V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

template <typename V>
inline __attribute__((always_inline)) void store(float* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

/**
 * R rows by NV vectors of C kept in registers for the whole k loop; one broadcast of A times NV vectors of B
 * per row and step (the compiler contracts acc += a*b into FMA where the target has it). A is packed with a
 * stride of AS floats per step (the set's full tile height); R < AS serves the ragged bottom rows of C.
 */
template <typename V, int R, int NV, int AS>
inline __attribute__((always_inline)) void micro_kernel(long kc, const float* __restrict ap, const float* __restrict bp,
                                                        long ldb, float* __restrict c, long ldc, int flags,
                                                        const float* __restrict bias) {
  constexpr int L = sizeof(V) / sizeof(float);
  V acc[R][NV];
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
#pragma GCC unroll 2
  for (long p = 0; p < kc; ++p) {
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = load<V>(bp + j * L);
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i) {
      const float ai = ap[i];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] += ai * bv[j];
    }
    ap += AS;
    bp += ldb;
  }
  const V zero = V{};
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) {
      V v = acc[i][j];
      if (flags & kAccumulate) v += load<V>(row + j * L);
      if (bias != nullptr) v += load<V>(bias + j * L);
      if (flags & kRelu) v = v < zero ? zero : v;  // NaN stays NaN, as in tfjs's relu
      store<V>(row + j * L, v);
    }
  }
}

// One function per (instruction set, row count). The target attribute makes the inlined template body use
// that instruction set; the rest of the library is plain x86-64 (or whatever the compiler's default is).
#define RLHFKIT_KERNEL(NAME, TARGET, V, NV, AS)                                                               \
  template <int R>                                                                                            \
  TARGET void NAME(long kc, const float* ap, const float* bp, long ldb, float* c, long ldc, int flags,         \
                   const float* bias) {                                                                       \
    micro_kernel<V, R, NV, AS>(kc, ap, bp, ldb, c, ldc, flags, bias);                                         \
  }

#define RLHFKIT_NO_TARGET
RLHFKIT_KERNEL(ukr_generic, RLHFKIT_NO_TARGET, v4f, 2, 4)
#if defined(__x86_64__) || defined(__i386__)
RLHFKIT_KERNEL(ukr_avx2, __attribute__((target("avx2,fma"))), v8f, 2, 6)
RLHFKIT_KERNEL(ukr_avx512, __attribute__((target("avx512f"))), v16f, 2, 12)
#endif

/**
 * The AVX-512 tile shape (12 x 32) in plain loops: lets the packing and edge handling of that shape be checked
 * on machines without AVX-512. Slow; chosen only by name (specs).
 */
template <int R>
void ukr_reference_12x32(long kc, const float* ap, const float* bp, long ldb, float* c, long ldc, int flags,
                         const float* bias) {
  constexpr int NR = 32, AS = 12;
  float acc[R][NR] = {};
  for (long p = 0; p < kc; ++p)
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += ap[p * AS + i] * bp[p * ldb + j];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NR; ++j) {
      float v = acc[i][j];
      if (flags & kAccumulate) v += c[i * ldc + j];
      if (bias != nullptr) v += bias[j];
      if ((flags & kRelu) && v < 0.0f) v = 0.0f;
      c[i * ldc + j] = v;
    }
}
// Block sizes: an A block (mc x kc) fits in L2, a B panel (kc x nr) in L1, the B block (kc x nc) in L3.
// rows[r] computes r rows of a tile (rows[mr] is the full tile).
const KernelSet kGeneric = {"generic", 4, 8, 128, 256, 2048,
                            {nullptr, ukr_generic<1>, ukr_generic<2>, ukr_generic<3>, ukr_generic<4>}};
const KernelSet kReference12x32 = {
    "reference-12x32", 12, 32, 144, 256, 4096,
    {nullptr, ukr_reference_12x32<1>, ukr_reference_12x32<2>, ukr_reference_12x32<3>, ukr_reference_12x32<4>,
     ukr_reference_12x32<5>, ukr_reference_12x32<6>, ukr_reference_12x32<7>, ukr_reference_12x32<8>,
     ukr_reference_12x32<9>, ukr_reference_12x32<10>, ukr_reference_12x32<11>, ukr_reference_12x32<12>}};
#if defined(__x86_64__) || defined(__i386__)
const KernelSet kAvx2 = {"avx2+fma", 6, 16, 144, 256, 4096,
                         {nullptr, ukr_avx2<1>, ukr_avx2<2>, ukr_avx2<3>, ukr_avx2<4>, ukr_avx2<5>, ukr_avx2<6>}};
const KernelSet kAvx512 = {
    "avx512f", 12, 32, 144, 256, 4096,
    {nullptr, ukr_avx512<1>, ukr_avx512<2>, ukr_avx512<3>, ukr_avx512<4>, ukr_avx512<5>, ukr_avx512<6>,
     ukr_avx512<7>, ukr_avx512<8>, ukr_avx512<9>, ukr_avx512<10>, ukr_avx512<11>, ukr_avx512<12>}};
#endif

}  // namespace

int kernel_sets(KernelChoice* out, int cap) {
  int n = 0;
  auto add = [&](const KernelSet* s, bool ok) {
    if (n < cap) out[n++] = KernelChoice{s, ok};
  };
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0), not only CPUID.
  add(&kAvx512, __builtin_cpu_supports("avx512f"));
  add(&kAvx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
#endif
  add(&kGeneric, true);
  add(&kReference12x32, true);
  return n;
}

}  // namespace rlhfkit
