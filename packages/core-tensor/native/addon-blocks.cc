// rlhfkit native kernels: the Node-API bindings of the pre-LN decoder blocks (backend/native-blocks.ts writes the tables).
#include <mutex>
#include <string>

#include "blocks.h"
#include "gemm.h"
#include "napi-table.h"
#include "napi-util.h"
#include "ops.h"

namespace rlhfkit {
namespace {

// attnBlock: [x, lnW, lnB, wq, bq, wk, bk, wv, bv, wo, bo, bias, biasBatch, b, t, heads, hd, eps, qScale, divisor,
//             y, h, mean, rstd, q, k, v, probs, a]
napi_value AttnBlock(napi_env env, napi_callback_info info) {
  Table t(env, info, 29, "attnBlock");
  const long b = t.i64(13), tt = t.i64(14), heads = t.i64(15), hd = t.i64(16), n = b * tt, d = heads * hd, bb = t.i64(12);
  t.require(b >= 1 && tt >= 1 && heads >= 1 && hd >= 1 && (bb == 1 || bb == b), "bad sizes");
  blocks::Attn p{};
  p.x = t.at(0, n * d);
  p.ln_w = t.at(1, d);
  p.ln_b = t.at(2, d);
  p.wq = t.at(3, d * d);
  p.bq = t.at(4, d, true);
  p.wk = t.at(5, d * d);
  p.bk = t.at(6, d, true);
  p.wv = t.at(7, d * d);
  p.bv = t.at(8, d, true);
  p.wo = t.at(9, d * d);
  p.bo = t.at(10, d, true);
  p.bias = t.at(11, bb * tt * tt, true);
  p.bias_batch = bb;
  p.b = b;
  p.t = tt;
  p.heads = heads;
  p.hd = hd;
  p.eps = static_cast<float>(t.num(17));
  p.q_scale = static_cast<float>(t.num(18));
  p.divisor = static_cast<float>(t.num(19));
  p.y = t.at(20, n * d);
  p.h = t.at(21, n * d);
  p.mean = t.at(22, n);
  p.rstd = t.at(23, n);
  p.q = t.at(24, n * d);
  p.k = t.at(25, n * d);
  p.v = t.at(26, n * d);
  p.probs = t.at(27, b * heads * tt * tt);
  p.a = t.at(28, n * d);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("attn_block", 2.0 * n * 4 * d * d + 4.0 * b * heads * tt * tt * hd);
  if (!blocks::attn_forward(p)) return throw_error(env, "attnBlock: out of memory");
  return nullptr;
}

// attnBlockGrad: [dy, x, lnW, h, mean, rstd, q, k, v, probs, a, wq, wk, wv, wo, b, t, heads, hd, qScale, divisor,
//                 dx, dlnW, dlnB, dwq, dbq, dwk, dbk, dwv, dbv, dwo, dbo]
napi_value AttnBlockGrad(napi_env env, napi_callback_info info) {
  Table t(env, info, 32, "attnBlockGrad");
  const long b = t.i64(15), tt = t.i64(16), heads = t.i64(17), hd = t.i64(18), n = b * tt, d = heads * hd;
  t.require(b >= 1 && tt >= 1 && heads >= 1 && hd >= 1, "bad sizes");
  blocks::AttnGrad p{};
  p.dy = t.at(0, n * d);
  p.x = t.at(1, n * d);
  p.ln_w = t.at(2, d);
  p.h = t.at(3, n * d);
  p.mean = t.at(4, n);
  p.rstd = t.at(5, n);
  p.q = t.at(6, n * d);
  p.k = t.at(7, n * d);
  p.v = t.at(8, n * d);
  p.probs = t.at(9, b * heads * tt * tt);
  p.a = t.at(10, n * d);
  p.wq = t.at(11, d * d);
  p.wk = t.at(12, d * d);
  p.wv = t.at(13, d * d);
  p.wo = t.at(14, d * d);
  p.b = b;
  p.t = tt;
  p.heads = heads;
  p.hd = hd;
  p.q_scale = static_cast<float>(t.num(19));
  p.divisor = static_cast<float>(t.num(20));
  p.dx = t.at(21, n * d);
  p.dln_w = t.at(22, d);
  p.dln_b = t.at(23, d);
  p.dwq = t.at(24, d * d);
  p.dbq = t.at(25, d);
  p.dwk = t.at(26, d * d);
  p.dbk = t.at(27, d);
  p.dwv = t.at(28, d * d);
  p.dbv = t.at(29, d);
  p.dwo = t.at(30, d * d);
  p.dbo = t.at(31, d);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("attn_block_grad", 4.0 * n * 4 * d * d + 8.0 * b * heads * tt * tt * hd);
  if (!blocks::attn_backward(p)) return throw_error(env, "attnBlockGrad: out of memory");
  return nullptr;
}

// mlpBlock: [y, lnW, lnB, w1, b1, w2, b2, n, d, ffn, act, eps, z, h, mean, rstd, pre (-1 for relu), f]
napi_value MlpBlock(napi_env env, napi_callback_info info) {
  Table t(env, info, 18, "mlpBlock");
  const long n = t.i64(7), d = t.i64(8), f = t.i64(9);
  const int act = static_cast<int>(t.i64(10));
  t.require(n >= 1 && d >= 1 && f >= 1 && act >= ops::kLinear && act <= ops::kQuickGelu, "bad sizes or activation");
  blocks::Mlp p{};
  p.y = t.at(0, n * d);
  p.ln_w = t.at(1, d);
  p.ln_b = t.at(2, d);
  p.w1 = t.at(3, d * f);
  p.b1 = t.at(4, f, true);
  p.w2 = t.at(5, f * d);
  p.b2 = t.at(6, d, true);
  p.n = n;
  p.d = d;
  p.ffn = f;
  p.act = act;
  p.eps = static_cast<float>(t.num(11));
  p.z = t.at(12, n * d);
  p.h = t.at(13, n * d);
  p.mean = t.at(14, n);
  p.rstd = t.at(15, n);
  p.pre = t.at(16, n * f, act == ops::kRelu);
  p.f = t.at(17, n * f);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("mlp_block", 4.0 * n * d * f);
  if (!blocks::mlp_forward(p)) return throw_error(env, "mlpBlock: out of memory");
  return nullptr;
}

// mlpBlockGrad: [dz, y, lnW, h, mean, rstd, pre (-1 for relu), f, w1, w2, n, d, ffn, act, dy, dlnW, dlnB, dw1, db1, dw2, db2]
napi_value MlpBlockGrad(napi_env env, napi_callback_info info) {
  Table t(env, info, 21, "mlpBlockGrad");
  const long n = t.i64(10), d = t.i64(11), f = t.i64(12);
  const int act = static_cast<int>(t.i64(13));
  t.require(n >= 1 && d >= 1 && f >= 1 && act >= ops::kLinear && act <= ops::kQuickGelu, "bad sizes or activation");
  blocks::MlpGrad p{};
  p.dz = t.at(0, n * d);
  p.y = t.at(1, n * d);
  p.ln_w = t.at(2, d);
  p.h = t.at(3, n * d);
  p.mean = t.at(4, n);
  p.rstd = t.at(5, n);
  p.pre = t.at(6, n * f, act == ops::kRelu);
  p.f = t.at(7, n * f);
  p.w1 = t.at(8, d * f);
  p.w2 = t.at(9, f * d);
  p.n = n;
  p.d = d;
  p.ffn = f;
  p.act = act;
  p.dy = t.at(14, n * d);
  p.dln_w = t.at(15, d);
  p.dln_b = t.at(16, d);
  p.dw1 = t.at(17, d * f);
  p.db1 = t.at(18, f);
  p.dw2 = t.at(19, f * d);
  p.db2 = t.at(20, d);
  if (!t.ok()) return t.fail();
  std::lock_guard<std::mutex> lock(native_mutex());
  stats::Scope scope("mlp_block_grad", 8.0 * n * d * f);
  if (!blocks::mlp_backward(p)) return throw_error(env, "mlpBlockGrad: out of memory");
  return nullptr;
}

}  // namespace

bool register_blocks(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"attnBlock", nullptr, AttnBlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attnBlockGrad", nullptr, AttnBlockGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mlpBlock", nullptr, MlpBlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mlpBlockGrad", nullptr, MlpBlockGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}

}  // namespace rlhfkit
