// Every training op's backward against central finite differences of its forward, in double
// precision (the same template code as the float ops, instantiated for double), plus the float
// instantiation against the double one and the forwards against naive formulas.
//
// Objective for an op y = f(x...): L = Σ w·y with random w (losses: L = dloss·Σ rows). The
// backward gets dy = w; each input's analytic gradient is compared with (L(x+h) - L(x-h))/2h on
// every entry. Error = max |fd - analytic| / max |analytic| over the tensor. Gradient outputs
// start at 0.25, checking that backward ops accumulate rather than overwrite.
#include <cmath>
#include <functional>
#include <random>

#include "engine/train/train_ops.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::train;

namespace {

using Vec = std::vector<double>;
using Vecs = std::vector<Vec>;
constexpr double kPre = 0.25;  // initial value of gradient buffers

TrainOpsT<double>& ops64() {
  static auto o = make_cpu_train_ops_f64(1);
  return *o;
}
TrainOps& ops32() {
  static auto o = make_cpu_train_ops(1);
  return *o;
}

Vec randn(size_t n, std::mt19937& rng, double scale = 1.0, double mean = 0.0) {
  std::normal_distribution<double> d(mean, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

template <typename T>
std::vector<T> cast(const Vec& v) {
  return std::vector<T>(v.begin(), v.end());
}
template <typename T>
Vec back(const std::vector<T>& v) {
  return Vec(v.begin(), v.end());
}
template <typename T>
std::vector<T> grad_buf(size_t n) {
  return std::vector<T>(n, T(kPre));
}
// A gradient buffer minus its initial value.
template <typename T>
Vec delta(const std::vector<T>& g) {
  Vec v(g.size());
  for (size_t i = 0; i < g.size(); i++) v[i] = double(g[i]) - kPre;
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

double rel_err(const Vec& a, const Vec& ref) {
  REQUIRE(a.size() == ref.size());
  double m = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    m = std::max(m, std::fabs(a[i] - ref[i]));
    r = std::max(r, std::fabs(ref[i]));
  }
  return r > 0 ? m / r : m;
}

#define OPS_SCALAR(ops) typename std::remove_reference_t<decltype(ops)>::Scalar

// Checks an op given as a generic callable f(ops, inputs, w) -> {y, d input_i for i in diff...}
// (just {y} when w is empty). `diff` lists the inputs to differentiate. `uniform` makes w a
// constant (for ops whose backward takes one scalar dloss).
template <typename F>
void check_op(const char* name, Vecs in, const std::vector<int>& diff, F&& f, uint32_t seed, bool uniform = false,
              double h = 1e-5) {
  std::mt19937 rng(seed);
  Vecs y0 = f(ops64(), in, Vec{});
  Vec w = uniform ? Vec(y0[0].size(), 0.7) : randn(y0[0].size(), rng);
  Vecs an = f(ops64(), in, w);
  REQUIRE(an.size() == diff.size() + 1);
  double worst = 0;
  for (size_t di = 0; di < diff.size(); di++) {
    Vec& x = in[size_t(diff[di])];
    Vec fd(x.size());
    for (size_t j = 0; j < x.size(); j++) {
      double o = x[j];
      x[j] = o + h;
      double lp = dot(f(ops64(), in, Vec{})[0], w);
      x[j] = o - h;
      double lm = dot(f(ops64(), in, Vec{})[0], w);
      x[j] = o;
      fd[j] = (lp - lm) / (2 * h);
    }
    worst = std::max(worst, rel_err(an[di + 1], fd));
  }
  Vecs f32 = f(ops32(), in, w);
  double f32_err = 0;
  for (size_t i = 0; i < an.size(); i++) f32_err = std::max(f32_err, rel_err(f32[i], an[i]));
  MESSAGE(std::string(name) << ": finite-difference rel err " << worst << ", f32 vs f64 rel err " << f32_err);
  CHECK(worst < 1e-6);
  CHECK(f32_err < 2e-5);
}

}  // namespace

TEST_CASE("train ops: linear (y = x Wᵀ + b) backward and GEMM edge tiles") {
  std::mt19937 rng(1);
  // M = 7 and N = 19 exercise partial register tiles (6 rows; 8/16 columns per panel).
  const int M = 7, K = 5, N = 19;
  auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]), W = cast<T>(in[1]), b = cast<T>(in[2]);
    std::vector<T> y(size_t(M) * N);
    ops.linear_fwd(y.data(), x.data(), W.data(), b.data(), M, K, N);
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dx = grad_buf<T>(x.size()), dW = grad_buf<T>(W.size()), db = grad_buf<T>(b.size());
    ops.linear_bwd(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), M, K, N);
    return {back(y), delta(dx), delta(dW), delta(db)};
  };
  check_op("linear", {randn(M * K, rng), randn(N * K, rng), randn(N, rng)}, {0, 1, 2}, f, 11);

  // A larger product (K beyond one 256-deep block, several panels) against the naive sum.
  const int M2 = 37, K2 = 300, N2 = 45;
  Vec x = randn(M2 * K2, rng), W = randn(N2 * K2, rng), b = randn(N2, rng);
  std::vector<double> y(size_t(M2) * N2);
  ops64().linear_fwd(y.data(), x.data(), W.data(), b.data(), M2, K2, N2);
  Vec ref(y.size());
  for (int m = 0; m < M2; m++)
    for (int n = 0; n < N2; n++) {
      double s = b[size_t(n)];
      for (int k = 0; k < K2; k++) s += x[size_t(m) * K2 + k] * W[size_t(n) * K2 + k];
      ref[size_t(m) * N2 + n] = s;
    }
  CHECK(rel_err(y, ref) < 1e-13);
  // Threaded float GEMM equals the naive double result to float accuracy.
  auto ops2 = make_cpu_train_ops(2);
  auto xf = cast<float>(x), Wf = cast<float>(W), bf = cast<float>(b);
  std::vector<float> yf(y.size());
  ops2->linear_fwd(yf.data(), xf.data(), Wf.data(), bf.data(), M2, K2, N2);
  CHECK(rel_err(back(yf), ref) < 1e-5);
}

TEST_CASE("train ops: bias add, residual add and accumulate backward") {
  std::mt19937 rng(2);
  const int M = 5, N = 7;
  auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]), b = cast<T>(in[1]), r = cast<T>(in[2]);
    std::vector<T> y(x.size());
    ops.add(y.data(), x.data(), r.data(), y.size());  // y = x + r (a residual add)
    ops.bias_fwd(y.data(), b.data(), M, N);           // y += b
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dx = grad_buf<T>(x.size()), db = grad_buf<T>(b.size()), dr = grad_buf<T>(r.size());
    ops.bias_bwd(db.data(), dy.data(), M, N);
    ops.accumulate(dx.data(), dy.data(), dy.size());
    ops.accumulate(dr.data(), dy.data(), dy.size());
    return {back(y), delta(dx), delta(db), delta(dr)};
  };
  check_op("bias/residual", {randn(M * N, rng), randn(N, rng), randn(M * N, rng)}, {0, 1, 2}, f, 12);
}

TEST_CASE("train ops: LayerNorm and RMSNorm backward") {
  std::mt19937 rng(3);
  const int M = 4, D = 37;  // D spans two column blocks of the dw/db reduction
  auto ln = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]), g = cast<T>(in[1]), b = cast<T>(in[2]);
    std::vector<T> y(x.size()), mean(M), rstd(M);
    ops.layernorm_fwd(y.data(), mean.data(), rstd.data(), x.data(), g.data(), b.data(), M, D, 1e-5f);
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dx = grad_buf<T>(x.size()), dg = grad_buf<T>(g.size()), db = grad_buf<T>(b.size());
    ops.layernorm_bwd(dx.data(), dg.data(), db.data(), dy.data(), x.data(), g.data(), mean.data(), rstd.data(), M, D);
    return {back(y), delta(dx), delta(dg), delta(db)};
  };
  check_op("layernorm", {randn(M * D, rng, 2.0, 0.5), randn(D, rng, 0.3, 1.0), randn(D, rng)}, {0, 1, 2}, ln, 13);
  auto rms = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]), g = cast<T>(in[1]);
    std::vector<T> y(x.size()), rstd(M);
    ops.rmsnorm_fwd(y.data(), rstd.data(), x.data(), g.data(), M, D, 1e-5f);
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dx = grad_buf<T>(x.size()), dg = grad_buf<T>(g.size());
    ops.rmsnorm_bwd(dx.data(), dg.data(), dy.data(), x.data(), g.data(), rstd.data(), M, D);
    return {back(y), delta(dx), delta(dg)};
  };
  check_op("rmsnorm", {randn(M * D, rng, 2.0, 0.5), randn(D, rng, 0.3, 1.0)}, {0, 1}, rms, 14);
}

TEST_CASE("train ops: RoPE backward (adjacent pairs)") {
  std::mt19937 rng(4);
  const int M = 5, H = 3, hd = 8;
  std::vector<int> pos = {0, 1, 7, 30, 2};
  auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]);
    ops.rope_fwd(x.data(), pos.data(), M, H, hd, 10000.0f);
    if (w.empty()) return {back(x)};
    auto dx = cast<T>(w);  // the backward works in place on the gradient
    ops.rope_bwd(dx.data(), pos.data(), M, H, hd, 10000.0f);
    return {back(x), back(dx)};
  };
  check_op("rope", {randn(M * H * hd, rng)}, {0}, f, 15);
}

namespace {

// Naive attention in double: explicit mask and softmax per (sequence, head, query).
Vec naive_attention(const Vec& q, const Vec& k, const Vec& v, int B, int T, const std::vector<int>& kv_of_q, int nkv,
                    int hd, const std::vector<int>& len, bool causal) {
  int nq = int(kv_of_q.size());
  Vec out(size_t(B) * T * nq * hd, 0.0);
  double scale = 1.0 / std::sqrt(double(float(hd)));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < nq; h++)
      for (int t = 0; t < len[size_t(b)]; t++) {
        int g = kv_of_q[size_t(h)];
        Vec s;
        for (int j = 0; j < T; j++) {
          bool visible = j < len[size_t(b)] && (!causal || j <= t);
          if (!visible) continue;
          double d = 0;
          for (int i = 0; i < hd; i++)
            d += q[((size_t(b) * T + t) * nq + h) * hd + i] * k[((size_t(b) * T + j) * nkv + g) * hd + i];
          s.push_back(d * double(float(scale)));
        }
        double mx = *std::max_element(s.begin(), s.end()), sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0, jj = 0; j < T; j++) {
          bool visible = j < len[size_t(b)] && (!causal || j <= t);
          if (!visible) continue;
          for (int i = 0; i < hd; i++)
            out[((size_t(b) * T + t) * nq + h) * hd + i] +=
                s[size_t(jj)] / sum * v[((size_t(b) * T + j) * nkv + g) * hd + i];
          jj++;
        }
      }
  return out;
}

}  // namespace

TEST_CASE("train ops: attention backward, GQA with uneven groups and a padding mask") {
  std::mt19937 rng(5);
  // 5 query heads over 2 KV heads, groups of 3 and 2; sequence 1 has 3 real tokens of 6.
  const int B = 2, T = 6, hd = 4, nkv = 2;
  std::vector<int> kv_of_q = {0, 0, 0, 1, 1}, len = {6, 3};
  const int nq = int(kv_of_q.size());
  for (bool causal : {true, false}) {
    auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
      using T_ = OPS_SCALAR(ops);
      auto q = cast<T_>(in[0]), k = cast<T_>(in[1]), v = cast<T_>(in[2]);
      AttnDims a;
      a.B = B, a.T = T, a.n_heads = nq, a.n_kv = nkv, a.head_dim = hd;
      a.kv_of_q = kv_of_q.data(), a.lengths = len.data(), a.causal = causal;
      a.scale = 1.0f / std::sqrt(float(hd));
      std::vector<T_> out(q.size()), lse(size_t(B) * nq * T);
      ops.attention_fwd(out.data(), lse.data(), q.data(), k.data(), v.data(), a);
      if (w.empty()) return {back(out)};
      auto dout = cast<T_>(w);
      auto dq = grad_buf<T_>(q.size()), dk = grad_buf<T_>(k.size()), dv = grad_buf<T_>(v.size());
      ops.attention_bwd(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(), out.data(),
                        lse.data(), a);
      return {back(out), delta(dq), delta(dk), delta(dv)};
    };
    Vecs in = {randn(size_t(B) * T * nq * hd, rng), randn(size_t(B) * T * nkv * hd, rng),
               randn(size_t(B) * T * nkv * hd, rng)};
    Vec out = f(ops64(), in, Vec{})[0];
    CHECK(rel_err(out, naive_attention(in[0], in[1], in[2], B, T, kv_of_q, nkv, hd, len, causal)) < 1e-12);
    check_op(causal ? "attention (causal)" : "attention (bidirectional)", in, {0, 1, 2}, f, 16);
  }
}

TEST_CASE("train ops: GELU (tanh, erf), SwiGLU and tanh backward") {
  std::mt19937 rng(6);
  const size_t n = 40;
  for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
    auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
      using T = OPS_SCALAR(ops);
      auto x = cast<T>(in[0]);
      std::vector<T> y(n);
      ops.gelu_fwd(y.data(), x.data(), n, kind);
      if (w.empty()) return {back(y)};
      auto dy = cast<T>(w);
      auto dx = grad_buf<T>(n);
      ops.gelu_bwd(dx.data(), dy.data(), x.data(), n, kind);
      return {back(y), delta(dx)};
    };
    Vec x = randn(n, rng, 2.0);
    // The exact formulas.
    Vec y = f(ops64(), {x}, Vec{})[0], ref(n);
    for (size_t i = 0; i < n; i++)
      ref[i] = kind == GeluKind::Erf
                   ? 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)))
                   : 0.5 * x[i] * (1 + std::tanh(std::sqrt(2 / M_PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i])));
    CHECK(rel_err(y, ref) < 1e-14);
    check_op(kind == GeluKind::Erf ? "gelu erf" : "gelu tanh", {x}, {0}, f, 17);
  }
  auto swiglu = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto g = cast<T>(in[0]), u = cast<T>(in[1]);
    std::vector<T> y(n);
    ops.swiglu_fwd(y.data(), g.data(), u.data(), n);
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dg = grad_buf<T>(n), du = grad_buf<T>(n);
    ops.swiglu_bwd(dg.data(), du.data(), dy.data(), g.data(), u.data(), n);
    return {back(y), delta(dg), delta(du)};
  };
  check_op("swiglu", {randn(n, rng, 2.0), randn(n, rng)}, {0, 1}, swiglu, 18);
  auto th = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto x = cast<T>(in[0]);
    std::vector<T> y(n);
    ops.tanh_fwd(y.data(), x.data(), n);
    if (w.empty()) return {back(y)};
    auto dy = cast<T>(w);
    auto dx = grad_buf<T>(n);
    ops.tanh_bwd(dx.data(), dy.data(), y.data(), n);
    return {back(y), delta(dx)};
  };
  check_op("tanh", {randn(n, rng)}, {0}, th, 19);
}

TEST_CASE("train ops: embedding backward with repeated ids") {
  std::mt19937 rng(7);
  const int V = 6, D = 20, M = 9;
  std::vector<int> ids = {3, 0, 3, 5, 1, 3, 0, 2, 5};
  for (bool acc : {false, true}) {
    auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
      using T = OPS_SCALAR(ops);
      auto table = cast<T>(in[0]);
      std::vector<T> y(size_t(M) * D, T(0.5));
      ops.embedding_fwd(y.data(), table.data(), ids.data(), M, D, acc);
      if (w.empty()) return {back(y)};
      auto dy = cast<T>(w);
      auto dt = grad_buf<T>(table.size());
      ops.embedding_bwd(dt.data(), dy.data(), ids.data(), M, D);
      return {back(y), delta(dt)};
    };
    check_op("embedding", {randn(size_t(V) * D, rng)}, {0}, f, 20);
  }
}

TEST_CASE("train ops: cross-entropy and distillation KL backward") {
  std::mt19937 rng(8);
  const int M = 5, V = 11;
  std::vector<int> targets = {3, -1, 10, 0, 7};
  auto ce = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
    using T = OPS_SCALAR(ops);
    auto z = cast<T>(in[0]);
    std::vector<T> loss(M);
    ops.cross_entropy_fwd(loss.data(), z.data(), targets.data(), M, V);
    if (w.empty()) return {back(loss)};
    auto dz = grad_buf<T>(z.size());
    ops.cross_entropy_bwd(dz.data(), z.data(), targets.data(), M, V, w[0]);
    return {back(loss), delta(dz)};
  };
  Vec z = randn(size_t(M) * V, rng, 3.0);
  Vec loss = ce(ops64(), {z}, Vec{})[0];
  for (int m = 0; m < M; m++) {
    if (targets[size_t(m)] < 0) {
      CHECK(loss[size_t(m)] == 0.0);
      continue;
    }
    double s = 0;
    for (int i = 0; i < V; i++) s += std::exp(z[size_t(m) * V + i]);
    CHECK(std::fabs(loss[size_t(m)] - (std::log(s) - z[size_t(m) * V + size_t(targets[size_t(m)])])) < 1e-12);
  }
  check_op("cross-entropy", {z}, {0}, ce, 21, true);

  std::vector<int> mask = {1, 1, 0, 1, 1};
  for (float tau : {1.0f, 2.5f}) {
    auto kl = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
      using T = OPS_SCALAR(ops);
      auto s = cast<T>(in[0]), t = cast<T>(in[1]);
      std::vector<T> loss(M);
      ops.kl_div_fwd(loss.data(), s.data(), t.data(), mask.data(), M, V, tau);
      if (w.empty()) return {back(loss)};
      auto ds = grad_buf<T>(s.size());
      ops.kl_div_bwd(ds.data(), s.data(), t.data(), mask.data(), M, V, tau, w[0]);
      return {back(loss), delta(ds)};
    };
    Vec s = randn(size_t(M) * V, rng, 2.0), t = randn(size_t(M) * V, rng, 2.0);
    // KL(p‖p) = 0, and the forward equals τ²·Σ p_t log(p_t/p_s).
    CHECK(rel_err(kl(ops64(), {s, s}, Vec{})[0], Vec(M, 0.0)) < 1e-12);
    Vec l = kl(ops64(), {s, t}, Vec{})[0];
    for (int m = 0; m < M; m++) {
      auto soft = [&](const Vec& z) {
        Vec p(static_cast<size_t>(V));
        double sum = 0;
        for (int i = 0; i < V; i++) sum += (p[size_t(i)] = std::exp(z[size_t(m) * V + i] / tau));
        for (auto& x : p) x /= sum;
        return p;
      };
      Vec ps = soft(s), pt = soft(t);
      double ref = 0;
      for (int i = 0; i < V; i++) ref += pt[size_t(i)] * std::log(pt[size_t(i)] / ps[size_t(i)]);
      CHECK(std::fabs(l[size_t(m)] - (mask[size_t(m)] ? double(tau) * tau * ref : 0.0)) < 1e-12);
    }
    check_op(tau == 1.0f ? "kl (tau 1)" : "kl (tau 2.5)", {s, t}, {0}, kl, 22, true);
  }
}

TEST_CASE("train ops: cosine and MSE hidden-state losses, through a shared linear map") {
  std::mt19937 rng(9);
  const int M = 4, Ds = 5, D = 7;  // student width 5 mapped to the teacher's 7
  std::vector<int> mask = {1, 0, 1, 1};
  for (bool cosine : {true, false}) {
    // loss rows of f(s·Wᵀ + b, teacher): gradients w.r.t. the student states s and the map (W, b).
    auto f = [&](auto& ops, const Vecs& in, const Vec& w) -> Vecs {
      using T = OPS_SCALAR(ops);
      auto s = cast<T>(in[0]), W = cast<T>(in[1]), b = cast<T>(in[2]), t = cast<T>(in[3]);
      std::vector<T> a(size_t(M) * D), loss(M);
      ops.linear_fwd(a.data(), s.data(), W.data(), b.data(), M, Ds, D);
      if (cosine)
        ops.cosine_loss_fwd(loss.data(), a.data(), t.data(), mask.data(), M, D);
      else
        ops.mse_loss_fwd(loss.data(), a.data(), t.data(), mask.data(), M, D);
      if (w.empty()) return {back(loss)};
      std::vector<T> da(a.size());
      if (cosine)
        ops.cosine_loss_bwd(da.data(), a.data(), t.data(), mask.data(), M, D, w[0]);
      else
        ops.mse_loss_bwd(da.data(), a.data(), t.data(), mask.data(), M, D, w[0]);
      auto ds = grad_buf<T>(s.size()), dW = grad_buf<T>(W.size()), db = grad_buf<T>(b.size());
      ops.linear_bwd(ds.data(), dW.data(), db.data(), da.data(), s.data(), W.data(), M, Ds, D);
      return {back(loss), delta(ds), delta(dW), delta(db)};
    };
    Vecs in = {randn(size_t(M) * Ds, rng), randn(size_t(D) * Ds, rng), randn(D, rng), randn(size_t(M) * D, rng)};
    check_op(cosine ? "cosine loss + map" : "mse loss + map", in, {0, 1, 2}, f, 23, true);
    // Direct losses on the states themselves (no map).
    auto g = [&](auto& ops, const Vecs& in2, const Vec& w) -> Vecs {
      using T = OPS_SCALAR(ops);
      auto a = cast<T>(in2[0]), t = cast<T>(in2[1]);
      std::vector<T> loss(M);
      if (cosine)
        ops.cosine_loss_fwd(loss.data(), a.data(), t.data(), nullptr, M, D);
      else
        ops.mse_loss_fwd(loss.data(), a.data(), t.data(), nullptr, M, D);
      if (w.empty()) return {back(loss)};
      auto da = grad_buf<T>(a.size());
      if (cosine)
        ops.cosine_loss_bwd(da.data(), a.data(), t.data(), nullptr, M, D, w[0]);
      else
        ops.mse_loss_bwd(da.data(), a.data(), t.data(), nullptr, M, D, w[0]);
      return {back(loss), delta(da)};
    };
    check_op(cosine ? "cosine loss" : "mse loss", {randn(size_t(M) * D, rng), randn(size_t(M) * D, rng)}, {0}, g, 24,
             true);
  }
}

TEST_CASE("train ops: AdamW update op against the formula") {
  const size_t n = 5;
  Vec p0 = {0.5, -1.0, 2.0, 0.0, 3.0}, g = {0.1, -0.2, 0.0, 1.5, -3.0};
  std::vector<double> p = p0, m(n, 0.0), v(n, 0.0);
  AdamWStep s;
  s.lr = 0.01f, s.beta1 = 0.9f, s.beta2 = 0.99f, s.eps = 1e-8f, s.weight_decay = 0.1f, s.grad_scale = 0.5f;
  for (int t = 1; t <= 2; t++) {
    s.t = t;
    std::vector<double> pr = p, mr = m, vr = v;
    ops64().adamw_update(p.data(), g.data(), m.data(), v.data(), n, s);
    for (size_t i = 0; i < n; i++) {
      double gi = g[i] * double(s.grad_scale);
      mr[i] = double(s.beta1) * mr[i] + (1 - double(s.beta1)) * gi;
      vr[i] = double(s.beta2) * vr[i] + (1 - double(s.beta2)) * gi * gi;
      double mh = mr[i] / (1 - std::pow(double(s.beta1), t)), vh = vr[i] / (1 - std::pow(double(s.beta2), t));
      pr[i] -= double(s.lr) * (mh / (std::sqrt(vh) + double(s.eps)) + double(s.weight_decay) * pr[i]);
      CHECK(std::fabs(p[i] - pr[i]) < 1e-12);
      CHECK(std::fabs(m[i] - mr[i]) < 1e-15);
      CHECK(std::fabs(v[i] - vr[i]) < 1e-15);
    }
  }
}
