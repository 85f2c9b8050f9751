// rlhfkit native kernels: splitting a row loop across the sgemm's worker pool.
#pragma once
#include <atomic>
#include <thread>

#include "gemm.h"

namespace rlhfkit {

/** `args` and [0, n) split into `parts` contiguous ranges, one per pool thread. */
template <typename T>
struct Job {
  T args;
  long n;
  int parts;
  long begin(int p) const { return n * p / parts; }
  long end(int p) const { return n * (p + 1) / parts; }
};

/**
 * How many parts (threads) a loop over `items` independent items doing `work` elementary steps deserves: the
 * active thread count, no more than the items, and none that would get less than `min_work` steps (waking a
 * parked worker costs a few microseconds).
 */
inline int parts_for(long items, long work, long min_work) {
  long p = active_threads();
  if (p > items) p = items;
  const long by_work = work / (min_work > 0 ? min_work : 1);
  if (p > by_work) p = by_work;
  return p < 1 ? 1 : static_cast<int>(p);
}

/** Runs fn(part, &job) for every part on the pool (part 0 on the calling thread); returns when all are done. */
template <typename T>
void run_job(Job<T>& job, void (*fn)(int, void*)) {
  pool::run(job.parts, fn, &job);
}

/** All threads of one pool job meet here; spins briefly (the others are running the same job), then yields. */
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    if (n_ <= 1) return;
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (long spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

}  // namespace rlhfkit
