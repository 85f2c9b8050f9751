// rlhfkit native sgemm: shared declarations of the micro-kernels, the blocked driver and the thread pool.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace rlhfkit {

// Micro-kernel flags: add the tile to what C holds, and clamp at zero after the bias.
constexpr int kAccumulate = 1;
constexpr int kRelu = 2;

/**
 * C[MR x NR] (row stride ldc) = [C +] Ap · Bp [+ bias] [relu], where Ap is kc steps of MR floats (one
 * column of the A tile each) and Bp kc rows of NR floats, ldb apart (NR when packed, B's row stride when
 * B is read in place). bias (NR floats) and relu are only passed on the last k block.
 */
using MicroKernel = void (*)(long kc, const float* ap, const float* bp, long ldb, float* c, long ldc, int flags,
                             const float* bias);

/** One instruction set's micro-kernels and the block sizes tuned for it. */
struct KernelSet {
  const char* name;
  int mr, nr;      // register tile
  int mc, kc, nc;  // cache blocks (mc a multiple of mr, nc of nr)
  MicroKernel rows[17];  // rows[r]: a tile of r <= mr rows (A still packed mr wide); rows[mr] is the main one
};

/** The kernel sets this binary holds, best first; `supported` says whether this CPU (and OS) can run each. */
struct KernelChoice {
  const KernelSet* set;
  bool supported;
};
int kernel_sets(KernelChoice* out, int cap);

/**
 * One matrix product, row-major with free strides: A(i,p) = a[i*rsa + p*csa], B(p,j) = b[p*rsb + j*csb],
 * C(i,j) = c[i*ldc + j]. bias: n floats or null.
 */
struct GemmProblem {
  const float* a; long rsa, csa;
  const float* b; long rsb, csb;
  float* c; long ldc;
  const float* bias;
  bool relu;
  long m, n, k;
  /** When set, B is bfloat16 (frozen weights held at half size) read with b's strides, widened as it is packed. */
  const uint16_t* b16 = nullptr;
};

/**
 * Runs `count` problems with the kernel set `ks` on up to `threads` threads (the caller's thread included).
 * Returns false, with nothing computed, when its packing buffers could not be allocated.
 */
bool gemm_batch(const KernelSet& ks, const GemmProblem* problems, long count, int threads);

/**
 * Whether `candidate` computes what `reference` does (relative 1e-5) on products crossing every blocking edge; the
 * AVX-512 set checks itself against AVX2 this way before 'auto' picks it. Call with native_mutex() held.
 */
bool kernels_agree(const KernelSet& candidate, const KernelSet& reference);

/** gemm_batch without taking the process-wide lock: for callers that already hold native_mutex(). */
bool gemm_batch_locked(const KernelSet& ks, const GemmProblem* problems, long count, int threads);

/** One native call at a time per process: the packing scratch and the pool are shared. */
std::mutex& native_mutex();

/** The kernel set and thread count the addon runs with now (set by setKernel / setThreads). */
const KernelSet& active_kernels();
int active_threads();

// Per-operation counters, read by `stats()` (the benchmark's profile): calls, nanoseconds, floating-point ops.
namespace stats {
void record(const char* name, uint64_t ns, uint64_t cpu_ns, double flops);
uint64_t now_ns();
/** CPU time of the calling thread (workers' time is not in it: with one thread it is the operation's CPU time). */
uint64_t thread_cpu_ns();
/** Records from construction to destruction under `name`. */
struct Scope {
  const char* name;
  double flops;
  uint64_t t0, c0;
  Scope(const char* n, double f) : name(n), flops(f), t0(now_ns()), c0(thread_cpu_ns()) {}
  ~Scope() { record(name, now_ns() - t0, thread_cpu_ns() - c0, flops); }
};
struct Entry {
  const char* name;
  uint64_t calls, ns, cpu_ns;
  double flops;
};
/** Copies up to cap entries into out; returns how many there are. */
int snapshot(Entry* out, int cap);
void reset();
}  // namespace stats

/** C [m, n] = op(A) · op(B) [+ bias] [relu] as one problem; A is stored [m, k] ([k, m] when ta), B [k, n] ([n, k] when tb). */
inline GemmProblem block_product(const float* a, bool ta, long m, long k, const float* b, bool tb, long n, float* c,
                                 const float* bias = nullptr, bool relu = false) {
  GemmProblem g{};
  g.a = a;
  g.rsa = ta ? 1 : k;
  g.csa = ta ? m : 1;
  g.b = b;
  g.rsb = tb ? 1 : n;
  g.csb = tb ? k : 1;
  g.c = c;
  g.ldc = n;
  g.bias = bias;
  g.relu = relu;
  g.m = m;
  g.n = n;
  g.k = k;
  return g;
}

/** A fused block's products in one batch (the caller holds native_mutex()), counted together in the profile as gemm.blocks. */
inline bool run_block_products(GemmProblem* ps, long count) {
  double flops = 0;
  for (long i = 0; i < count; ++i) flops += 2.0 * ps[i].m * ps[i].n * ps[i].k;
  stats::Scope scope("gemm.blocks", flops);
  return gemm_batch_locked(active_kernels(), ps, count, active_threads());
}

// The worker pool: threads beyond the caller's, created on demand, parked on a condition variable.
namespace pool {
/** Runs fn(tid) for tid in [0, n) with tid 0 on the calling thread; returns when all are done. */
void run(int n, void (*fn)(int tid, void* ctx), void* ctx);
/**
 * Like run, but workers only help: fn must share its work out dynamically (a counter every part claims from),
 * so that the caller, running fn(0) to the end, finishes whatever no worker took. Returns once the caller is done
 * and every worker that joined has left; a worker that wakes after that skips the job.
 */
void run_elastic(int n, void (*fn)(int tid, void* ctx), void* ctx);
/** How many hardware threads this process may use (affinity mask aware). */
int hardware_threads();
}  // namespace pool

}  // namespace rlhfkit
