// rlhfkit native sgemm: a small worker pool that never keeps Node alive and never outlives a clean exit badly.
#if defined(__linux__)
#include <sched.h>
#endif

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "gemm.h"

namespace rlhfkit {
namespace pool {
namespace {

// Workers park on a condition variable between regions. The pool is allocated once and never freed, and its
// threads are detached: at process exit nothing joins or destroys them (a joinable std::thread destroyed by a
// static destructor would call std::terminate), and plain OS threads do not hold Node's event loop open.
struct Pool {
  std::mutex mu;
  std::condition_variable wake;
  uint64_t generation = 0;
  std::atomic<uint64_t> published{0};  // generation, readable without the lock (workers spin on it)
  int started = 0;
  void (*fn)(int, void*) = nullptr;
  void* ctx = nullptr;
  int n = 0;
  bool elastic = false;
  std::atomic<int> pending{0};
  std::mutex done_mu;
  std::condition_variable done;
  // Elastic jobs: workers join while `open_gen` is their job's generation (0: closed); the caller waits only for
  // those that joined (`active`).
  std::atomic<uint64_t> open_gen{0};
  std::atomic<int> active{0};
};

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// A worker that just finished spins this many pauses (tens of microseconds) for the next job before sleeping:
// decoding hands out a job every few tens of microseconds.
constexpr int kLinger = 2000;

Pool* the_pool() {
  static Pool* p = new Pool();
  return p;
}

void worker_main(Pool* p, int tid) {
  uint64_t seen = 0;
  for (;;) {
    void (*fn)(int, void*);
    void* ctx;
    int n;
    bool elastic;
    for (int i = 0; i < kLinger && p->published.load(std::memory_order_acquire) == seen; ++i) relax();
    {
      std::unique_lock<std::mutex> lk(p->mu);
      p->wake.wait(lk, [&] { return p->generation != seen; });
      seen = p->generation;
      fn = p->fn;
      ctx = p->ctx;
      n = p->n;
      elastic = p->elastic;
      if (elastic && tid < n) p->active.fetch_add(1, std::memory_order_acq_rel);
    }
    if (tid >= n) continue;
    if (elastic) {
      // A worker that woke for a job already finished must not touch its (gone) context.
      if (p->open_gen.load(std::memory_order_acquire) == seen) fn(tid, ctx);
      p->active.fetch_sub(1, std::memory_order_acq_rel);
      continue;
    }
    fn(tid, ctx);
    if (p->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(p->done_mu);
      p->done.notify_one();
    }
  }
}

/**
 * Starts workers until there are n - 1, publishes the job under the lock (a plain job counts its parts in `pending`,
 * an elastic one is open to joiners while `open_gen` names it) and wakes them.
 */
Pool* publish(int n, void (*fn)(int tid, void* ctx), void* ctx, bool elastic) {
  Pool* p = the_pool();
  {
    std::lock_guard<std::mutex> lk(p->mu);
    while (p->started < n - 1) {
      std::thread(worker_main, p, ++p->started).detach();
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->elastic = elastic;
    if (!elastic) p->pending.store(n - 1, std::memory_order_release);
    ++p->generation;
    if (elastic) p->open_gen.store(p->generation, std::memory_order_release);
    p->published.store(p->generation, std::memory_order_release);
  }
  p->wake.notify_all();
  return p;
}

}  // namespace

int hardware_threads() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? static_cast<int>(h) : 1;
}

void run(int n, void (*fn)(int tid, void* ctx), void* ctx) {
  if (n <= 1) {
    fn(0, ctx);
    return;
  }
  Pool* p = publish(n, fn, ctx, false);
  fn(0, ctx);
  // The other parts usually finish about when ours does: spin a little before sleeping.
  for (int i = 0; i < 20000 && p->pending.load(std::memory_order_acquire) > 0; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  std::unique_lock<std::mutex> lk(p->done_mu);
  p->done.wait(lk, [&] { return p->pending.load(std::memory_order_acquire) == 0; });
}

void run_elastic(int n, void (*fn)(int tid, void* ctx), void* ctx) {
  if (n <= 1) {
    fn(0, ctx);
    return;
  }
  Pool* p = publish(n, fn, ctx, true);
  fn(0, ctx);
  // Close the job to latecomers (they join under the lock, so none can slip in after this), then wait for the
  // workers that did join: a worker the OS has not scheduled yet never holds the caller up.
  {
    std::lock_guard<std::mutex> lk(p->mu);
    p->open_gen.store(0, std::memory_order_release);
  }
  for (long spins = 0; p->active.load(std::memory_order_acquire) > 0; ++spins) {
    if (spins < 100000) relax();
    else std::this_thread::yield();
  }
}

}  // namespace pool
}  // namespace rlhfkit
