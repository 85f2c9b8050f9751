// rlhfkit native kernels: products with a bfloat16 B held outside the wasm heap (frozen weights at half size).
#include <mutex>
#include <string>

#include "gemm.h"
#include "napi-util.h"

namespace rlhfkit {
namespace {

/**
 * gemmBf16(heap, m, n, k, transA, aOff, w, wOff, rsb, csb, cOff, biasOff)
 * C[m x n] = op(A) · B [+ bias], A and C (and the bias, n floats; biasOff < 0 for none) on the wasm heap at float
 * offsets, B(p, j) = bf16 w[wOff + p*rsb + j*csb] from a Uint16Array anywhere in memory, widened while it is packed.
 */
napi_value GemmBf16(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc != 12) return throw_error(env, "gemmBf16: expected 12 arguments, got " + std::to_string(argc));
  float* heap = nullptr;
  int64_t heap_len = 0;
  if (!get_heap(env, argv[0], &heap, &heap_len)) return throw_error(env, "gemmBf16: heap must be a Float32Array");
  napi_typedarray_type type;
  size_t w_len = 0;
  void* w_data = nullptr;
  if (napi_get_typedarray_info(env, argv[6], &type, &w_len, &w_data, nullptr, nullptr) != napi_ok || type != napi_uint16_array ||
      (w_data == nullptr && w_len > 0)) {
    return throw_error(env, "gemmBf16: w must be a Uint16Array of bfloat16 bits");
  }
  int64_t v[12];
  const int ints[] = {1, 2, 3, 5, 7, 8, 9, 10, 11};
  for (int i : ints) {
    if (!get_i64(env, argv[i], &v[i])) return throw_error(env, "gemmBf16: argument " + std::to_string(i) + " must be an integer");
  }
  bool trans_a;
  if (!get_bool(env, argv[4], &trans_a)) return throw_error(env, "gemmBf16: transA must be a boolean");
  const int64_t m = v[1], n = v[2], k = v[3], a_off = v[5], w_off = v[7], rsb = v[8], csb = v[9], c_off = v[10], bias_off = v[11];
  if (m <= 0 || n <= 0 || k <= 0 || rsb < 0 || csb < 0) return throw_error(env, "gemmBf16: bad sizes");
  const int64_t w_last = w_off + (k - 1) * rsb + (n - 1) * csb;
  if (w_off < 0 || w_last >= static_cast<int64_t>(w_len)) return throw_error(env, "gemmBf16: B reaches outside w");
  if (!inside(heap_len, a_off, m * k) || !inside(heap_len, c_off, m * n) || (bias_off >= 0 && !inside(heap_len, bias_off, n))) {
    return throw_error(env, "gemmBf16: an operand reaches outside the heap");
  }
  GemmProblem g{heap + a_off, trans_a ? 1 : k, trans_a ? m : 1, nullptr, rsb, csb, heap + c_off, n,
                bias_off >= 0 ? heap + bias_off : nullptr, false, m, n, k};
  g.b16 = static_cast<const uint16_t*>(w_data) + w_off;
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("gemm_bf16", 2.0 * static_cast<double>(m) * n * k);
  if (!gemm_batch_locked(active_kernels(), &g, 1, active_threads())) return throw_error(env, "gemmBf16: out of memory for packing buffers");
  return nullptr;
}

}  // namespace

bool register_bf16(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"gemmBf16", nullptr, GemmBf16, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}

}  // namespace rlhfkit
