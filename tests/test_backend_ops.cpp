// One table of op cases run over every backend this build has (in the style of llama.cpp's
// test-backend-ops): each case builds its inputs on the host, moves them to a backend through
// alloc/to_device/upload, runs the op, and reads the result back with to_host, so the same table
// runs on ref, cpu and cuda. Every backend is compared to the scalar reference backend, and the
// reference itself to a float64 computation where that is cheap.
// Errors: max |a - ref| / max |ref| for CPU backends (same accumulation types as the reference),
// relative L2 for CUDA (its matmul rounds x to the weight type; its reductions run in another
// order). A backend that is not usable here (CUDA without a GPU) is skipped with a MESSAGE.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <limits>
#include <random>

#include "engine/backend.h"
#include "engine/backend_registry.h"
#include "tests/quant_test_util.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::vector<float> randv(size_t n, std::mt19937& rng, float scale = 1.0f, float shift = 0.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng) + shift;
  return v;
}

// Buffers of one op run on one backend, released at the end of the run.
class Bufs {
 public:
  explicit Bufs(Backend& be) : be_(be) {}
  ~Bufs() {
    for (float* p : owned_) be_.release(p);
  }
  Bufs(const Bufs&) = delete;
  Bufs& operator=(const Bufs&) = delete;
  float* in(const std::vector<float>& h) {
    float* p = out(h.size());
    be_.to_device(p, h.data(), h.size());
    return p;
  }
  float* out(size_t n) {
    owned_.push_back(be_.alloc(std::max<size_t>(n, 1)));
    return owned_.back();
  }
  std::vector<float> host(const float* p, size_t n) {
    std::vector<float> h(n);
    be_.to_host(h.data(), p, n);
    return h;
  }

 private:
  Backend& be_;
  std::vector<float*> owned_;
};

struct OpCase {
  std::string name;
  // Runs the op on a backend and returns its output on the host.
  std::function<std::vector<float>(Backend&)> run;
  double tol_cpu = 1e-6;   // max-relative error against the reference backend
  double tol_cuda = 1e-5;  // relative L2 error against the reference backend
  // The same op in float64 on the host (empty: none), and the reference backend's bound against it.
  std::function<std::vector<double>()> f64;
  double tol_f64 = 1e-6;
  // Block-type weights: the CUDA backend refuses them (CPU-only kernels), checked by name below.
  bool cpu_only = false;
};

double max_rel(const std::vector<float>& a, const std::vector<float>& ref) {
  REQUIRE(a.size() == ref.size());
  double d = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    if (std::isfinite(ref[i]) != std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    d = std::max(d, std::fabs(double(a[i]) - ref[i]));
    r = std::max(r, std::fabs(double(ref[i])));
  }
  return r > 0 ? d / r : d;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  REQUIRE(a.size() == ref.size());
  double d = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    d += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return r > 0 ? std::sqrt(d / r) : std::sqrt(d);
}

std::vector<float> rounded(const std::vector<double>& v) { return {v.begin(), v.end()}; }

// ---- the cases, one builder per op ---------------------------------------------------------------

// Block-type weights (random blocks): CPU backends quantise x to 8-bit blocks, so they differ from
// the reference (dequantise, then f32) by at most the activation-quantisation bound
// (tests/quant_test_util.h); the tolerance is that bound relative to max |y|.
void quant_matmul_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  for (DType dt : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K}) {
    const int be = dtype_block_elems(dt);
    for (int M : {1, 2, 3, 7, 33})
      for (int N : {5, 70})
        for (int K : {be, 3 * be}) {
          auto W = std::make_shared<Tensor>(ztest::random_block_tensor(dt, N, K, rng));
          auto x = randv(size_t(M) * K, rng), bias = randv(size_t(N), rng);
          const std::vector<float> w = W->to_floats();
          std::vector<double> want(size_t(M) * N);
          for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
              double acc = bias[size_t(n)];
              for (int k = 0; k < K; k++) acc += double(x[size_t(m) * K + k]) * w[size_t(n) * K + k];
              want[size_t(m) * N + n] = acc;
            }
          const auto bound = ztest::quant_matmul_bound(x, w, M, N, K, be);
          double ymax = 0;
          for (double v : want) ymax = std::max(ymax, std::fabs(v));
          OpCase c;
          c.name = fmt::format("matmul {} M={} N={} K={} bias", dtype_name(dt), M, N, K);
          c.run = [=](Backend& be) {
            Bufs b(be);
            Tensor Wd = be.upload(*W);
            float* y = b.out(size_t(M) * N);
            be.matmul(y, b.in(x), Wd, b.in(bias), M);
            return b.host(y, size_t(M) * N);
          };
          c.tol_cpu = *std::max_element(bound.begin(), bound.end()) / ymax;
          c.cpu_only = true;
          c.f64 = [=] { return want; };
          c.tol_f64 = 2e-6 * std::sqrt(double(K)) + 1e-6;
          cases.push_back(c);
        }
  }
}

void matmul_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  struct Shape {
    int M, N, K;
  };
  std::vector<Shape> shapes;
  for (int M : {1, 3, 4, 5, 17})
    for (int N : {1, 7, 8, 33, 130})
      for (int K : {1, 5, 16, 17, 64, 173}) shapes.push_back({M, N, K});
  shapes.push_back({37, 517, 300});  // threaded, panels of W
  shapes.push_back({1, 1000, 1536});  // decode over a wide W
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (Shape s : shapes)
      for (bool with_bias : {false, true}) {
        auto W = std::make_shared<Tensor>(Tensor::from_floats(randv(size_t(s.N) * s.K, rng), {s.N, s.K}, dt));
        auto x = randv(size_t(s.M) * s.K, rng), bias = randv(size_t(s.N), rng);
        OpCase c;
        c.name = fmt::format("matmul {} M={} N={} K={}{}", dtype_name(dt), s.M, s.N, s.K, with_bias ? " bias" : "");
        c.run = [=](Backend& be) {
          Bufs b(be);
          Tensor Wd = be.upload(*W);
          float* y = b.out(size_t(s.M) * s.N);
          be.matmul(y, b.in(x), Wd, with_bias ? b.in(bias) : nullptr, s.M);
          return b.host(y, size_t(s.M) * s.N);
        };
        c.tol_cpu = 2e-6 * std::sqrt(double(s.K)) + 1e-6;
        c.tol_cuda = dt == DType::F32 ? 1e-5 : 1e-2;  // the GPU rounds x to the weight type
        c.f64 = [=] {
          std::vector<float> w = W->to_floats();
          std::vector<double> y(size_t(s.M) * s.N);
          for (int m = 0; m < s.M; m++)
            for (int n = 0; n < s.N; n++) {
              double acc = with_bias ? bias[size_t(n)] : 0.0;
              for (int k = 0; k < s.K; k++) acc += double(x[size_t(m) * s.K + k]) * w[size_t(n) * s.K + k];
              y[size_t(m) * s.N + n] = acc;
            }
          return y;
        };
        c.tol_f64 = 1e-6 * std::sqrt(double(s.K)) + 1e-6;
        cases.push_back(std::move(c));
      }
}

void norm_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  for (int M : {1, 5})
    for (int D : {1, 7, 64, 173, 4099})
      for (bool in_place : {false, true}) {
        auto x = randv(size_t(M) * D, rng, 3.0f, 2.0f);  // a non-zero mean exercises LayerNorm's centring
        auto w = randv(size_t(D), rng), bias = randv(size_t(D), rng);
        const std::string shape = fmt::format("M={} D={}{}", M, D, in_place ? " in place" : "");
        OpCase r;
        r.name = "rmsnorm " + shape;
        r.run = [=](Backend& be) {
          Bufs b(be);
          float* xd = b.in(x);
          float* y = in_place ? xd : b.out(x.size());
          be.rmsnorm(y, xd, b.in(w), M, D, 1e-5f);
          return b.host(y, x.size());
        };
        r.f64 = [=] {
          std::vector<double> y(x.size());
          for (int m = 0; m < M; m++) {
            double ss = 0;
            for (int i = 0; i < D; i++) ss += double(x[size_t(m) * D + i]) * x[size_t(m) * D + i];
            double rstd = 1.0 / std::sqrt(ss / D + 1e-5);
            for (int i = 0; i < D; i++) y[size_t(m) * D + i] = x[size_t(m) * D + i] * rstd * w[size_t(i)];
          }
          return y;
        };
        cases.push_back(r);
        for (bool with_bias : {false, true}) {
          OpCase l;
          l.name = "layernorm " + shape + (with_bias ? " bias" : "");
          l.run = [=](Backend& be) {
            Bufs b(be);
            float* xd = b.in(x);
            float* y = in_place ? xd : b.out(x.size());
            be.layernorm(y, xd, b.in(w), with_bias ? b.in(bias) : nullptr, M, D, 1e-5f);
            return b.host(y, x.size());
          };
          l.f64 = [=] {
            std::vector<double> y(x.size());
            for (int m = 0; m < M; m++) {
              const float* xm = x.data() + size_t(m) * D;
              double mean = 0, var = 0;
              for (int i = 0; i < D; i++) mean += xm[i];
              mean /= D;
              for (int i = 0; i < D; i++) var += (xm[i] - mean) * (xm[i] - mean);
              double rstd = 1.0 / std::sqrt(var / D + 1e-5);
              for (int i = 0; i < D; i++)
                y[size_t(m) * D + i] = (xm[i] - mean) * rstd * w[size_t(i)] + (with_bias ? bias[size_t(i)] : 0.0);
            }
            return y;
          };
          cases.push_back(l);
        }
      }
}

void rope_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  for (float theta : {10000.0f, 500000.0f})
    for (int M : {1, 4, 9})
      for (int H : {1, 3})
        for (int hd : {2, 6, 24, 64, 128})
          for (int mode = 0; mode < 3; mode++) {  // consecutive from 0, from 1000, scattered up to 8000
            std::vector<int> pos(static_cast<size_t>(M));
            for (int m = 0; m < M; m++) pos[size_t(m)] = mode == 0 ? m : mode == 1 ? 1000 + m : int(rng() % 8000);
            auto x = randv(size_t(M) * H * hd, rng);
            OpCase c;
            c.name = fmt::format("rope theta={} M={} H={} hd={} positions={}", theta, M, H, hd, mode);
            c.run = [=](Backend& be) {
              Bufs b(be);
              float* xd = b.in(x);
              be.rope(xd, M, H, hd, pos.data(), theta);
              return b.host(xd, x.size());
            };
            c.f64 = [=] {
              std::vector<double> y(x.begin(), x.end());
              for (int m = 0; m < M; m++)
                for (int h = 0; h < H; h++)
                  for (int i = 0; i < hd; i += 2) {
                    double a = pos[size_t(m)] * std::pow(double(theta), -double(i) / hd);
                    double* p = y.data() + (size_t(m) * H + h) * hd + i;
                    double x0 = p[0], x1 = p[1];
                    p[0] = x0 * std::cos(a) - x1 * std::sin(a);
                    p[1] = x0 * std::sin(a) + x1 * std::cos(a);
                  }
              return y;
            };
            c.tol_f64 = 1e-5;  // float angles at positions up to 8000
            cases.push_back(c);
          }
}

// kv_store then attention: earlier positions stored in one call, the new tokens in another (as
// prefill then decode). Cache positions never stored hold NaN, so reading one poisons the result.
void attention_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  struct Heads {
    int n_kv;
    std::vector<int> kv_of_q;
  };
  const std::vector<Heads> head_sets = {
      {1, {0}}, {4, {0, 1, 2, 3}}, {3, {0, 0, 0, 1, 2, 2, 2}}, {2, {0, 0, 0, 0, 0, 1}}};
  const int C = 70;  // cache_len
  const std::vector<std::pair<int, int>> spans = {{0, 1}, {5, 1}, {69, 1}, {0, 9}, {7, 17}, {0, 70}, {30, 33}};
  for (const Heads& hs : head_sets)
    for (int hd : {4, 24, 32, 64, 80, 128, 256, 288})  // 288 > 256 takes CUDA's score-buffer kernel
      for (auto span : spans)
        for (bool causal : {true, false}) {
          const int pos0 = span.first, n = span.second;
          const int nq = int(hs.kv_of_q.size()), nkv = hs.n_kv, T = pos0 + n;
          const size_t row = size_t(nkv) * hd, cache_floats = row * C;
          auto k = randv(size_t(T) * row, rng), v = randv(size_t(T) * row, rng);
          auto q = randv(size_t(n) * nq * hd, rng);
          const std::string shape = fmt::format("n_heads={} n_kv={} hd={} pos0={} n={}", nq, nkv, hd, pos0, n);
          auto fill = [=](Backend& be, Bufs& b, float* kc, float* vc) {
            for (auto [p0, m] : {std::pair<int, int>{0, pos0}, std::pair<int, int>{pos0, n}}) {
              if (m == 0) continue;
              be.kv_store(kc, b.in(std::vector<float>(k.begin() + p0 * row, k.begin() + (p0 + m) * row)), m, nkv, hd,
                          p0, C);
              be.kv_store(vc, b.in(std::vector<float>(v.begin() + p0 * row, v.begin() + (p0 + m) * row)), m, nkv, hd,
                          p0, C);
            }
          };
          if (causal) {  // the cache contents themselves: exact everywhere
            OpCase s;
            s.name = "kv_store " + shape;
            s.run = [=](Backend& be) {
              Bufs b(be);
              std::vector<float> init(cache_floats, -7.0f);
              float *kc = b.in(init), *vc = b.in(init);
              fill(be, b, kc, vc);
              return b.host(kc, cache_floats);
            };
            s.tol_cpu = s.tol_cuda = 0;
            s.f64 = [=] {
              std::vector<double> kc(cache_floats, -7.0);
              for (int t = 0; t < T; t++)
                for (size_t r = 0; r < row; r++) kc[r * C + size_t(t)] = k[size_t(t) * row + r];
              return kc;
            };
            s.tol_f64 = 0;
            cases.push_back(s);
          }
          OpCase c;
          c.name = fmt::format("attention {} {}", causal ? "causal" : "non-causal", shape);
          c.run = [=](Backend& be) {
            Bufs b(be);
            std::vector<float> nan(cache_floats, NAN);
            float *kc = b.in(nan), *vc = b.in(nan);
            fill(be, b, kc, vc);
            AttentionArgs a;
            a.n_tokens = n, a.pos0 = pos0, a.n_heads = nq, a.head_dim = hd, a.kv_of_q = hs.kv_of_q.data();
            a.cache_len = C, a.scale = 1.0f / std::sqrt(float(hd)), a.causal = causal;
            float* out = b.out(q.size());
            be.attention(out, b.in(q), kc, vc, a);
            return b.host(out, q.size());
          };
          c.tol_cpu = 2e-6;
          c.f64 = [=] {
            std::vector<double> out(q.size());
            const double scale = 1.0 / std::sqrt(double(float(hd)));
            for (int i = 0; i < n; i++)
              for (int h = 0; h < nq; h++) {
                const int kvh = hs.kv_of_q[size_t(h)], last = causal ? pos0 + i : T - 1;
                std::vector<double> s(size_t(last) + 1);
                double mx = -1e300, sum = 0;
                for (int t = 0; t <= last; t++) {
                  double d = 0;
                  for (int j = 0; j < hd; j++)
                    d += double(q[(size_t(i) * nq + h) * hd + j]) * k[size_t(t) * row + size_t(kvh) * hd + j];
                  s[size_t(t)] = d * double(float(scale));
                  mx = std::max(mx, s[size_t(t)]);
                }
                for (double& e : s) sum += (e = std::exp(e - mx));
                for (int j = 0; j < hd; j++) {
                  double acc = 0;
                  for (int t = 0; t <= last; t++) acc += s[size_t(t)] * v[size_t(t) * row + size_t(kvh) * hd + j];
                  out[(size_t(i) * nq + h) * hd + j] = acc / sum;
                }
              }
            return out;
          };
          c.tol_f64 = 2e-6;
          cases.push_back(c);
        }
}

// Elementwise ops on n values: out = op(inputs) through `op`, checked against `f64`.
void elementwise_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  auto silu = [](double g) { return g / (1.0 + std::exp(-g)); };
  for (size_t n : {size_t(1), size_t(7), size_t(1000), size_t(100003)}) {
    auto a = randv(n, rng, 3.0f), bv = randv(n, rng, 3.0f);
    OpCase s;
    s.name = fmt::format("swiglu n={}", n);
    s.run = [=](Backend& be) {
      Bufs b(be);
      float* y = b.out(n);
      be.swiglu(y, b.in(a), b.in(bv), n);
      return b.host(y, n);
    };
    s.f64 = [=] {
      std::vector<double> y(n);
      for (size_t i = 0; i < n; i++) y[i] = silu(a[i]) * bv[i];
      return y;
    };
    cases.push_back(s);
    for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
      OpCase g;
      g.name = fmt::format("gelu {} n={}", kind == GeluKind::Tanh ? "tanh" : "erf", n);
      g.tol_cpu = 1e-5;  // vectorised tanh/erf approximations; n = 1 is one small value alone
      g.run = [=](Backend& be) {
        Bufs b(be);
        float* y = b.out(n);
        be.gelu(y, b.in(a), n, kind);
        return b.host(y, n);
      };
      g.f64 = [=] {
        std::vector<double> y(n);
        for (size_t i = 0; i < n; i++) {
          double x = a[i];
          y[i] = kind == GeluKind::Erf ? 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)))
                                       : 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        }
        return y;
      };
      cases.push_back(g);
    }
    OpCase ad;
    ad.name = fmt::format("add n={}", n);
    ad.run = [=](Backend& be) {
      Bufs b(be);
      float* y = b.in(a);
      be.add(y, b.in(bv), n);
      return b.host(y, n);
    };
    ad.f64 = [=] {
      std::vector<double> y(n);
      for (size_t i = 0; i < n; i++) y[i] = double(a[i]) + bv[i];
      return y;
    };
    cases.push_back(ad);
    OpCase t;
    t.name = fmt::format("tanh n={}", n);
    t.run = [=](Backend& be) {
      Bufs b(be);
      float* y = b.in(a);
      be.tanh(y, n);
      return b.host(y, n);
    };
    t.f64 = [=] {
      std::vector<double> y(n);
      for (size_t i = 0; i < n; i++) y[i] = std::tanh(double(a[i]));
      return y;
    };
    cases.push_back(t);
  }
  for (int M : {1, 5})
    for (int D : {1, 7, 300}) {
      auto y0 = randv(size_t(M) * D, rng), bias = randv(size_t(D), rng);
      OpCase c;
      c.name = fmt::format("add_rows M={} D={}", M, D);
      c.tol_cuda = 1e-6;
      c.run = [=](Backend& be) {
        Bufs b(be);
        float* y = b.in(y0);
        be.add_rows(y, b.in(bias), M, D);
        return b.host(y, y0.size());
      };
      c.f64 = [=] {
        std::vector<double> y(y0.size());
        for (size_t i = 0; i < y.size(); i++) y[i] = double(y0[i]) + bias[i % size_t(D)];
        return y;
      };
      cases.push_back(c);
    }
}

void softmax_embedding_cases(std::vector<OpCase>& cases, std::mt19937& rng) {
  for (int M : {1, 3, 5})
    for (int N : {1, 7, 64, 173, 1000, 50257}) {
      auto x = randv(size_t(M) * N, rng, 5.0f);
      OpCase c;
      c.name = fmt::format("softmax M={} N={}", M, N);
      c.tol_cpu = 3e-7 * std::sqrt(double(N)) + 1e-6;  // float sums over N in another order
      c.run = [=](Backend& be) {
        Bufs b(be);
        float* xd = b.in(x);
        be.softmax(xd, M, N);
        return b.host(xd, x.size());
      };
      c.f64 = [=] {
        std::vector<double> y(x.size());
        for (int m = 0; m < M; m++) {
          const float* r = x.data() + size_t(m) * N;
          double mx = *std::max_element(r, r + N), sum = 0;
          for (int i = 0; i < N; i++) sum += std::exp(r[i] - mx);
          for (int i = 0; i < N; i++) y[size_t(m) * N + i] = std::exp(r[i] - mx) / sum;
        }
        return y;
      };
      cases.push_back(c);
    }
  const int V = 50;
  for (DType dt :
       {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K})
    for (int D : !is_quantized(dt) ? std::vector<int>{1, 7, 9, 64, 300}
                 : dtype_block_elems(dt) == 32 ? std::vector<int>{32, 96} : std::vector<int>{256, 512}) {
      auto table = std::make_shared<Tensor>(is_quantized(dt) ? ztest::random_block_tensor(dt, V, D, rng)
                                                             : Tensor::from_floats(randv(size_t(V) * D, rng), {V, D}, dt));
      const std::vector<int> ids = {3, 0, 49, 3, 17, 17, 8};
      const int M = int(ids.size());
      OpCase c;
      c.name = fmt::format("embedding {} D={}", dtype_name(dt), D);
      c.run = [=](Backend& be) {
        Bufs b(be);
        Tensor td = be.upload(*table);
        float* y = b.out(size_t(M) * D);
        be.embedding(y, td, ids.data(), M);
        return b.host(y, size_t(M) * D);
      };
      c.tol_cpu = c.tol_cuda = 0;  // a gather and a widening (or the reference dequantiser): exact
      c.cpu_only = is_quantized(dt);
      c.f64 = [=] {
        std::vector<float> t = table->to_floats();
        std::vector<double> y(size_t(M) * D);
        for (int m = 0; m < M; m++)
          for (int i = 0; i < D; i++) y[size_t(m) * D + i] = t[size_t(ids[size_t(m)]) * D + i];
        return y;
      };
      c.tol_f64 = 0;
      cases.push_back(c);
    }
}

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> cases = [] {
    std::vector<OpCase> v;
    std::mt19937 rng(21);
    matmul_cases(v, rng);
    std::mt19937 quant_rng(25);  // its own stream: the other cases keep their inputs
    quant_matmul_cases(v, quant_rng);
    norm_cases(v, rng);
    rope_cases(v, rng);
    attention_cases(v, rng);
    elementwise_cases(v, rng);
    softmax_embedding_cases(v, rng);
    return v;
  }();
  return cases;
}

// The reference backend's output of every case, computed once per process.
const std::vector<std::vector<float>>& ref_outputs() {
  static const std::vector<std::vector<float>> outs = [] {
    auto ref = make_backend("ref", 1);
    std::vector<std::vector<float>> v;
    for (const OpCase& c : op_table()) v.push_back(c.run(*ref));
    return v;
  }();
  return outs;
}

// Runs the table on one backend against the reference; returns the number of cases run.
size_t check_backend(Backend& be, bool is_cuda) {
  const auto& refs = ref_outputs();
  size_t ran = 0;
  for (size_t i = 0; i < op_table().size(); i++) {
    const OpCase& c = op_table()[i];
    INFO(std::string(be.name()) << " (" << be.threads() << " threads): " << c.name);
    if (is_cuda && c.cpu_only) {  // block weights: refused in one line, counted as checked
      CHECK_THROWS_WITH_AS(c.run(be), doctest::Contains("not supported on the GPU"), zip::Error);
      ran++;
      continue;
    }
    std::vector<float> got = c.run(be);
    if (is_cuda)
      CHECK(rel_l2(got, refs[i]) <= c.tol_cuda);
    else
      CHECK(max_rel(got, refs[i]) <= c.tol_cpu);
    ran++;
  }
  return ran;
}

}  // namespace

TEST_CASE("backend ops: the table covers every op of the Backend interface") {
  std::set<std::string> ops;
  for (const OpCase& c : op_table()) ops.insert(c.name.substr(0, c.name.find(' ')));
  for (const char* op : {"matmul", "rmsnorm", "layernorm", "rope", "kv_store", "attention", "swiglu", "gelu", "softmax",
                         "embedding", "add", "add_rows", "tanh"})
    CHECK_MESSAGE(ops.count(op), op);
}

TEST_CASE("backend ops: the reference backend against float64") {
  const auto& refs = ref_outputs();
  size_t checked = 0;
  for (size_t i = 0; i < op_table().size(); i++) {
    const OpCase& c = op_table()[i];
    if (!c.f64) continue;
    INFO("ref vs float64: " << c.name);
    std::vector<double> want = c.f64();
    CHECK(max_rel(refs[i], rounded(want)) <= c.tol_f64);
    checked++;
  }
  CHECK(checked == op_table().size());
}

TEST_CASE("backend ops: every available backend matches the reference (cpu 1 and 2 threads, cuda)") {
  for (const BackendAvailability& b : list_backends()) {
    if (b.name == "ref") continue;
    if (!b.available) {
      MESSAGE("skipped: backend ops on " << b.name << ": " << b.why);
      continue;
    }
    for (int threads : b.name == "cpu" ? std::vector<int>{1, 2} : std::vector<int>{1}) {
      auto be = make_backend(b.name, threads);
      CHECK(check_backend(*be, b.name == "cuda") == op_table().size());
    }
  }
}
