// rlhfkit native kernels: per-operation call, time and flop counters for the benchmark's profile.
#include <chrono>
#include <cstring>
#include <ctime>

#include "gemm.h"

namespace rlhfkit {
namespace stats {
namespace {

constexpr int kMax = 64;
Entry g_entries[kMax];
int g_count = 0;

}  // namespace

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

uint64_t thread_cpu_ns() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
#endif
  return 0;
}

// Called with native_mutex() held (every addon entry point takes it), so no further locking.
void record(const char* name, uint64_t ns, uint64_t cpu_ns, double flops) {
  for (int i = 0; i < g_count; ++i) {
    if (g_entries[i].name == name || std::strcmp(g_entries[i].name, name) == 0) {
      g_entries[i].calls += 1;
      g_entries[i].ns += ns;
      g_entries[i].cpu_ns += cpu_ns;
      g_entries[i].flops += flops;
      return;
    }
  }
  if (g_count < kMax) g_entries[g_count++] = Entry{name, 1, ns, cpu_ns, flops};
}

int snapshot(Entry* out, int cap) {
  for (int i = 0; i < g_count && i < cap; ++i) out[i] = g_entries[i];
  return g_count;
}

void reset() { g_count = 0; }

}  // namespace stats
}  // namespace rlhfkit
