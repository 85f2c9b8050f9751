// rlhfkit native kernels: the argument table of the block bindings (a heap and a Float64Array of offsets and sizes).
#pragma once
#include <string>

#include "napi-util.h"

namespace rlhfkit {

/** A call's heap and its Float64Array table of offsets and sizes; `at` resolves and bounds-checks an offset. */
class Table {
 public:
  Table(napi_env env, napi_callback_info info, size_t want, const char* name) : env_(env), name_(name) {
    size_t argc = 2;
    napi_value argv[2];
    napi_typedarray_type type;
    void* data = nullptr;
    ok_ = napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc == 2 && get_heap(env, argv[0], &heap_, &len_) &&
          napi_get_typedarray_info(env, argv[1], &type, &size_, &data, nullptr, nullptr) == napi_ok && type == napi_float64_array &&
          size_ == want;
    t_ = static_cast<const double*>(data);
    if (!ok_) error_ = "(heap, table: Float64Array of " + std::to_string(want) + ")";
  }
  double num(size_t i) const { return ok_ ? t_[i] : 0; }
  long i64(size_t i) const { return static_cast<long>(num(i)); }
  float* at(size_t i, long size, bool optional = false) {
    if (!ok_) return nullptr;
    const double off = t_[i];
    if (optional && off == -1) return nullptr;
    const int64_t o = static_cast<int64_t>(off);
    if (static_cast<double>(o) != off || size < 0 || !inside(len_, o, size)) {
      ok_ = false;
      error_ = "entry " + std::to_string(i) + " reaches outside the heap";
      return nullptr;
    }
    return heap_ + o;
  }
  void require(bool cond, const char* why) {
    if (ok_ && !cond) {
      ok_ = false;
      error_ = why;
    }
  }
  bool ok() const { return ok_; }
  napi_value fail() const { return throw_error(env_, std::string(name_) + ": " + error_); }

 private:
  napi_env env_;
  const char* name_;
  float* heap_ = nullptr;
  int64_t len_ = 0;
  const double* t_ = nullptr;
  size_t size_ = 0;
  bool ok_ = false;
  std::string error_;
};

}  // namespace rlhfkit
