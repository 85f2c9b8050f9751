// rlhfkit native kernels: the Node-API bindings of the fused operations (norms, activations, loss, attention, AdamW).
#include <mutex>
#include <string>

#include "attention.h"
#include "gemm.h"
#include "napi-util.h"
#include "ops.h"

namespace rlhfkit {

/** Registers the pre-LN decoder blocks' bindings (addon-blocks.cc). */
bool register_blocks(napi_env env, napi_value exports);
/** Registers the LLaMA blocks' and decoding step's bindings (addon-llama.cc). */
bool register_llama(napi_env env, napi_value exports);

namespace {

/** The arguments of one call: argv[0] is the heap (a Float32Array over wasm memory), then numbers. */
class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t want) : env_(env) {
    size_t argc = kMax;
    ok_ = napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr) == napi_ok;
    if (ok_ && argc != want) fail("expected " + std::to_string(want) + " arguments, got " + std::to_string(argc));
    if (ok_ && !get_heap(env, argv_[0], &heap_, &len_)) fail("argument 0 must be the heap (a Float32Array)");
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  int64_t i64(int i) {
    int64_t v = 0;
    if (ok_ && !get_i64(env_, argv_[i], &v)) fail("argument " + std::to_string(i) + " must be an integer");
    return v;
  }
  float f32(int i) {
    double v = 0;
    if (ok_ && !get_f64(env_, argv_[i], &v)) fail("argument " + std::to_string(i) + " must be a number");
    return static_cast<float>(v);
  }
  /** Floats [off, off + size) of the heap; null when the offset is -1 and `optional`. */
  float* span(int i, int64_t size, bool optional = false) {
    const int64_t off = i64(i);
    if (!ok_) return nullptr;
    if (optional && off == -1) return nullptr;
    if (!inside(len_, off, size)) {
      fail("argument " + std::to_string(i) + " (" + std::to_string(size) + " floats at " + std::to_string(off) +
           ") reaches outside the heap");
      return nullptr;
    }
    return heap_ + off;
  }
  int32_t* ints(int i, int64_t size) { return reinterpret_cast<int32_t*>(span(i, size)); }
  napi_value arg(int i) const { return argv_[i]; }
  napi_env env() const { return env_; }

  void fail(const std::string& why) {
    if (ok_) error_ = why;
    ok_ = false;
  }

 private:
  static constexpr size_t kMax = 20;
  napi_env env_;
  napi_value argv_[kMax] = {};
  float* heap_ = nullptr;
  int64_t len_ = 0;
  bool ok_ = true;
  std::string error_;
};

napi_value done(Args& a, const char* name) {
  if (!a.ok()) return throw_error(a.env(), std::string(name) + ": " + a.error());
  return nullptr;
}

#define LOCKED(NAME, FLOPS) \
  std::lock_guard<std::mutex> lock(native_mutex()); \
  stats::Scope scope(NAME, FLOPS)

// layerNorm(heap, x, w, b, y, mean, rstd, rows, d, eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info, 10);
  const int64_t rows = a.i64(7), d = a.i64(8);
  const float eps = a.f32(9);
  float *x = a.span(1, rows * d), *w = a.span(2, d, true), *b = a.span(3, d, true), *y = a.span(4, rows * d);
  float *mean = a.span(5, rows), *rstd = a.span(6, rows);
  if (!a.ok()) return done(a, "layerNorm");
  LOCKED("layer_norm", 8.0 * rows * d);
  ops::layer_norm(x, w, b, y, mean, rstd, rows, d, eps);
  return nullptr;
}

// layerNormGrad(heap, dy, x, mean, rstd, w, dx, dw, db, rows, d)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 11);
  const int64_t rows = a.i64(9), d = a.i64(10);
  float *dy = a.span(1, rows * d), *x = a.span(2, rows * d), *mean = a.span(3, rows), *rstd = a.span(4, rows);
  float *w = a.span(5, d, true), *dx = a.span(6, rows * d), *dw = a.span(7, d, true), *db = a.span(8, d, true);
  if (!a.ok()) return done(a, "layerNormGrad");
  LOCKED("layer_norm_grad", 14.0 * rows * d);
  ops::layer_norm_grad(dy, x, mean, rstd, w, dx, dw, db, rows, d);
  return nullptr;
}

// rmsNorm(heap, x, w, y, rstd, rows, d, eps)
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  const int64_t rows = a.i64(5), d = a.i64(6);
  const float eps = a.f32(7);
  float *x = a.span(1, rows * d), *w = a.span(2, d, true), *y = a.span(3, rows * d), *rstd = a.span(4, rows);
  if (!a.ok()) return done(a, "rmsNorm");
  LOCKED("rms_norm", 5.0 * rows * d);
  ops::rms_norm(x, w, y, rstd, rows, d, eps);
  return nullptr;
}

// rmsNormGrad(heap, dy, x, rstd, w, dx, dw, rows, d)
napi_value RmsNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 9);
  const int64_t rows = a.i64(7), d = a.i64(8);
  float *dy = a.span(1, rows * d), *x = a.span(2, rows * d), *rstd = a.span(3, rows), *w = a.span(4, d, true);
  float *dx = a.span(5, rows * d), *dw = a.span(6, d, true);
  if (!a.ok()) return done(a, "rmsNormGrad");
  LOCKED("rms_norm_grad", 10.0 * rows * d);
  ops::rms_norm_grad(dy, x, rstd, w, dx, dw, rows, d);
  return nullptr;
}

// activation(heap, pre, y, rows, n, act)
napi_value Activation(napi_env env, napi_callback_info info) {
  Args a(env, info, 6);
  const int64_t rows = a.i64(3), n = a.i64(4), act = a.i64(5);
  float *pre = a.span(1, rows * n), *y = a.span(2, rows * n);
  if (!a.ok()) return done(a, "activation");
  LOCKED("activation", 10.0 * rows * n);
  ops::activation(pre, y, rows, n, static_cast<int>(act));
  return nullptr;
}

// activationGrad(heap, dy, pre, dpre, dbias, rows, n, act): pre and dpre -1 for a linear layer
napi_value ActivationGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  const int64_t rows = a.i64(5), n = a.i64(6), act = a.i64(7);
  float *dy = a.span(1, rows * n), *pre = a.span(2, rows * n, true), *dpre = a.span(3, rows * n, true);
  float* dbias = a.span(4, n, true);
  if (a.ok() && act != ops::kLinear && (pre == nullptr || dpre == nullptr)) a.fail("pre and dpre are required");
  if (!a.ok()) return done(a, "activationGrad");
  LOCKED("activation_grad", 12.0 * rows * n);
  ops::activation_grad(dy, pre, dpre, dbias, rows, n, static_cast<int>(act));
  return nullptr;
}

// labelLogProbs(heap, logits, labels, out, lse, rows, v)
napi_value LabelLogProbs(napi_env env, napi_callback_info info) {
  Args a(env, info, 7);
  const int64_t rows = a.i64(5), v = a.i64(6);
  float *logits = a.span(1, rows * v), *out = a.span(3, rows), *lse = a.span(4, rows);
  int32_t* labels = a.ints(2, rows);
  if (!a.ok()) return done(a, "labelLogProbs");
  LOCKED("label_log_probs", 4.0 * rows * v);
  ops::label_log_probs(logits, labels, out, lse, rows, v);
  return nullptr;
}

// labelLogProbsGrad(heap, dy, logits, labels, lse, dlogits, rows, v)
napi_value LabelLogProbsGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 8);
  const int64_t rows = a.i64(6), v = a.i64(7);
  float *dy = a.span(1, rows), *logits = a.span(2, rows * v), *lse = a.span(4, rows), *dl = a.span(5, rows * v);
  int32_t* labels = a.ints(3, rows);
  if (!a.ok()) return done(a, "labelLogProbsGrad");
  LOCKED("label_log_probs_grad", 4.0 * rows * v);
  ops::label_log_probs_grad(dy, logits, labels, lse, dl, rows, v);
  return nullptr;
}

/**
 * adamw(heap, table): table is a Float64Array of 16 numbers per parameter: offsets of p, g, m, v, p', m', v', the
 * element count, then beta1, 1-beta1, beta2, 1-beta2, sqrt(bias correction 2), eps, step size, decay.
 */
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info, 2);
  napi_typedarray_type type;
  size_t len = 0;
  void* data = nullptr;
  if (a.ok() && (napi_get_typedarray_info(env, a.arg(1), &type, &len, &data, nullptr, nullptr) != napi_ok ||
                 type != napi_float64_array || len % 16 != 0 || (data == nullptr && len > 0))) {
    a.fail("argument 1 must be a Float64Array of 16 numbers per parameter");
  }
  if (!a.ok()) return done(a, "adamw");
  const double* t = static_cast<const double*>(data);
  const long count = static_cast<long>(len / 16);
  float* heap;
  int64_t heap_len;
  get_heap(env, a.arg(0), &heap, &heap_len);
  ops::AdamWItem* items = new ops::AdamWItem[count > 0 ? count : 1];
  double total = 0;
  for (long i = 0; i < count; ++i) {
    const double* r = t + 16 * i;
    const int64_t n = static_cast<int64_t>(r[7]);
    bool ok = n >= 0 && static_cast<double>(n) == r[7];
    for (int j = 0; j < 7 && ok; ++j) {
      ok = r[j] == static_cast<double>(static_cast<int64_t>(r[j])) && inside(heap_len, static_cast<int64_t>(r[j]), n);
    }
    if (!ok) {
      delete[] items;
      return throw_error(env, "adamw: parameter " + std::to_string(i) + " reaches outside the heap");
    }
    const auto at = [&](int j) { return heap + static_cast<int64_t>(r[j]); };
    items[i] = ops::AdamWItem{at(0), at(1), at(2), at(3), at(4), at(5), at(6), static_cast<long>(n),
                              static_cast<float>(r[8]), static_cast<float>(r[9]), static_cast<float>(r[10]),
                              static_cast<float>(r[11]), static_cast<float>(r[12]), static_cast<float>(r[13]),
                              static_cast<float>(r[14]), static_cast<float>(r[15])};
    total += static_cast<double>(n);
  }
  {
    LOCKED("adamw", 12.0 * total);
    ops::adamw(items, count);
  }
  delete[] items;
  return nullptr;
}

// segmentSum(heap, x, ids, out, n, inner, segments)
napi_value SegmentSum(napi_env env, napi_callback_info info) {
  Args a(env, info, 7);
  const int64_t n = a.i64(4), inner = a.i64(5), segments = a.i64(6);
  float *x = a.span(1, n * inner), *out = a.span(3, segments * inner);
  int32_t* ids = a.ints(2, n);
  if (!a.ok()) return done(a, "segmentSum");
  LOCKED("segment_sum", 1.0 * n * inner);
  ops::segment_sum(x, ids, out, n, inner, segments);
  return nullptr;
}

// attention(heap, q, ldq, k, ldk, v, ldv, bias, biasBatch, out, probs, b, t, heads, hd, divisor)
napi_value Attention(napi_env env, napi_callback_info info) {
  Args a(env, info, 16);
  const int64_t ldq = a.i64(2), ldk = a.i64(4), ldv = a.i64(6), bias_batch = a.i64(8);
  const int64_t b = a.i64(11), t = a.i64(12), heads = a.i64(13), hd = a.i64(14);
  const float divisor = a.f32(15);
  const int64_t rows = b * t, d = heads * hd;
  if (a.ok() && (b < 1 || t < 1 || heads < 1 || hd < 1 || ldq < d || ldk < d || ldv < d || bias_batch < 1)) a.fail("bad sizes");
  float *q = a.span(1, (rows - 1) * ldq + d), *k = a.span(3, (rows - 1) * ldk + d), *v = a.span(5, (rows - 1) * ldv + d);
  float *bias = a.span(7, bias_batch * t * t, true), *out = a.span(9, rows * d), *probs = a.span(10, b * heads * t * t);
  if (a.ok() && bias != nullptr && bias_batch != 1 && bias_batch != b) a.fail("biasBatch must be 1 or the batch");
  if (!a.ok()) return done(a, "attention");
  LOCKED("attention", 4.0 * b * heads * t * t * hd);
  if (!attn::forward(q, ldq, k, ldk, v, ldv, bias, bias_batch, out, probs, b, t, heads, hd, divisor)) {
    return throw_error(env, "attention: out of memory");
  }
  return nullptr;
}

// attentionGrad(heap, dout, q, ldq, k, ldk, v, ldv, probs, dq, dk, dv, b, t, heads, hd, divisor)
napi_value AttentionGrad(napi_env env, napi_callback_info info) {
  Args a(env, info, 17);
  const int64_t ldq = a.i64(3), ldk = a.i64(5), ldv = a.i64(7);
  const int64_t b = a.i64(12), t = a.i64(13), heads = a.i64(14), hd = a.i64(15);
  const float divisor = a.f32(16);
  const int64_t rows = b * t, d = heads * hd;
  if (a.ok() && (b < 1 || t < 1 || heads < 1 || hd < 1 || ldq < d || ldk < d || ldv < d)) a.fail("bad sizes");
  float *dout = a.span(1, rows * d), *q = a.span(2, (rows - 1) * ldq + d), *k = a.span(4, (rows - 1) * ldk + d);
  float *v = a.span(6, (rows - 1) * ldv + d), *probs = a.span(8, b * heads * t * t);
  float *dq = a.span(9, rows * d), *dk = a.span(10, rows * d), *dv = a.span(11, rows * d);
  if (!a.ok()) return done(a, "attentionGrad");
  LOCKED("attention_grad", 8.0 * b * heads * t * t * hd);
  if (!attn::backward(dout, q, ldq, k, ldk, v, ldv, probs, dq, dk, dv, b, t, heads, hd, divisor)) {
    return throw_error(env, "attentionGrad: out of memory");
  }
  return nullptr;
}

napi_value OpsSupported(napi_env env, napi_callback_info) {
  napi_value out;
  CHECK_NAPI(napi_get_boolean(env, ops::supported(), &out));
  return out;
}

}  // namespace

bool register_ops(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"opsSupported", nullptr, OpsSupported, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rmsNormGrad", nullptr, RmsNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"activation", nullptr, Activation, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"activationGrad", nullptr, ActivationGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"labelLogProbs", nullptr, LabelLogProbs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"labelLogProbsGrad", nullptr, LabelLogProbsGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"segmentSum", nullptr, SegmentSum, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionGrad", nullptr, AttentionGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok &&
         register_decode(env, exports) && register_blocks(env, exports) && register_llama(env, exports);
}

}  // namespace rlhfkit
