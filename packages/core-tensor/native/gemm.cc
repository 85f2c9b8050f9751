// rlhfkit native sgemm: packing, cache blocking and the split of one product (or a batch) across threads.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>

#include "gemm.h"
#include "parallel.h"

namespace rlhfkit {
namespace {

inline long ceil_div(long a, long b) { return (a + b - 1) / b; }
inline long round_up(long a, long b) { return ceil_div(a, b) * b; }

/** Per-thread packing buffers, 64-byte aligned, kept between calls and grown on demand. */
struct Scratch {
  float* a = nullptr;    // mc x kc packed A block
  float* b = nullptr;    // kc x nc packed B block (shared by all threads when one product is split)
  float* tmp = nullptr;  // one mr x nr tile for edges
  size_t a_cap = 0, b_cap = 0, tmp_cap = 0;
};

bool ensure(float*& p, size_t& cap, size_t want) {
  if (want <= cap) return true;
  std::free(p);
  p = static_cast<float*>(std::aligned_alloc(64, round_up(static_cast<long>(want * sizeof(float)), 64)));
  cap = p != nullptr ? want : 0;
  return p != nullptr;
}

constexpr int kMaxThreads = 64;
Scratch g_scratch[kMaxThreads];

/** One full mr-row panel of a row-major A (columns contiguous): mr rows read side by side, one column per step. */
template <int MR>
void pack_a_rows(const float* base, long rsa, long kc, float* out) {
  const float* src[MR];
  for (int r = 0; r < MR; ++r) src[r] = base + r * rsa;
  for (long p = 0; p < kc; ++p) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) out[p * MR + r] = src[r][p];
  }
}

/** One full mr-row panel of a transposed A (rows contiguous): mr consecutive values from each of kc source rows. */
template <int MR>
void pack_a_cols(const float* base, long csa, long kc, float* out) {
  for (long p = 0; p < kc; ++p) std::memcpy(out + p * MR, base + p * csa, MR * sizeof(float));
}

/** Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into mr-row panels (kc columns of mr each), zero-padded. */
void pack_a(const GemmProblem& g, long i0, long mc, long p0, long kc, int mr, float* out) {
  if (g.csa != 1) {
    for (long ir = 0; ir < mc; ir += mr) {
      const long rows = std::min<long>(mr, mc - ir);
      const float* base = g.a + (i0 + ir) * g.rsa + p0 * g.csa;
      if (rows == mr && g.rsa == 1 && mr == 6) {
        pack_a_cols<6>(base, g.csa, kc, out);
      } else if (rows == mr && g.rsa == 1 && mr == 12) {
        pack_a_cols<12>(base, g.csa, kc, out);
      } else if (rows == mr && g.rsa == 1 && mr == 4) {
        pack_a_cols<4>(base, g.csa, kc, out);
      } else {
        for (long p = 0; p < kc; ++p) {
          float* dst = out + p * mr;
          for (long r = 0; r < rows; ++r) dst[r] = base[p * g.csa + r * g.rsa];
          for (long r = rows; r < mr; ++r) dst[r] = 0.0f;
        }
      }
      out += kc * mr;
    }
    return;
  }
  for (long ir = 0; ir < mc; ir += mr) {
    const long rows = std::min<long>(mr, mc - ir);
    const float* base = g.a + (i0 + ir) * g.rsa + p0;
    if (rows == mr && mr == 6) {
      pack_a_rows<6>(base, g.rsa, kc, out);
    } else if (rows == mr && mr == 12) {
      pack_a_rows<12>(base, g.rsa, kc, out);
    } else if (rows == mr && mr == 4) {
      pack_a_rows<4>(base, g.rsa, kc, out);
    } else {
      for (long r = 0; r < rows; ++r) {
        const float* src = base + r * g.rsa;
        for (long p = 0; p < kc; ++p) out[p * mr + r] = src[p];
      }
      for (long p = 0; p < kc; ++p) std::memset(out + p * mr + rows, 0, (mr - rows) * sizeof(float));
    }
    out += kc * mr;
  }
}

/** bfloat16 bits -> float32: the high half of the float's bits. */
inline float widen_bf16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/** pack_b for a bfloat16 B (g.b16): the same panels, each value widened to float32 as it is copied. */
void pack_b_bf16(const GemmProblem& g, long p0, long kc, long j0, long nc, long q0, long q1, int nr, float* out) {
  for (long q = q0; q < q1; ++q) {
    const long jr = q * nr;
    const long cols = std::min<long>(nr, nc - jr);
    const uint16_t* base = g.b16 + p0 * g.rsb + (j0 + jr) * g.csb;
    float* dst = out + q * kc * nr;
    if (cols < nr) {
      for (long p = 0; p < kc; ++p) std::memset(dst + p * nr + cols, 0, (nr - cols) * sizeof(float));
    }
    if (g.csb == 1) {
      for (long p = 0; p < kc; ++p) {
        const uint16_t* src = base + p * g.rsb;
        for (long c = 0; c < cols; ++c) dst[p * nr + c] = widen_bf16(src[c]);
      }
    } else {
      // Columns outer, as pack_b does, so a transposed B (rows contiguous) is read in order.
      for (long c = 0; c < cols; ++c) {
        const uint16_t* src = base + c * g.csb;
        for (long p = 0; p < kc; ++p) dst[p * nr + c] = widen_bf16(src[p * g.rsb]);
      }
    }
  }
}

/** Packs panels [q0, q1) of nr columns of op(B) rows [p0, p0+kc), starting at column j0, zero-padded. */
void pack_b(const GemmProblem& g, long p0, long kc, long j0, long nc, long q0, long q1, int nr, float* out) {
  if (g.b16 != nullptr) {
    pack_b_bf16(g, p0, kc, j0, nc, q0, q1, nr, out);
    return;
  }
  for (long q = q0; q < q1; ++q) {
    const long jr = q * nr;
    const long cols = std::min<long>(nr, nc - jr);
    const float* base = g.b + p0 * g.rsb + (j0 + jr) * g.csb;
    float* dst = out + q * kc * nr;
    if (g.csb == 1) {
      for (long p = 0; p < kc; ++p) {
        std::memcpy(dst + p * nr, base + p * g.rsb, cols * sizeof(float));
        if (cols < nr) std::memset(dst + p * nr + cols, 0, (nr - cols) * sizeof(float));
      }
    } else {
      if (cols < nr) {
        for (long p = 0; p < kc; ++p) std::memset(dst + p * nr + cols, 0, (nr - cols) * sizeof(float));
      }
      for (long c = 0; c < cols; ++c) {
        const float* src = base + c * g.csb;
        for (long p = 0; p < kc; ++p) dst[p * nr + c] = src[p * g.rsb];
      }
    }
  }
}

/** Adds (or writes) a computed edge tile into C, then bias and relu on the last k block. */
void merge_edge(const float* tile, int nr, float* c, long ldc, long rows, long cols, bool accumulate, const float* bias,
                bool relu) {
  for (long r = 0; r < rows; ++r) {
    float* dst = c + r * ldc;
    const float* src = tile + r * nr;
    for (long j = 0; j < cols; ++j) {
      float v = src[j];
      if (accumulate) v += dst[j];
      if (bias != nullptr) v += bias[j];
      if (relu && v < 0.0f) v = 0.0f;
      dst[j] = v;
    }
  }
}

/**
 * Part `tid` of one product split `nthreads` ways, packing A into this thread's buffers `s`. The k loop is
 * blocked by kc, n by nc; each (kc x nc) block of B is packed once, cooperatively, into `shared_b`; the
 * parts then split the block's rows (and, when rows are few, its column panels) into units of work that
 * each pack their own A block. B is read in place instead when rows are few and its columns contiguous.
 */
void gemm_part(const KernelSet& ks, const GemmProblem& g, int tid, int nthreads, SpinBarrier* barrier, float* shared_b,
               const Scratch& s) {
  const int mr = ks.mr, nr = ks.nr;
  const long m = g.m, n = g.n, k = g.k;
  const long mblocks_raw = ceil_div(m, ks.mc);
  const long mc = std::min<long>(ks.mc, round_up(ceil_div(m, mblocks_raw), mr));
  const long mblocks = ceil_div(m, mc);
  const bool direct_b = g.csb == 1 && g.b16 == nullptr && m <= 2 * mr;  // a bf16 B is always packed (widened)
  float* tmp = s.tmp;
  for (long jc = 0; jc < n; jc += ks.nc) {
    const long nc = std::min<long>(ks.nc, n - jc);
    const long panels = ceil_div(nc, nr);
    const long full_panels = nc / nr;
    long nsplit = 1;
    while (mblocks * nsplit < 2L * nthreads && nsplit < panels) ++nsplit;
    if (nthreads == 1) nsplit = 1;
    const long units = mblocks * nsplit;
    for (long pc = 0; pc < k; pc += ks.kc) {
      const long kc = std::min<long>(ks.kc, k - pc);
      const bool first = pc == 0;
      const bool last = pc + kc == k;
      // Which panels come from the packed buffer: all, or only the ragged last one when B is read in place.
      const long packed_from = direct_b ? full_panels : 0;
      if (packed_from < panels) {
        const long todo = panels - packed_from;
        const long q0 = packed_from + todo * tid / nthreads;
        const long q1 = packed_from + todo * (tid + 1) / nthreads;
        pack_b(g, pc, kc, jc, nc, q0, q1, nr, shared_b);
      }
      if (barrier != nullptr) barrier->wait();
      const long u0 = units * tid / nthreads;
      const long u1 = units * (tid + 1) / nthreads;
      long packed_block = -1;
      for (long u = u0; u < u1; ++u) {
        const long ib = u / nsplit;
        const long js = u % nsplit;
        const long i0 = ib * mc;
        const long rows_blk = std::min<long>(mc, m - i0);
        if (ib != packed_block) {
          pack_a(g, i0, rows_blk, pc, kc, mr, s.a);
          packed_block = ib;
        }
        const long qa = panels * js / nsplit;
        const long qb = panels * (js + 1) / nsplit;
        for (long q = qa; q < qb; ++q) {
          const long j = jc + q * nr;
          const long cols = std::min<long>(nr, n - j);
          const bool in_place = q < packed_from;
          const float* bp = in_place ? g.b + pc * g.rsb + j : shared_b + q * kc * nr;
          const long ldb = in_place ? g.rsb : nr;
          const float* bias = last && g.bias != nullptr ? g.bias + j : nullptr;
          for (long ir = 0; ir < rows_blk; ir += mr) {
            const long rows = std::min<long>(mr, rows_blk - ir);
            const float* ap = s.a + ir * kc;
            float* c = g.c + (i0 + ir) * g.ldc + j;
            if (cols == nr) {
              const int flags = (first ? 0 : kAccumulate) | (last && g.relu ? kRelu : 0);
              ks.rows[rows](kc, ap, bp, ldb, c, g.ldc, flags, bias);
            } else {
              ks.rows[rows](kc, ap, bp, ldb, tmp, nr, 0, nullptr);
              merge_edge(tmp, nr, c, g.ldc, rows, cols, !first, bias, last && g.relu);
            }
          }
        }
      }
      if (barrier != nullptr) barrier->wait();  // the next block overwrites the shared B buffer
    }
  }
}

/** C = bias (or 0), relu'd: what a product with k = 0 yields. */
void fill_empty_k(const GemmProblem& g) {
  for (long i = 0; i < g.m; ++i) {
    float* row = g.c + i * g.ldc;
    for (long j = 0; j < g.n; ++j) {
      const float v = g.bias != nullptr ? g.bias[j] : 0.0f;
      row[j] = g.relu && v < 0.0f ? 0.0f : v;
    }
  }
}

struct BatchJob {
  const KernelSet* ks;
  const GemmProblem* problems;
  long count;
  int nthreads;
  // Split mode: every thread works on problem `current` together, sharing one packed B.
  bool split;
  long current;
  SpinBarrier* barrier;
  float* shared_b;
};

void run_part(int tid, void* ctx) {
  BatchJob& job = *static_cast<BatchJob*>(ctx);
  if (job.split) {
    gemm_part(*job.ks, job.problems[job.current], tid, job.nthreads, job.barrier, job.shared_b, g_scratch[tid]);
    return;
  }
  // Whole problems per thread, each with its own B buffer.
  const long p0 = job.count * tid / job.nthreads;
  const long p1 = job.count * (tid + 1) / job.nthreads;
  for (long p = p0; p < p1; ++p) {
    const GemmProblem& g = job.problems[p];
    if (g.k == 0) fill_empty_k(g);
    else gemm_part(*job.ks, g, 0, 1, nullptr, g_scratch[tid].b, g_scratch[tid]);  // part 0 of 1, own buffers
  }
}

}  // namespace

std::mutex& native_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

bool gemm_batch(const KernelSet& ks, const GemmProblem* problems, long count, int threads) {
  std::lock_guard<std::mutex> lock(native_mutex());
  return gemm_batch_locked(ks, problems, count, threads);
}

bool gemm_batch_locked(const KernelSet& ks, const GemmProblem* problems, long count, int threads) {
  if (count <= 0) return true;
  double flops = 0;
  for (long i = 0; i < count; ++i) flops += 2.0 * problems[i].m * problems[i].n * problems[i].k;
  // Below ~0.5 MFLOP per thread the wake-up of another thread costs more than it saves.
  const int by_size = static_cast<int>(std::max(1.0, flops / 5e5));
  const int nthreads = std::max(1, std::min({threads, kMaxThreads, by_size}));
  // Whole problems per thread when there are enough of them; else split each problem across threads.
  const bool split = nthreads > 1 && count < 2L * nthreads;
  const int buffers = split ? 1 : nthreads;
  const size_t a_size = static_cast<size_t>(ks.mc) * ks.kc;
  const size_t b_size = static_cast<size_t>(ks.kc) * round_up(ks.nc, ks.nr);
  for (int t = 0; t < nthreads; ++t) {
    Scratch& s = g_scratch[t];
    if (!ensure(s.a, s.a_cap, a_size) || !ensure(s.tmp, s.tmp_cap, static_cast<size_t>(ks.mr) * ks.nr)) return false;
    if (t < buffers && !ensure(s.b, s.b_cap, b_size)) return false;
  }
  BatchJob job{&ks, problems, count, nthreads, split, 0, nullptr, g_scratch[0].b};
  if (!split) {
    pool::run(nthreads, run_part, &job);
    return true;
  }
  for (long i = 0; i < count; ++i) {
    if (problems[i].k == 0) {
      fill_empty_k(problems[i]);
      continue;
    }
    SpinBarrier barrier(nthreads);
    job.current = i;
    job.barrier = &barrier;
    pool::run(nthreads, run_part, &job);
  }
  return true;
}

namespace {

/** Deterministic values in [-1, 1) (an LCG), so both kernel sets see the same operands. */
void fill(float* p, long n, uint32_t seed) {
  for (long i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
}

}  // namespace

bool kernels_agree(const KernelSet& candidate, const KernelSet& reference) {
  // Products that cross every blocking edge: ragged rows and columns, k over one cache block, both transposes, a
  // single row, k = 1, bias and relu in the last pass.
  struct Case {
    long m, n, k;
    bool ta, tb, bias, relu;
  };
  const Case cases[] = {{37, 45, 300, false, false, true, false}, {1, 70, 33, false, true, false, false},
                        {29, 3, 17, true, false, true, true},     {13, 65, 1, true, true, false, false},
                        {150, 40, 20, false, false, false, true}, {8, 520, 64, false, true, true, false}};
  for (const Case& c : cases) {
    const long asz = c.m * c.k, bsz = c.k * c.n, csz = c.m * c.n;
    float* buf = static_cast<float*>(std::malloc(sizeof(float) * (asz + bsz + c.n + 2 * csz)));
    if (buf == nullptr) return false;
    float *a = buf, *b = a + asz, *bias = b + bsz, *c1 = bias + c.n, *c2 = c1 + csz;
    fill(a, asz, 1u + static_cast<uint32_t>(c.m));
    fill(b, bsz, 7u + static_cast<uint32_t>(c.n));
    fill(bias, c.n, 11u);
    GemmProblem g{a, c.ta ? 1 : c.k, c.ta ? c.m : 1, b, c.tb ? 1 : c.n, c.tb ? c.k : 1, c1, c.n,
                  c.bias ? bias : nullptr, c.relu, c.m, c.n, c.k};
    bool ok = gemm_batch_locked(candidate, &g, 1, 1);
    g.c = c2;
    ok = ok && gemm_batch_locked(reference, &g, 1, 1);
    double worst = 0, scale = 1;
    for (long i = 0; ok && i < csz; ++i) {
      const double d = c1[i] > c2[i] ? c1[i] - c2[i] : c2[i] - c1[i];
      if (!(d == d)) ok = false;  // NaN
      worst = d > worst ? d : worst;
      scale = c2[i] > scale ? c2[i] : -c2[i] > scale ? -c2[i] : scale;
    }
    std::free(buf);
    if (!ok || worst > 1e-5 * scale) return false;
  }
  return true;
}

}  // namespace rlhfkit
