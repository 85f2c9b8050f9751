// rlhfkit native kernels: one decoding step on packed weights: LayerNorms, projections, cached attention, MLP, LM head.
#include "decode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "ops.h"
#include "parallel.h"

namespace rlhfkit {
namespace decode {

void pack_panels(const float* src, long rsb, long csb, long k, long n, long nr, float* dst) {
  const long panels = (n + nr - 1) / nr;
  for (long q = 0; q < panels; ++q) {
    float* out = dst + q * k * nr;
    const long cols = n - q * nr < nr ? n - q * nr : nr;
    for (long p = 0; p < k; ++p) {
      const float* row = src + p * rsb + q * nr * csb;
      if (csb == 1) {
        std::memcpy(out + p * nr, row, cols * sizeof(float));
      } else {
        for (long c = 0; c < cols; ++c) out[p * nr + c] = row[c * csb];
      }
      for (long c = cols; c < nr; ++c) out[p * nr + c] = 0.0f;
    }
  }
}

}  // namespace decode
}  // namespace rlhfkit

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "simd.h"

namespace rlhfkit {
namespace decode {
namespace {

/** x [rows, k] packed as the micro-kernels read A: ceil(rows / mr) panels of k steps of mr floats, zero-padded. */
void pack_rows(const float* x, long rows, long k, int mr, float* out) {
  for (long r0 = 0; r0 < rows; r0 += mr) {
    float* o = out + (r0 / mr) * k * mr;
    const long n = rows - r0 < mr ? rows - r0 : mr;
    for (long p = 0; p < k; ++p) {
      for (long r = 0; r < n; ++r) o[p * mr + r] = x[(r0 + r) * k + p];
      for (long r = n; r < mr; ++r) o[p * mr + r] = 0.0f;
    }
  }
}

/** x[i] += y[i] for n floats. */
void add_rows(float* x, const float* y, long n) {
  long i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) x[i] += y[i];
}

/** Attention of (row, head) pairs [p0, p1) over the cache, this step's key included; sc: past + 1 floats. */
void attend(const Model& m, const Layer& l, const Step& s, const float* qs, float* out, float* sc, long p0, long p1) {
  const long hd = m.hd, len = s.past + 1, cap = s.cap;
  for (long bh = p0; bh < p1; ++bh) {
    const long b = bh / m.heads, h = bh % m.heads;
    const float* q = qs + b * m.d + h * hd;
    const float* kc = l.k_cache + bh * cap * hd;
    const float* vc = l.v_cache + bh * cap * hd;
    const float* bias = s.bias != nullptr ? s.bias + b * len : nullptr;
    float mx = -__builtin_inff();
    for (long t = 0; t < len; ++t) {
      __m256 acc = _mm256_setzero_ps();
      long c = 0;
      for (; c + 8 <= hd; c += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(kc + t * hd + c), acc);
      float v = reduce_add(acc);
      for (; c < hd; ++c) v += q[c] * kc[t * hd + c];
      if (l.divisor != 1.0f) v /= l.divisor;
      if (bias != nullptr) v += bias[t];
      sc[t] = v;
      mx = v > mx ? v : mx;
    }
    float sum = 0.0f;
    for (long t = 0; t < len; ++t) {
      sc[t] = __builtin_expf(sc[t] - mx);
      sum += sc[t];
    }
    const float inv = 1.0f / sum;
    float* o = out + b * m.d + h * hd;
    long c = 0;
    for (; c + 8 <= hd; c += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (long t = 0; t < len; ++t) acc = _mm256_fmadd_ps(_mm256_set1_ps(sc[t] * inv), _mm256_loadu_ps(vc + t * hd + c), acc);
      _mm256_storeu_ps(o + c, acc);
    }
    for (; c < hd; ++c) {
      float acc = 0.0f;
      for (long t = 0; t < len; ++t) acc += sc[t] * inv * vc[t * hd + c];
      o[c] = acc;
    }
  }
}

/** One product: y = act(x · W + bias) over the packed rows. */
struct Product {
  const Linear* l;
  float* y;
};

/** Panels [q0, q1) of a product, mr rows at a time, the whole k in one micro-kernel call per tile. */
void run_panels(const KernelSet& ks, const Product& pr, const float* a, long rows, int act, long q0, long q1, float* tile) {
  const Linear& l = *pr.l;
  const long k = l.in, n = l.out, nr = ks.nr, mr = ks.mr;
  float* y = pr.y;
  const bool relu = act == ops::kRelu;
  for (long q = q0; q < q1; ++q) {
    const long c0 = q * nr;
    const long cols = n - c0 < nr ? n - c0 : nr;
    const float* bp = l.w + q * k * nr;
    const float* bias = l.bias != nullptr && cols == nr ? l.bias + c0 : nullptr;
    for (long r0 = 0; r0 < rows; r0 += mr) {
      const long nrows = rows - r0 < mr ? rows - r0 : mr;
      const float* ap = a + (r0 / mr) * k * mr;
      if (cols == nr) {
        ks.rows[nrows](k, ap, bp, nr, y + r0 * n + c0, n, relu ? kRelu : 0, bias);
      } else {
        ks.rows[nrows](k, ap, bp, nr, tile, nr, 0, nullptr);
        for (long r = 0; r < nrows; ++r) {
          for (long c = 0; c < cols; ++c) {
            const float v = tile[r * nr + c] + (l.bias != nullptr ? l.bias[c0 + c] : 0.0f);
            y[(r0 + r) * n + c0 + c] = relu && v < 0.0f ? 0.0f : v;
          }
        }
      }
      if (act != ops::kLinear && !relu) {
        for (long r = 0; r < nrows; ++r) {
          float* row = y + (r0 + r) * n + c0;
          long c = 0;
          for (; c + 8 <= cols; c += 8) _mm256_storeu_ps(row + c, act_value(_mm256_loadu_ps(row + c), act));
          for (; c < cols; ++c) {
            float t[8] = {row[c]};
            _mm256_storeu_ps(t, act_value(_mm256_loadu_ps(t), act));
            row[c] = t[0];
          }
        }
      }
    }
  }
}

/**
 * One phase of a step: `units` pieces of work that the caller and any pool worker that wakes in time claim from
 * a counter (pool::run_elastic), so a worker the OS is slow to schedule never holds the step up.
 */
struct Phase {
  std::atomic<long> next{0};
  long units = 0;
  void (*unit)(const Phase&, long u, int tid) = nullptr;
  // what the units read
  const KernelSet* ks = nullptr;
  const Product* ps = nullptr;
  int count = 0;
  long per_unit = 1;  // panels per unit
  const float* packed = nullptr;
  long rows = 0;
  int act = 0;
  float* tiles = nullptr;  // an mr x nr edge tile per thread
  const Model* m = nullptr;
  const Layer* l = nullptr;
  const Step* s = nullptr;
  const float* q = nullptr;
  float* out = nullptr;
  float* scores = nullptr;  // past + 1 floats per thread
};

void phase_part(int tid, void* p) {
  Phase& ph = *static_cast<Phase*>(p);
  for (long u = ph.next.fetch_add(1, std::memory_order_relaxed); u < ph.units; u = ph.next.fetch_add(1, std::memory_order_relaxed)) {
    ph.unit(ph, u, tid);
  }
}

void run_phase(Phase& ph, int threads) {
  pool::run_elastic(threads < ph.units ? threads : static_cast<int>(ph.units), phase_part, &ph);
}

/** Unit u of a linear phase: panels [u*per_unit, (u+1)*per_unit) of the products' panels taken as one list. */
void linear_unit(const Phase& ph, long u, int tid) {
  const long nr = ph.ks->nr;
  const long start = u * ph.per_unit, end = start + ph.per_unit;
  long base = 0;
  for (int i = 0; i < ph.count; ++i) {
    const long np = (ph.ps[i].l->out + nr - 1) / nr;
    const long q0 = start > base ? start - base : 0, q1 = end - base < np ? end - base : np;
    if (q0 < q1) run_panels(*ph.ks, ph.ps[i], ph.packed, ph.rows, ph.act, q0, q1, ph.tiles + tid * ph.ks->mr * nr);
    base += np;
  }
}

void attention_unit(const Phase& ph, long u, int tid) {
  attend(*ph.m, *ph.l, *ph.s, ph.q, ph.out, ph.scores + tid * (ph.s->past + 1), u, u + 1);
}

/** Buffers of one step. */
struct Buffers {
  float *x, *h, *q, *k, *v, *att, *a, *f, *scores, *packed, *tiles;
};

/** act(x · W_i + b_i) for the products: x packed once, then the panels shared out in units of ~128K multiply-adds. */
void linear_phase(const KernelSet& ks, const Buffers& bf, int threads, const float* x, long rows, long k, const Product* ps,
                  int count, int act, const char* name) {
  stats::Scope scope(name, 2.0 * rows * k * [&] {
    long n = 0;
    for (int i = 0; i < count; ++i) n += ps[i].l->out;
    return n;
  }());
  pack_rows(x, rows, k, ks.mr, bf.packed);
  long total = 0;
  for (int i = 0; i < count; ++i) total += (ps[i].l->out + ks.nr - 1) / ks.nr;
  Phase ph;
  ph.ks = &ks;
  ph.ps = ps;
  ph.count = count;
  ph.packed = bf.packed;
  ph.rows = rows;
  ph.act = act;
  ph.tiles = bf.tiles;
  ph.per_unit = (128 * 1024) / (k * ks.nr * rows) + 1;
  ph.units = (total + ph.per_unit - 1) / ph.per_unit;
  ph.unit = linear_unit;
  run_phase(ph, threads);
}

}  // namespace

bool step(const Model& m, const Step& s) {
  const long B = s.batch, d = m.d, len = s.past + 1;
  const KernelSet& ks = active_kernels();
  if (ks.nr != m.panel) return false;
  const int nt = active_threads();
  // x, h, q, k, v, att, a [B, d]; f [B, ffn]; attention scores and an edge tile per thread; the packed rows
  const long widest = d > m.ffn ? d : m.ffn;
  const long floats = 7 * B * d + B * m.ffn + nt * len + static_cast<long>(nt) * ks.mr * ks.nr +
                      ((B + ks.mr - 1) / ks.mr) * ks.mr * widest;
  float* buf = static_cast<float*>(std::malloc(sizeof(float) * floats));
  if (buf == nullptr) return false;
  Buffers bf{};
  bf.x = buf;
  bf.h = bf.x + B * d;
  bf.q = bf.h + B * d;
  bf.k = bf.q + B * d;
  bf.v = bf.k + B * d;
  bf.att = bf.v + B * d;
  bf.a = bf.att + B * d;
  bf.f = bf.a + B * d;
  bf.scores = bf.f + B * m.ffn;
  bf.tiles = bf.scores + nt * len;
  bf.packed = bf.tiles + static_cast<long>(nt) * ks.mr * ks.nr;
  float *x = bf.x, *h = bf.h;
  for (long b = 0; b < B; ++b) {
    const float* te = m.tok + static_cast<long>(s.ids[b]) * d;
    const float* pe = m.pos != nullptr ? m.pos + (static_cast<long>(s.positions[b]) + m.pos_offset) * d : nullptr;
    for (long i = 0; i < d; ++i) x[b * d + i] = pe != nullptr ? te[i] + pe[i] : te[i];
  }
  for (long li = 0; li < m.layers; ++li) {
    const Layer& l = m.layer[li];
    if (m.pre_ln) ops::layer_norm_serial(x, l.ln1_w, l.ln1_b, h, nullptr, nullptr, B, d, m.eps);
    const Product qkv[3] = {{&l.q, bf.q}, {&l.k, bf.k}, {&l.v, bf.v}};
    linear_phase(ks, bf, nt, m.pre_ln ? h : x, B, d, qkv, 3, ops::kLinear, "decode.qkv");
    // q scaling, and this step's keys and values into the cache at [b, head, past, :]
    for (long b = 0; b < B; ++b) {
      if (m.q_scale != 1.0f) {
        for (long i = 0; i < d; ++i) bf.q[b * d + i] *= m.q_scale;
      }
      for (long hh = 0; hh < m.heads; ++hh) {
        const long at = ((b * m.heads + hh) * s.cap + s.past) * m.hd;
        std::memcpy(l.k_cache + at, bf.k + b * d + hh * m.hd, m.hd * sizeof(float));
        std::memcpy(l.v_cache + at, bf.v + b * d + hh * m.hd, m.hd * sizeof(float));
      }
    }
    Phase att;
    att.m = &m;
    att.l = &l;
    att.s = &s;
    att.q = bf.q;
    att.out = bf.att;
    att.scores = bf.scores;
    att.units = B * m.heads;
    att.unit = attention_unit;
    {
      stats::Scope scope("decode.attention", 4.0 * B * m.heads * len * m.hd);
      run_phase(att, len * m.hd * B * m.heads >= (1 << 16) ? nt : 1);
    }
    const Product o[1] = {{&l.o, bf.a}};
    linear_phase(ks, bf, nt, bf.att, B, d, o, 1, ops::kLinear, "decode.out_proj");
    add_rows(x, bf.a, B * d);
    if (!m.pre_ln) ops::layer_norm_serial(x, l.ln1_w, l.ln1_b, x, nullptr, nullptr, B, d, m.eps);
    if (m.pre_ln) ops::layer_norm_serial(x, l.ln2_w, l.ln2_b, h, nullptr, nullptr, B, d, m.eps);
    const Product up[1] = {{&l.fc1, bf.f}};
    linear_phase(ks, bf, nt, m.pre_ln ? h : x, B, d, up, 1, m.act, "decode.fc1");
    const Product down[1] = {{&l.fc2, bf.a}};
    linear_phase(ks, bf, nt, bf.f, B, m.ffn, down, 1, ops::kLinear, "decode.fc2");
    add_rows(x, bf.a, B * d);
    if (!m.pre_ln) ops::layer_norm_serial(x, l.ln2_w, l.ln2_b, x, nullptr, nullptr, B, d, m.eps);
  }
  const bool final_norm = m.lnf_w != nullptr || m.lnf_b != nullptr;
  if (final_norm) ops::layer_norm_serial(x, m.lnf_w, m.lnf_b, h, nullptr, nullptr, B, d, m.eps);
  const Product head[1] = {{&m.head, s.logits}};
  linear_phase(ks, bf, nt, final_norm ? h : x, B, d, head, 1, ops::kLinear, "decode.lm_head");
  std::free(buf);
  return true;
}

}  // namespace decode
}  // namespace rlhfkit
#pragma GCC pop_options

#else

namespace rlhfkit {
namespace decode {
bool step(const Model&, const Step&) { return false; }
}  // namespace decode
}  // namespace rlhfkit

#endif
