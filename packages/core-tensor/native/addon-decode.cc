// rlhfkit native kernels: the Node-API bindings of the decoding step (weight packing, one step of a decoder).
#include <mutex>
#include <string>
#include <vector>

#include "decode.h"
#include "gemm.h"
#include "napi-util.h"
#include "ops.h"

namespace rlhfkit {
namespace {

/** A Float64Array argument: its numbers. */
bool get_f64_array(napi_env env, napi_value v, const double** data, size_t* len) {
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok || type != napi_float64_array) return false;
  if (p == nullptr && *len > 0) return false;
  *data = static_cast<const double*>(p);
  return true;
}

/** Heap pointers from float offsets, each checked against the heap's end; the first failure is kept. */
class Resolver {
 public:
  Resolver(float* heap, int64_t len) : heap_(heap), len_(len) {}
  float* at(double off, int64_t size, bool optional, const char* what) {
    if (optional && off == -1) return nullptr;
    const int64_t o = static_cast<int64_t>(off);
    if (static_cast<double>(o) != off || !inside(len_, o, size)) {
      if (error_.empty()) error_ = std::string(what) + " reaches outside the heap";
      return nullptr;
    }
    return heap_ + o;
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  float* heap_;
  int64_t len_;
  std::string error_;
};

// packPanels(heap, src, rsb, csb, k, n, nr, dst): W(p, j) = src[p*rsb + j*csb] into decode's panels of nr columns.
napi_value PackPanels(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float* heap;
  int64_t len, v[8];
  if (argc != 8 || !get_heap(env, argv[0], &heap, &len)) return throw_error(env, "packPanels(heap, src, rsb, csb, k, n, nr, dst)");
  for (int i = 1; i < 8; ++i) {
    if (!get_i64(env, argv[i], &v[i])) return throw_error(env, "packPanels: argument " + std::to_string(i) + " must be an integer");
  }
  const int64_t src = v[1], rsb = v[2], csb = v[3], k = v[4], n = v[5], nr = v[6], dst = v[7];
  const int64_t last = (k - 1) * rsb + (n - 1) * csb;
  if (k < 1 || n < 1 || nr < 1 || rsb < 0 || csb < 0 || !inside(len, src, last + 1) || !inside(len, dst, decode::packed_size(k, n, nr))) {
    return throw_error(env, "packPanels: bad sizes, or the source or destination reaches outside the heap");
  }
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("decode_pack", 0);
  decode::pack_panels(heap + src, rsb, csb, k, n, nr, heap + dst);
  return nullptr;
}

constexpr size_t kHeader = 16, kHead = 4, kPerLayer = 29, kStepHeader = 7;

decode::Linear linear(Resolver& r, const double* p, long nr, const char* what) {
  const long in = static_cast<long>(p[2]), out = static_cast<long>(p[3]);
  return decode::Linear{r.at(p[0], decode::packed_size(in, out, nr), false, what), r.at(p[1], out, true, what), in, out};
}

/**
 * decodeStep(heap, plan, step): plan and step are Float64Arrays (backend/native-decode.ts writes them):
 * plan = [layers, d, heads, hd, ffn, vocab, act, preLn, eps, qScale, tok, pos, posOffset, lnfW, lnfB, panel width,
 *         head (w, bias, in, out), then per layer ln1W, ln1B, ln2W, ln2B, q, k, v, o, fc1, fc2 (4 each), divisor];
 * step = [batch, past, cap, ids, positions, bias, logits, then per layer kCache, vCache]. Offsets are floats, -1 none.
 */
napi_value DecodeStep(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float* heap;
  int64_t len;
  const double *p, *st;
  size_t plen, slen;
  if (argc != 3 || !get_heap(env, argv[0], &heap, &len) || !get_f64_array(env, argv[1], &p, &plen) ||
      !get_f64_array(env, argv[2], &st, &slen)) {
    return throw_error(env, "decodeStep(heap, plan: Float64Array, step: Float64Array)");
  }
  if (!ops::supported()) return throw_error(env, "decodeStep: this CPU lacks AVX2+FMA");
  const long layers = plen >= kHeader ? static_cast<long>(p[0]) : -1;
  if (layers < 0 || plen != kHeader + kHead + kPerLayer * layers || slen != kStepHeader + 2 * layers) {
    return throw_error(env, "decodeStep: plan or step has the wrong length for its layer count");
  }
  decode::Model m{};
  m.layers = layers;
  m.d = static_cast<long>(p[1]);
  m.heads = static_cast<long>(p[2]);
  m.hd = static_cast<long>(p[3]);
  m.ffn = static_cast<long>(p[4]);
  m.vocab = static_cast<long>(p[5]);
  m.act = static_cast<int>(p[6]);
  m.pre_ln = p[7] != 0;
  m.eps = static_cast<float>(p[8]);
  m.q_scale = static_cast<float>(p[9]);
  m.pos_offset = static_cast<long>(p[12]);
  m.panel = static_cast<long>(p[15]);
  if (m.panel != active_kernels().nr) {
    return throw_error(env, "decodeStep: the weights were packed for panels of " + std::to_string(m.panel) + " columns but the kernel set now uses " + std::to_string(active_kernels().nr) + "; pack them again");
  }
  const long batch = static_cast<long>(st[0]), past = static_cast<long>(st[1]), cap = static_cast<long>(st[2]);
  if (m.d != m.heads * m.hd || batch < 1 || past < 0 || cap <= past || m.vocab < 1 || m.ffn < 1) {
    return throw_error(env, "decodeStep: inconsistent sizes");
  }
  Resolver r(heap, len);
  m.tok = r.at(p[10], m.vocab * m.d, false, "token embedding");
  m.pos = r.at(p[11], m.d, true, "position embedding");  // rows are checked per position below
  m.lnf_w = r.at(p[13], m.d, true, "final norm");
  m.lnf_b = r.at(p[14], m.d, true, "final norm");
  m.head = linear(r, p + kHeader, m.panel, "LM head");
  std::vector<decode::Layer> ls(static_cast<size_t>(layers));
  for (long i = 0; i < layers; ++i) {
    const double* q = p + kHeader + kHead + kPerLayer * i;
    decode::Layer& l = ls[static_cast<size_t>(i)];
    l.ln1_w = r.at(q[0], m.d, true, "norm");
    l.ln1_b = r.at(q[1], m.d, true, "norm");
    l.ln2_w = r.at(q[2], m.d, true, "norm");
    l.ln2_b = r.at(q[3], m.d, true, "norm");
    l.q = linear(r, q + 4, m.panel, "q");
    l.k = linear(r, q + 8, m.panel, "k");
    l.v = linear(r, q + 12, m.panel, "v");
    l.o = linear(r, q + 16, m.panel, "out");
    l.fc1 = linear(r, q + 20, m.panel, "fc1");
    l.fc2 = linear(r, q + 24, m.panel, "fc2");
    l.divisor = static_cast<float>(q[28]);
    l.k_cache = r.at(st[kStepHeader + 2 * i], batch * m.heads * cap * m.hd, false, "key cache");
    l.v_cache = r.at(st[kStepHeader + 2 * i + 1], batch * m.heads * cap * m.hd, false, "value cache");
    const bool shapes = l.q.in == m.d && l.q.out == m.d && l.k.out == m.d && l.v.out == m.d && l.o.in == m.d &&
                        l.fc1.in == m.d && l.fc1.out == m.ffn && l.fc2.in == m.ffn && l.fc2.out == m.d;
    if (r.ok() && !shapes) return throw_error(env, "decodeStep: layer " + std::to_string(i) + " has inconsistent shapes");
  }
  m.layer = ls.data();
  decode::Step s{batch, past, cap, nullptr, nullptr, nullptr, nullptr};
  s.ids = reinterpret_cast<const int32_t*>(r.at(st[3], batch, false, "ids"));
  s.positions = reinterpret_cast<const int32_t*>(r.at(st[4], batch, false, "positions"));
  s.bias = r.at(st[5], batch * (past + 1), true, "padding bias");
  s.logits = r.at(st[6], batch * m.vocab, false, "logits");
  if (r.ok() && (m.head.in != m.d || m.head.out != m.vocab)) return throw_error(env, "decodeStep: the LM head is not [d, vocab]");
  if (!r.ok()) return throw_error(env, "decodeStep: " + r.error());
  for (long b = 0; b < batch; ++b) {
    if (s.ids[b] < 0 || s.ids[b] >= m.vocab) return throw_error(env, "decodeStep: token id outside the vocabulary");
    if (m.pos != nullptr && !inside(len, p[11] + (static_cast<int64_t>(s.positions[b]) + m.pos_offset) * m.d, m.d)) {
      return throw_error(env, "decodeStep: position outside the position table");
    }
  }
  std::lock_guard<std::mutex> lock(native_mutex());
  const double flops = 2.0 * batch * (m.layers * (4.0 * m.d * m.d + 2.0 * m.d * m.ffn + 2.0 * (past + 1) * m.d) + m.d * m.vocab);
  stats::Scope scope("decode_step", flops);
  if (!decode::step(m, s)) return throw_error(env, "decodeStep: out of memory");
  return nullptr;
}

}  // namespace

bool register_decode(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"packPanels", nullptr, PackPanels, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decodeStep", nullptr, DecodeStep, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}

}  // namespace rlhfkit
