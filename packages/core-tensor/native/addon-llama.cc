// rlhfkit native kernels: the Node-API bindings of the LLaMA blocks (backend/native-llama-blocks.ts writes the tables).
#include <mutex>
#include <string>

#include "gemm.h"
#include "llama-blocks.h"
#include "napi-table.h"
#include "napi-util.h"
#include "ops.h"

namespace rlhfkit {

namespace {

bool act_ok(int act) { return act >= ops::kLinear && act <= ops::kQuickGelu; }

// llamaAttnBlock: [x, lnW, wq, bq, wk, bk, wv, bv, wo, bo, cos, sin, bias, biasBatch, b, t, d, heads, kvHeads, hd, eps, divisor,
//                  y, h, rstd, q, k, v, probs, a]
napi_value AttnBlock(napi_env env, napi_callback_info info) {
  Table t(env, info, 30, "llamaAttnBlock");
  const long bb = t.i64(13), b = t.i64(14), tt = t.i64(15), d = t.i64(16), heads = t.i64(17), kvh = t.i64(18), hd = t.i64(19);
  t.require(b >= 1 && tt >= 1 && d >= 1 && heads >= 1 && kvh >= 1 && heads % kvh == 0 && hd >= 2 && hd % 2 == 0 && (bb == 1 || bb == b),
            "bad sizes");
  t.require(ops::supported(), "this CPU lacks AVX2+FMA");
  const long n = b * tt, qd = heads * hd, kvd = kvh * hd;
  llama::Attn p{};
  p.x = t.at(0, n * d);
  p.ln_w = t.at(1, d);
  p.wq = t.at(2, d * qd);
  p.bq = t.at(3, qd, true);
  p.wk = t.at(4, d * kvd);
  p.bk = t.at(5, kvd, true);
  p.wv = t.at(6, d * kvd);
  p.bv = t.at(7, kvd, true);
  p.wo = t.at(8, qd * d);
  p.bo = t.at(9, d, true);
  p.cos = t.at(10, n * hd);
  p.sin = t.at(11, n * hd);
  p.bias = t.at(12, bb * tt * tt, true);
  p.bias_batch = bb;
  p.b = b;
  p.t = tt;
  p.d = d;
  p.heads = heads;
  p.kv_heads = kvh;
  p.hd = hd;
  p.eps = static_cast<float>(t.num(20));
  p.divisor = static_cast<float>(t.num(21));
  p.y = t.at(22, n * d);
  p.h = t.at(23, n * d);
  p.rstd = t.at(24, n);
  p.q = t.at(25, n * qd);
  p.k = t.at(26, n * kvd);
  p.v = t.at(27, n * kvd);
  p.probs = t.at(28, b * heads * tt * tt);
  p.a = t.at(29, n * qd);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("llama_attn_block", 2.0 * n * d * (2 * qd + 2 * kvd) + 4.0 * b * heads * tt * tt * hd);
  if (!llama::attn_forward(p)) return throw_error(env, "llamaAttnBlock: out of memory");
  return nullptr;
}

// llamaAttnBlockGrad: [dy, x, lnW, h, rstd, q, k, v, probs, a, wq, wk, wv, wo, cos, sin, b, t, d, heads, kvHeads, hd, divisor,
//                      dx, dlnW, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo] (bias gradients -1 where the layer has none)
napi_value AttnBlockGrad(napi_env env, napi_callback_info info) {
  Table t(env, info, 33, "llamaAttnBlockGrad");
  const long b = t.i64(16), tt = t.i64(17), d = t.i64(18), heads = t.i64(19), kvh = t.i64(20), hd = t.i64(21);
  t.require(b >= 1 && tt >= 1 && d >= 1 && heads >= 1 && kvh >= 1 && heads % kvh == 0 && hd >= 2 && hd % 2 == 0, "bad sizes");
  t.require(ops::supported(), "this CPU lacks AVX2+FMA");
  const long n = b * tt, qd = heads * hd, kvd = kvh * hd;
  llama::AttnGrad p{};
  p.dy = t.at(0, n * d);
  p.x = t.at(1, n * d);
  p.ln_w = t.at(2, d);
  p.h = t.at(3, n * d);
  p.rstd = t.at(4, n);
  p.q = t.at(5, n * qd);
  p.k = t.at(6, n * kvd);
  p.v = t.at(7, n * kvd);
  p.probs = t.at(8, b * heads * tt * tt);
  p.a = t.at(9, n * qd);
  p.wq = t.at(10, d * qd);
  p.wk = t.at(11, d * kvd);
  p.wv = t.at(12, d * kvd);
  p.wo = t.at(13, qd * d);
  p.cos = t.at(14, n * hd);
  p.sin = t.at(15, n * hd);
  p.b = b;
  p.t = tt;
  p.d = d;
  p.heads = heads;
  p.kv_heads = kvh;
  p.hd = hd;
  p.divisor = static_cast<float>(t.num(22));
  p.dx = t.at(23, n * d);
  p.dln_w = t.at(24, d);
  p.dwq = t.at(25, d * qd);
  p.dbq = t.at(26, qd, true);
  p.dwk = t.at(27, d * kvd);
  p.dbk = t.at(28, kvd, true);
  p.dwv = t.at(29, d * kvd);
  p.dbv = t.at(30, kvd, true);
  p.dwo = t.at(31, qd * d);
  p.dbo = t.at(32, d, true);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("llama_attn_block_grad", 4.0 * n * d * (2 * qd + 2 * kvd) + 8.0 * b * heads * tt * tt * hd);
  if (!llama::attn_backward(p)) return throw_error(env, "llamaAttnBlockGrad: out of memory");
  return nullptr;
}

// llamaMlpBlock: [y, lnW, wg, bg, wu, bu, wd, bd, n, d, ffn, act, eps, z, h, rstd, g, u, f]
napi_value MlpBlock(napi_env env, napi_callback_info info) {
  Table t(env, info, 19, "llamaMlpBlock");
  const long n = t.i64(8), d = t.i64(9), f = t.i64(10);
  const int act = static_cast<int>(t.i64(11));
  t.require(n >= 1 && d >= 1 && f >= 1 && act_ok(act), "bad sizes or activation");
  t.require(ops::supported(), "this CPU lacks AVX2+FMA");
  llama::Mlp p{};
  p.y = t.at(0, n * d);
  p.ln_w = t.at(1, d);
  p.wg = t.at(2, d * f);
  p.bg = t.at(3, f, true);
  p.wu = t.at(4, d * f);
  p.bu = t.at(5, f, true);
  p.wd = t.at(6, f * d);
  p.bd = t.at(7, d, true);
  p.n = n;
  p.d = d;
  p.ffn = f;
  p.act = act;
  p.eps = static_cast<float>(t.num(12));
  p.z = t.at(13, n * d);
  p.h = t.at(14, n * d);
  p.rstd = t.at(15, n);
  p.g = t.at(16, n * f);
  p.u = t.at(17, n * f);
  p.f = t.at(18, n * f);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("llama_mlp_block", 6.0 * n * d * f);
  if (!llama::mlp_forward(p)) return throw_error(env, "llamaMlpBlock: out of memory");
  return nullptr;
}

// llamaMlpBlockGrad: [dz, y, lnW, h, rstd, g, u, f, wg, wu, wd, n, d, ffn, act, dy, dlnW, dwg, dbg, dwu, dbu, dwd, dbd]
napi_value MlpBlockGrad(napi_env env, napi_callback_info info) {
  Table t(env, info, 23, "llamaMlpBlockGrad");
  const long n = t.i64(11), d = t.i64(12), f = t.i64(13);
  const int act = static_cast<int>(t.i64(14));
  t.require(n >= 1 && d >= 1 && f >= 1 && act_ok(act), "bad sizes or activation");
  t.require(ops::supported(), "this CPU lacks AVX2+FMA");
  llama::MlpGrad p{};
  p.dz = t.at(0, n * d);
  p.y = t.at(1, n * d);
  p.ln_w = t.at(2, d);
  p.h = t.at(3, n * d);
  p.rstd = t.at(4, n);
  p.g = t.at(5, n * f);
  p.u = t.at(6, n * f);
  p.f = t.at(7, n * f);
  p.wg = t.at(8, d * f);
  p.wu = t.at(9, d * f);
  p.wd = t.at(10, f * d);
  p.n = n;
  p.d = d;
  p.ffn = f;
  p.act = act;
  p.dy = t.at(15, n * d);
  p.dln_w = t.at(16, d);
  p.dwg = t.at(17, d * f);
  p.dbg = t.at(18, f, true);
  p.dwu = t.at(19, d * f);
  p.dbu = t.at(20, f, true);
  p.dwd = t.at(21, f * d);
  p.dbd = t.at(22, d, true);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("llama_mlp_block_grad", 12.0 * n * d * f);
  if (!llama::mlp_backward(p)) return throw_error(env, "llamaMlpBlockGrad: out of memory");
  return nullptr;
}

}  // namespace

bool register_llama(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"llamaAttnBlock", nullptr, AttnBlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"llamaAttnBlockGrad", nullptr, AttnBlockGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"llamaMlpBlock", nullptr, MlpBlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"llamaMlpBlockGrad", nullptr, MlpBlockGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}

}  // namespace rlhfkit
