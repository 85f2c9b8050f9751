// rlhfkit native sgemm: the Node-API surface (gemm on a Float32Array heap, kernel and thread settings, counters).
#include "napi-util.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gemm.h"

namespace rlhfkit {
namespace {

struct State {
  KernelChoice sets[8];
  int nsets = 0;
  const KernelSet* active = nullptr;
  int threads = 1;
};

const KernelSet* find_set(const char* name) {
  KernelChoice sets[8];
  const int n = kernel_sets(sets, 8);
  for (int i = 0; i < n; ++i) {
    if (sets[i].supported && std::strcmp(sets[i].set->name, name) == 0) return sets[i].set;
  }
  return nullptr;
}

/** Whether this CPU runs the AVX-512 set and it agrees with the AVX2 set here (checked once). */
bool avx512_verified() {
  static const bool ok = [] {
    const KernelSet* a = find_set("avx512f");
    const KernelSet* b = find_set("avx2+fma");
    if (a == nullptr || b == nullptr) return false;
    std::lock_guard<std::mutex> lock(native_mutex());
    return kernels_agree(*a, *b);
  }();
  return ok;
}

State& state() {
  static State* s = [] {
    State* st = new State();
    st->nsets = kernel_sets(st->sets, 8);
    for (int i = 0; i < st->nsets; ++i) {
      if (st->sets[i].supported && std::strcmp(st->sets[i].set->name, "avx512f") != 0) {
        st->active = st->sets[i].set;
        break;
      }
    }
    return st;
  }();
  return *s;
}

/** An optional Int32Array of per-batch operand indices (`present` false for null/undefined: 0, 1, 2, ...). */
bool get_index(napi_env env, napi_value v, bool* present, const int32_t** data, size_t* len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  *present = !(t == napi_null || t == napi_undefined);
  *data = nullptr;
  *len = 0;
  if (!*present) return true;
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != napi_int32_array || (p == nullptr && *len > 0)) return false;
  *data = static_cast<const int32_t*>(p);
  return true;
}

/**
 * gemm(heap, batch, m, n, k, transA, transB, aOff, aStride, bOff, bStride, cOff, biasOff, relu, aIndex, bIndex)
 * heap: a Float32Array over the whole wasm memory (ArrayBuffer or SharedArrayBuffer). Offsets and strides
 * count floats. Item i: C_i = op(A_{aIndex[i]}) · op(B_{bIndex[i]}) [+ bias] [relu], with
 * A_j at aOff + j*aStride, B_j at bOff + j*bStride, C_i at cOff + i*m*n; biasOff < 0 means no bias.
 */
napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc != 16) return throw_error(env, "expected 16 arguments, got " + std::to_string(argc));
  napi_typedarray_type type;
  size_t len = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, argv[0], &type, &len, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array) {
    return throw_error(env, "heap must be a Float32Array");
  }
  if (data == nullptr && len > 0) return throw_error(env, "the heap's data pointer is not available");
  int64_t v[16];
  const int ints[] = {1, 2, 3, 4, 7, 8, 9, 10, 11, 12};
  for (int i : ints) {
    if (!get_i64(env, argv[i], &v[i])) return throw_error(env, "argument " + std::to_string(i) + " must be an integer");
  }
  bool trans_a, trans_b, relu;
  if (!get_bool(env, argv[5], &trans_a) || !get_bool(env, argv[6], &trans_b) || !get_bool(env, argv[13], &relu)) {
    return throw_error(env, "transA, transB and relu must be booleans");
  }
  bool has_a_index, has_b_index;
  const int32_t* a_index;
  const int32_t* b_index;
  size_t a_len, b_len;
  if (!get_index(env, argv[14], &has_a_index, &a_index, &a_len) ||
      !get_index(env, argv[15], &has_b_index, &b_index, &b_len)) {
    return throw_error(env, "aIndex and bIndex must be Int32Arrays or null");
  }
  const int64_t batch = v[1], m = v[2], n = v[3], k = v[4];
  const int64_t a_off = v[7], a_stride = v[8], b_off = v[9], b_stride = v[10], c_off = v[11], bias_off = v[12];
  if (batch < 0 || m <= 0 || n <= 0 || k < 0) return throw_error(env, "bad sizes");
  if ((has_a_index && a_len < static_cast<size_t>(batch)) || (has_b_index && b_len < static_cast<size_t>(batch))) {
    return throw_error(env, "an index array is shorter than the batch");
  }
  const int64_t heap = static_cast<int64_t>(len);
  // Every operand is a dense block of rows*cols floats, whatever its transpose: check each lies in the heap.
  auto inside = [heap](int64_t off, int64_t size) { return off >= 0 && size >= 0 && off <= heap - size; };
  float* base = static_cast<float*>(data);
  std::vector<GemmProblem> problems(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t ai = has_a_index ? a_index[i] : i;
    const int64_t bi = has_b_index ? b_index[i] : i;
    const int64_t ao = a_off + ai * a_stride, bo = b_off + bi * b_stride, co = c_off + i * m * n;
    if (ai < 0 || bi < 0 || !inside(ao, m * k) || !inside(bo, k * n) || !inside(co, m * n) ||
        (bias_off >= 0 && !inside(bias_off, n))) {
      return throw_error(env, "batch item " + std::to_string(i) + " reaches outside the heap");
    }
    GemmProblem& g = problems[static_cast<size_t>(i)];
    g.a = base + ao;
    g.rsa = trans_a ? 1 : k;
    g.csa = trans_a ? m : 1;
    g.b = base + bo;
    g.rsb = trans_b ? 1 : n;
    g.csb = trans_b ? k : 1;
    g.c = base + co;
    g.ldc = n;
    g.bias = bias_off >= 0 ? base + bias_off : nullptr;
    g.relu = relu;
    g.m = m;
    g.n = n;
    g.k = k;
  }
  State& st = state();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("gemm", 2.0 * static_cast<double>(batch) * m * n * k);
  if (!gemm_batch_locked(*st.active, problems.data(), batch, st.threads)) {
    return throw_error(env, "out of memory for packing buffers");
  }
  return nullptr;
}

/** setThreads(n): threads for later calls, capped at the CPUs this process may use; returns the count used. */
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int64_t n;
  if (argc < 1 || !get_i64(env, argv[0], &n) || n < 1) return throw_error(env, "setThreads takes an integer >= 1");
  state().threads = static_cast<int>(std::min<int64_t>({n, pool::hardware_threads(), 64}));
  napi_value out;
  CHECK_NAPI(napi_create_int32(env, state().threads, &out));
  return out;
}

/**
 * Whether 'auto' may pick this set. The AVX-512 set first checks itself against the AVX2 set on this machine
 * (kernels_agree, once per process) and is passed over, for AVX2, if they disagree or RLHFKIT_NATIVE_AVX512=0;
 * naming a set (RLHFKIT_NATIVE_KERNEL=avx512f) always works.
 */
bool auto_may_pick(const KernelSet* set) {
  if (std::strcmp(set->name, "avx512f") != 0) return true;
  const char* opt = std::getenv("RLHFKIT_NATIVE_AVX512");
  if (opt != nullptr && std::strcmp(opt, "0") == 0) return false;
  return avx512_verified();
}

/** setKernel(name): 'auto' (the best verified set this CPU runs) or one kernel set's name; returns the active name. */
napi_value SetKernel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char name[64] = {0};
  size_t got = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &got) != napi_ok) {
    return throw_error(env, "setKernel takes a string");
  }
  State& st = state();
  const KernelSet* chosen = nullptr;
  for (int i = 0; i < st.nsets && chosen == nullptr; ++i) {
    const KernelChoice& c = st.sets[i];
    const bool is_auto = std::strcmp(name, "auto") == 0;
    if (c.supported && ((is_auto && auto_may_pick(c.set)) || std::strcmp(name, c.set->name) == 0)) chosen = c.set;
  }
  if (chosen == nullptr) return throw_error(env, std::string("kernel '") + name + "' is unknown or unsupported here");
  st.active = chosen;
  napi_value out;
  CHECK_NAPI(napi_create_string_utf8(env, chosen->name, NAPI_AUTO_LENGTH, &out));
  return out;
}

/** info(): { kernel, threads, hardwareThreads, kernels: [{ name, supported, mr, nr }] }. */
napi_value Info(napi_env env, napi_callback_info) {
  State& st = state();
  napi_value out, list, v;
  CHECK_NAPI(napi_create_object(env, &out));
  CHECK_NAPI(napi_create_string_utf8(env, st.active->name, NAPI_AUTO_LENGTH, &v));
  CHECK_NAPI(napi_set_named_property(env, out, "kernel", v));
  CHECK_NAPI(napi_create_int32(env, st.threads, &v));
  CHECK_NAPI(napi_set_named_property(env, out, "threads", v));
  CHECK_NAPI(napi_create_int32(env, pool::hardware_threads(), &v));
  CHECK_NAPI(napi_set_named_property(env, out, "hardwareThreads", v));
  CHECK_NAPI(napi_create_array_with_length(env, st.nsets, &list));
  for (int i = 0; i < st.nsets; ++i) {
    napi_value e;
    CHECK_NAPI(napi_create_object(env, &e));
    CHECK_NAPI(napi_create_string_utf8(env, st.sets[i].set->name, NAPI_AUTO_LENGTH, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "name", v));
    CHECK_NAPI(napi_get_boolean(env, st.sets[i].supported, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "supported", v));
    CHECK_NAPI(napi_create_int32(env, st.sets[i].set->mr, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "mr", v));
    CHECK_NAPI(napi_create_int32(env, st.sets[i].set->nr, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "nr", v));
    const bool is512 = std::strcmp(st.sets[i].set->name, "avx512f") == 0;
    CHECK_NAPI(napi_get_boolean(env, st.sets[i].supported && (!is512 || avx512_verified()), &v));
    CHECK_NAPI(napi_set_named_property(env, e, "verified", v));
    CHECK_NAPI(napi_set_element(env, list, i, e));
  }
  CHECK_NAPI(napi_set_named_property(env, out, "kernels", list));
  return out;
}

/** stats(): [{ name, calls, ms, cpuMs (the calling thread's), gflop }] of every native operation since resetStats(). */
napi_value Stats(napi_env env, napi_callback_info) {
  stats::Entry entries[64];
  int n;
  {
    std::lock_guard<std::mutex> lock(native_mutex());
    n = std::min(stats::snapshot(entries, 64), 64);
  }
  napi_value list, e, v;
  CHECK_NAPI(napi_create_array_with_length(env, n, &list));
  for (int i = 0; i < n; ++i) {
    CHECK_NAPI(napi_create_object(env, &e));
    CHECK_NAPI(napi_create_string_utf8(env, entries[i].name, NAPI_AUTO_LENGTH, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "name", v));
    CHECK_NAPI(napi_create_double(env, static_cast<double>(entries[i].calls), &v));
    CHECK_NAPI(napi_set_named_property(env, e, "calls", v));
    CHECK_NAPI(napi_create_double(env, static_cast<double>(entries[i].ns) / 1e6, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "ms", v));
    CHECK_NAPI(napi_create_double(env, static_cast<double>(entries[i].cpu_ns) / 1e6, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "cpuMs", v));
    CHECK_NAPI(napi_create_double(env, entries[i].flops / 1e9, &v));
    CHECK_NAPI(napi_set_named_property(env, e, "gflop", v));
    CHECK_NAPI(napi_set_element(env, list, i, e));
  }
  return list;
}

/** checkKernels(candidate, reference): kernels_agree on two kernel sets this CPU runs, by name (specs). */
napi_value CheckKernels(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char a[64] = {0}, b[64] = {0};
  size_t got = 0;
  if (argc != 2 || napi_get_value_string_utf8(env, argv[0], a, sizeof(a), &got) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], b, sizeof(b), &got) != napi_ok) {
    return throw_error(env, "checkKernels takes two kernel set names");
  }
  const KernelSet* ka = find_set(a);
  const KernelSet* kb = find_set(b);
  if (ka == nullptr || kb == nullptr) return throw_error(env, "checkKernels: unknown or unsupported kernel set");
  bool ok;
  {
    std::lock_guard<std::mutex> lock(native_mutex());
    ok = kernels_agree(*ka, *kb);
  }
  napi_value out;
  CHECK_NAPI(napi_get_boolean(env, ok, &out));
  return out;
}

napi_value ResetStats(napi_env env, napi_callback_info) {
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::reset();
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setKernel", nullptr, SetKernel, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, Stats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"resetStats", nullptr, ResetStats, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"checkKernels", nullptr, CheckKernels, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  if (!register_ops(env, exports)) return nullptr;
  if (!register_bf16(env, exports)) return nullptr;
  return exports;
}

}  // namespace

const KernelSet& active_kernels() { return *state().active; }
int active_threads() { return state().threads; }

}  // namespace rlhfkit

NAPI_MODULE_INIT() { return rlhfkit::Init(env, exports); }
