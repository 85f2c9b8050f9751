// rlhfkit native kernels: the small Node-API helpers every binding shares (arguments, heap views, errors).
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstdint>
#include <string>

namespace rlhfkit {

inline napi_value throw_error(napi_env env, const std::string& msg) {
  napi_throw_error(env, "ERR_RLHFKIT_NATIVE", ("rlhfkit native: " + msg).c_str());
  return nullptr;
}

#define CHECK_NAPI(call)                                             \
  do {                                                               \
    if ((call) != napi_ok) return throw_error(env, #call " failed"); \
  } while (0)

/** An integral double (exactly representable), as every offset and size is. */
inline bool get_i64(napi_env env, napi_value v, int64_t* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

inline bool get_f64(napi_env env, napi_value v, double* out) { return napi_get_value_double(env, v, out) == napi_ok; }

inline bool get_bool(napi_env env, napi_value v, bool* out) { return napi_get_value_bool(env, v, out) == napi_ok; }

/** A Float32Array over the wasm memory: its data pointer and length in floats. */
inline bool get_heap(napi_env env, napi_value v, float** data, int64_t* len) {
  napi_typedarray_type type;
  size_t n = 0;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
    return false;
  }
  if (p == nullptr && n > 0) return false;
  *data = static_cast<float*>(p);
  *len = static_cast<int64_t>(n);
  return true;
}

/** Whether [off, off + size) lies inside a heap of `len` floats. */
inline bool inside(int64_t len, int64_t off, int64_t size) { return off >= 0 && size >= 0 && off <= len - size; }

/** Registers the fused operations (addon-ops.cc) on the addon's exports. */
bool register_ops(napi_env env, napi_value exports);

/** Registers the decoding step's bindings (addon-decode.cc). */
bool register_decode(napi_env env, napi_value exports);

/** Registers the bfloat16-weight product (addon-bf16.cc). */
bool register_bf16(napi_env env, napi_value exports);

}  // namespace rlhfkit
