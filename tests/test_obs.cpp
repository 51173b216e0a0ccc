// Structured OBS (prune/ziplm/obs.h) and its f64 linear algebra (kernels/cpu/linalg.h), checked against
// independent double-precision computations written here (Gaussian elimination, explicit
// activations), never against outputs of the code under test.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "base/thread_pool.h"
#include "kernels/cpu/linalg.h"
#include "prune/ziplm/obs.h"
#include "prune/ziplm/refit.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

using Mat = std::vector<double>;  // row-major

// Calibration-like inputs: a fixed distribution over `cols` channels (neighbouring channels
// correlated, a shared factor, scales spread over two orders of magnitude as in real
// activations); sample() draws cols × n tokens from it, so calibration and held-out sets match.
struct Source {
  std::vector<double> scale, load;
  Source(int cols, std::mt19937& rng) {
    std::normal_distribution<double> d(0.0, 1.0);
    for (int i = 0; i < cols; i++) {
      scale.push_back(std::exp(d(rng) * 0.8));
      load.push_back(0.7 * d(rng));
    }
  }
  Mat sample(int n, std::mt19937& rng) const {
    const int cols = int(scale.size());
    std::normal_distribution<double> d(0.0, 1.0);
    Mat X(size_t(cols) * size_t(n));
    std::vector<double> shared(static_cast<size_t>(n));
    for (auto& v : shared) v = d(rng);
    for (int i = 0; i < cols; i++)
      for (int t = 0; t < n; t++) {
        double v = d(rng) + load[size_t(i)] * shared[size_t(t)];
        if (i > 0) v += 0.6 * X[size_t(i - 1) * n + t] / scale[size_t(i - 1)];
        X[size_t(i) * n + t] = v;
      }
    for (int i = 0; i < cols; i++)
      for (int t = 0; t < n; t++) X[size_t(i) * n + t] *= scale[size_t(i)];
    return X;
  }
};

Mat make_x(int cols, int n, std::mt19937& rng) { return Source(cols, rng).sample(n, rng); }

// X·Xᵀ·scale.
Mat gram(const Mat& X, int cols, int n, double scale) {
  Mat G(size_t(cols) * size_t(cols));
  for (int i = 0; i < cols; i++)
    for (int j = 0; j <= i; j++) {
      double s = 0.0;
      for (int t = 0; t < n; t++) s += X[size_t(i) * n + t] * X[size_t(j) * n + t];
      G[size_t(i) * cols + j] = G[size_t(j) * cols + i] = s * scale;
    }
  return G;
}

std::vector<float> rand_w(int rows, int cols, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> w(size_t(rows) * size_t(cols));
  for (auto& v : w) v = d(rng);
  return w;
}

// Solves A·X = B (A n×n, B n×k) by Gaussian elimination with partial pivoting; returns X.
Mat gauss_solve(Mat A, Mat B, int n, int k) {
  for (int c = 0; c < n; c++) {
    int piv = c;
    for (int r = c + 1; r < n; r++)
      if (std::fabs(A[size_t(r) * n + c]) > std::fabs(A[size_t(piv) * n + c])) piv = r;
    for (int j = 0; j < n; j++) std::swap(A[size_t(c) * n + j], A[size_t(piv) * n + j]);
    for (int j = 0; j < k; j++) std::swap(B[size_t(c) * k + j], B[size_t(piv) * k + j]);
    for (int r = 0; r < n; r++) {
      if (r == c) continue;
      const double f = A[size_t(r) * n + c] / A[size_t(c) * n + c];
      for (int j = 0; j < n; j++) A[size_t(r) * n + j] -= f * A[size_t(c) * n + j];
      for (int j = 0; j < k; j++) B[size_t(r) * k + j] -= f * B[size_t(c) * k + j];
    }
  }
  for (int r = 0; r < n; r++)
    for (int j = 0; j < k; j++) B[size_t(r) * k + j] /= A[size_t(r) * n + r];
  return B;
}

// H + λ·mean(diag H)·I.
Mat dampen(Mat H, int n, double damp) {
  double mean = 0.0;
  for (int j = 0; j < n; j++) mean += H[size_t(j) * n + j];
  mean /= n;
  for (int j = 0; j < n; j++) H[size_t(j) * n + j] += damp * mean;
  return H;
}

// Columns of the kept structures.
std::vector<int> kept_cols(const std::vector<int>& kept, int g) {
  std::vector<int> c;
  for (int s : kept)
    for (int u = 0; u < g; u++) c.push_back(s * g + u);
  return c;
}

// W'_padded − W in double.
Mat delta(const std::vector<float>& W, const std::vector<float>& wk, int rows, int cols, int g,
          const std::vector<int>& kept) {
  const std::vector<int> kc = kept_cols(kept, g);
  Mat D(size_t(rows) * size_t(cols));
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) D[size_t(r) * cols + c] = -double(W[size_t(r) * cols + c]);
    for (size_t j = 0; j < kc.size(); j++)
      D[size_t(r) * cols + kc[j]] += double(wk[size_t(r) * kc.size() + j]);
  }
  return D;
}

// Pure-double tr(ΔW·G·ΔWᵀ) / tr(W·G·Wᵀ).
double ref_error(const std::vector<float>& W, const std::vector<float>& wk, int rows, int cols, int g,
                 const std::vector<int>& kept, const Mat& G) {
  const Mat D = delta(W, wk, rows, cols, g, kept);
  auto quad = [&](auto at) {
    double s = 0.0;
    for (int r = 0; r < rows; r++)
      for (int i = 0; i < cols; i++) {
        double t = 0.0;
        for (int j = 0; j < cols; j++) t += G[size_t(i) * cols + j] * at(r, j);
        s += at(r, i) * t;
      }
    return s;
  };
  const double num = quad([&](int r, int c) { return D[size_t(r) * cols + c]; });
  const double den = quad([&](int r, int c) { return double(W[size_t(r) * cols + c]); });
  return num / den;
}

std::vector<int> every(int step, int n) {
  std::vector<int> l;
  for (int k = 0; k <= n; k += step) l.push_back(k);
  if (l.back() != n) l.push_back(n);
  return l;
}

}  // namespace

TEST_CASE("obs: linalg spd_inverse and sub_matmul against Gaussian elimination") {
  std::mt19937 rng(7);
  for (int n : {1, 5, 64, 150}) {
    const Mat X = make_x(n, 2 * n + 10, rng);
    const Mat H = dampen(gram(X, n, 2 * n + 10, 1.0), n, 0.01);
    Mat I(size_t(n) * size_t(n), 0.0);
    for (int i = 0; i < n; i++) I[size_t(i) * n + i] = 1.0;
    const Mat ref = gauss_solve(H, I, n, n);
    Mat A = H;
    ThreadPool pool(2);
    REQUIRE(linalg::spd_inverse(A.data(), n, &pool));
    double err = 0.0, mx = 0.0;
    for (size_t i = 0; i < A.size(); i++) {
      err = std::max(err, std::fabs(A[i] - ref[i]));
      mx = std::max(mx, std::fabs(ref[i]));
    }
    INFO("n = " << n);
    CHECK(err / mx < 1e-9);
  }
  // Not positive definite: detected in a later pivot block and in the small path.
  Mat B(size_t(100) * 100, 0.0);
  for (int i = 0; i < 100; i++) B[size_t(i) * 100 + i] = i == 90 ? -1.0 : 2.0;
  CHECK_FALSE(linalg::spd_inverse(B.data(), 100));
  Mat S = {1.0, 2.0, 2.0, 1.0};
  CHECK_FALSE(linalg::spd_inverse_small(S.data(), 2));
  // sub_matmul on odd shapes with strides, threaded, against a triple loop.
  const int m = 37, n = 29, k = 5;
  std::normal_distribution<double> d;
  Mat C(size_t(m) * 31), A(size_t(m) * 7), Bm(size_t(k) * 33);
  for (auto* v : {&C, &A, &Bm})
    for (auto& x : *v) x = d(rng);
  Mat Cref = C;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      for (int p = 0; p < k; p++) Cref[size_t(i) * 31 + j] -= A[size_t(i) * 7 + p] * Bm[size_t(p) * 33 + j];
  ThreadPool pool(2);
  linalg::sub_matmul(C.data(), 31, A.data(), 7, Bm.data(), 33, m, n, k, &pool);
  double err = 0.0;
  for (size_t i = 0; i < C.size(); i++) err = std::max(err, std::fabs(C[i] - Cref[i]));
  CHECK(err < 1e-12);
}

namespace {

// The dampened least-squares fit of W·X by the kept columns K: W'_K = (W·Hd)_{:,K}·(Hd_KK)⁻¹,
// i.e. Hd_KK·W'_Kᵀ = ((W·Hd)_{:,K})ᵀ, solved by Gaussian elimination. rows × |K|.
std::vector<float> ridge(const std::vector<float>& W, const Mat& H, int rows, int cols, int g,
                         const std::vector<int>& kept, double damp) {
  const Mat Hd = dampen(H, cols, damp);
  const std::vector<int> K = kept_cols(kept, g);
  const int k = int(K.size());
  Mat HKK(size_t(k) * size_t(k)), rhs(size_t(k) * size_t(rows), 0.0);
  for (int a = 0; a < k; a++)
    for (int b = 0; b < k; b++) HKK[size_t(a) * k + b] = Hd[size_t(K[size_t(a)]) * cols + K[size_t(b)]];
  for (int r = 0; r < rows; r++)
    for (int a = 0; a < k; a++)
      for (int c = 0; c < cols; c++)
        rhs[size_t(a) * rows + r] += double(W[size_t(r) * cols + c]) * Hd[size_t(c) * cols + K[size_t(a)]];
  const Mat sol = gauss_solve(HKK, rhs, k, rows);
  std::vector<float> out(size_t(rows) * size_t(k));
  for (int r = 0; r < rows; r++)
    for (int a = 0; a < k; a++) out[size_t(r) * k + a] = float(sol[size_t(a) * rows + r]);
  return out;
}

}  // namespace

TEST_CASE("obs: OBS removal equals the dampened ridge-regression optimum") {
  std::mt19937 rng(1);
  const int rows = 24, cols = 40, n = 200;
  for (int g : {4, 1}) {
    INFO("group size " << g);
    const Mat X = make_x(cols, n, rng);
    const Mat H = gram(X, cols, n, 2.0 / n);
    const std::vector<float> W = rand_w(rows, cols, rng);
    const int ns = cols / g;
    std::vector<int> perm(static_cast<size_t>(ns));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const std::vector<int> gone(perm.begin(), perm.begin() + ns * 6 / 10);  // random order
    std::vector<int> kept(perm.begin() + ns * 6 / 10, perm.end());
    std::sort(kept.begin(), kept.end());
    const std::vector<float> got = obs_remove(W.data(), rows, cols, g, H.data(), gone, 0.01);
    const std::vector<float> want = ridge(W, H, rows, cols, g, kept, 0.01);
    REQUIRE(got.size() == want.size());
    CHECK(ztest::max_rel_err(got, want) < 1e-4);
    // The greedy, several structures per step (the joint group formulas for g > 1, the lazy
    // greedy for g = 1), with H⁻¹ recomputed on the way: whatever set it keeps, its weights
    // there are the ridge optimum, at every level.
    for (int damp_i = 0; damp_i < 2; damp_i++) {
      ObsOptions o;
      o.block = 3;
      o.recompute_every = 4;
      o.damp = damp_i == 0 ? 0.01 : 0.1;
      const ObsResult r = obs_prune(W.data(), rows, cols, g, H.data(), every(2, ns), o);
      for (const ObsLevel& lv : r.levels) {
        if (lv.kept.empty()) continue;
        INFO("damp " << o.damp << " level " << lv.removed);
        CHECK(ztest::max_rel_err(lv.w, ridge(W, H, rows, cols, g, lv.kept, o.damp)) < 1e-4);
      }
    }
  }
}

TEST_CASE("obs: blocked removal matches one at a time") {
  std::mt19937 rng(2);
  const int rows = 64, cols = 256, n = 1024;
  const Source src(cols, rng);
  const Mat X = src.sample(n, rng), Xh = src.sample(n, rng);
  const Mat H = gram(X, cols, n, 2.0 / n), G = gram(Xh, cols, n, 1.0);
  const std::vector<float> W = rand_w(rows, cols, rng);
  const std::vector<int> levels = every(32, cols);
  ThreadPool pool(2);
  ObsOptions o1, o32;
  o32.block = 32;
  o32.pool = &pool;
  const ObsResult r1 = obs_prune(W.data(), rows, cols, 1, H.data(), levels, o1);
  const ObsResult r32 = obs_prune(W.data(), rows, cols, 1, H.data(), levels, o32);
  // The blocked path applies the same greedy steps lazily: same sequence, same weights.
  CHECK(r1.order == r32.order);
  REQUIRE(r1.levels.size() == levels.size());
  REQUIRE(r32.levels.size() == levels.size());
  OutputError err(W.data(), rows, cols, G.data(), &pool);
  for (size_t i = 0; i < levels.size(); i++) {
    const double e1 = err(r1.levels[i].w.data(), 1, r1.levels[i].kept);
    const double e32 = err(r32.levels[i].w.data(), 1, r32.levels[i].kept);
    INFO("level " << levels[i] << ": one at a time " << e1 << ", blocked " << e32);
    if (std::max(e1, e32) > 1e-6) CHECK(std::fabs(e32 - e1) <= 0.02 * e1);
    CHECK(std::fabs(e32 - e1) <= 1e-6 * e1);
    CHECK(ztest::max_rel_err(r32.levels[i].w, r1.levels[i].w) < 1e-5);
  }
}

TEST_CASE("obs: OBS beats no-update and magnitude on held-out data") {
  std::mt19937 rng(3);
  const int rows = 48, cols = 96, n = 1500;
  const Source src(cols, rng);
  const Mat X = src.sample(n, rng), Xh = src.sample(n, rng);
  const Mat H = gram(X, cols, n, 2.0 / n), G = gram(Xh, cols, n, 1.0);
  const std::vector<float> W = rand_w(rows, cols, rng);
  for (int g : {1, 8}) {
    const int ns = cols / g;
    const std::vector<int> levels = every(g == 1 ? 8 : 1, ns);
    ObsOptions o;
    o.block = g == 1 ? 4 : 1;
    const ObsResult obs = obs_prune(W.data(), rows, cols, g, H.data(), levels, o);
    o.mode = ObsMode::ObsNoUpdate;
    const ObsResult noup = obs_prune(W.data(), rows, cols, g, H.data(), levels, o);
    o.mode = ObsMode::Magnitude;
    const ObsResult mag = obs_prune(W.data(), rows, cols, g, nullptr, levels, o);
    for (size_t i = 0; i < levels.size(); i++) {
      const double eo = ref_error(W, obs.levels[i].w, rows, cols, g, obs.levels[i].kept, G);
      const double en = ref_error(W, noup.levels[i].w, rows, cols, g, noup.levels[i].kept, G);
      const double em = ref_error(W, mag.levels[i].w, rows, cols, g, mag.levels[i].kept, G);
      INFO("group " << g << " level " << levels[i] << ": obs " << eo << ", no update " << en << ", magnitude " << em);
      CHECK(eo <= en * (1 + 1e-9) + 1e-12);
      CHECK(eo <= em * (1 + 1e-9) + 1e-12);
      if (levels[i] > 0 && levels[i] < ns) CHECK(eo < en);  // strictly better in between
    }
  }
}

TEST_CASE("obs: relative_error (f32 matmul) equals the double reference and explicit activations") {
  std::mt19937 rng(4);
  const int rows = 40, cols = 120, n = 600, g = 4;
  const Source src(cols, rng);
  const Mat X = src.sample(n, rng), Xh = src.sample(n, rng);
  const Mat H = gram(X, cols, n, 2.0 / n), G = gram(Xh, cols, n, 1.0);
  const std::vector<float> W = rand_w(rows, cols, rng);
  ObsOptions o;
  const ObsResult obs = obs_prune(W.data(), rows, cols, g, H.data(), {0, 3, 15, 29, 30}, o);
  o.mode = ObsMode::Magnitude;
  const ObsResult mag = obs_prune(W.data(), rows, cols, g, nullptr, {15}, o);
  ThreadPool pool(2);
  auto check = [&](const ObsLevel& lv) {
    const double fast = relative_error(W.data(), lv.w.data(), rows, cols, g, lv.kept, G.data(), &pool);
    const double fast1 = relative_error(W.data(), lv.w.data(), rows, cols, g, lv.kept, G.data(), nullptr);
    const double ref = ref_error(W, lv.w, rows, cols, g, lv.kept, G);
    // Σ‖W'x − Wx‖² / Σ‖Wx‖² over the held-out tokens, activations written out.
    const Mat D = delta(W, lv.w, rows, cols, g, lv.kept);
    double num = 0.0, den = 0.0;
    for (int t = 0; t < n; t++)
      for (int r = 0; r < rows; r++) {
        double dy = 0.0, y = 0.0;
        for (int c = 0; c < cols; c++) {
          dy += D[size_t(r) * cols + c] * Xh[size_t(c) * n + t];
          y += double(W[size_t(r) * cols + c]) * Xh[size_t(c) * n + t];
        }
        num += dy * dy;
        den += y * y;
      }
    INFO("removed " << lv.removed << ": fast " << fast << ", reference " << ref << ", activations " << num / den);
    CHECK(std::fabs(ref - num / den) <= 1e-9 * ref + 1e-15);
    if (lv.removed == 0) {
      CHECK(fast == 0.0);
    } else {
      CHECK(std::fabs(fast - ref) <= 1e-4 * ref);
      CHECK(std::fabs(fast1 - ref) <= 1e-4 * ref);
    }
  };
  for (const ObsLevel& lv : obs.levels) check(lv);
  check(mag.levels[0]);
  CHECK(std::fabs(relative_error(W.data(), nullptr, rows, cols, g, {}, G.data()) - 1.0) < 1e-5);
}

TEST_CASE("obs: a dead input column is harmless and removed first") {
  std::mt19937 rng(5);
  const int rows = 16, cols = 32, n = 300, dead = 11;
  Mat X = make_x(cols, n, rng);
  for (int t = 0; t < n; t++) X[size_t(dead) * n + t] = 0.0;
  const Mat H = gram(X, cols, n, 2.0 / n);
  REQUIRE(H[size_t(dead) * cols + dead] == 0.0);
  const std::vector<float> W = rand_w(rows, cols, rng);
  for (int block : {1, 4}) {
    ObsOptions o;
    o.block = block;
    const ObsResult r = obs_prune(W.data(), rows, cols, 1, H.data(), {0, 1, 8, 32}, o);
    REQUIRE(r.order.size() == 32);
    CHECK(r.order[0] == dead);
    CHECK(r.levels[1].eps_sum == 0.0);
    // Its weights carried nothing and there is nothing to compensate: the other columns stay.
    const ObsLevel& l1 = r.levels[1];
    REQUIRE(l1.kept.size() == size_t(cols - 1));
    for (int row = 0; row < rows; row++)
      for (int j = 0; j < cols - 1; j++) CHECK(l1.w[size_t(row) * (cols - 1) + j] == W[size_t(row) * cols + l1.kept[size_t(j)]]);
    for (const ObsLevel& lv : r.levels)
      for (float v : lv.w) CHECK(std::isfinite(v));
  }
  // Inside a head (group 4): no failure, finite weights, that column zeroed at level 0.
  const ObsResult r = obs_prune(W.data(), rows, cols, 4, H.data(), {0, 2, 8}, ObsOptions{});
  for (int row = 0; row < rows; row++) CHECK(r.levels[0].w[size_t(row) * cols + dead] == 0.0f);
  for (float v : r.levels[1].w) CHECK(std::isfinite(v));
}

TEST_CASE("obs: levels, kept sets and the greedy order") {
  std::mt19937 rng(6);
  const int rows = 12, cols = 40, n = 200, g = 4, ns = 10;
  const Mat X = make_x(cols, n, rng);
  const Mat H = gram(X, cols, n, 2.0 / n);
  const std::vector<float> W = rand_w(rows, cols, rng);
  const std::vector<int> levels = {0, 3, 5, 10};
  for (ObsMode mode : {ObsMode::Obs, ObsMode::ObsNoUpdate, ObsMode::Magnitude})
    for (int block : {1, 4}) {
      ObsOptions o;
      o.mode = mode;
      o.block = block;
      o.recompute_every = 2;
      const ObsResult r = obs_prune(W.data(), rows, cols, g, H.data(), levels, o);
      INFO("mode " << int(mode) << " block " << block);
      REQUIRE(r.levels.size() == levels.size());
      REQUIRE(r.order.size() == size_t(ns));
      std::vector<int> sorted = r.order;
      std::sort(sorted.begin(), sorted.end());
      for (int i = 0; i < ns; i++) CHECK(sorted[size_t(i)] == i);
      double prev_eps = -1.0;
      for (size_t i = 0; i < levels.size(); i++) {
        const ObsLevel& lv = r.levels[i];
        CHECK(lv.removed == levels[i]);
        REQUIRE(lv.kept.size() == size_t(ns - levels[i]));
        CHECK(lv.w.size() == size_t(rows) * lv.kept.size() * g);
        // kept = the complement of the first `removed` structures of the order, ascending.
        std::vector<int> want(r.order.begin() + levels[i], r.order.end());
        std::sort(want.begin(), want.end());
        CHECK(lv.kept == want);
        CHECK(lv.eps_sum >= prev_eps);
        prev_eps = lv.eps_sum;
        if (mode != ObsMode::Obs) {  // no update: the original columns, just fewer
          const std::vector<int> kc = kept_cols(lv.kept, g);
          for (int row = 0; row < rows; row++)
            for (size_t j = 0; j < kc.size(); j++)
              CHECK(lv.w[size_t(row) * kc.size() + j] == W[size_t(row) * cols + kc[j]]);
        }
      }
      CHECK(r.levels[0].w == W);
      CHECK(r.levels.back().kept.empty());
      CHECK(r.levels.back().w.empty());
      CHECK(r.levels[0].eps_sum == 0.0);
    }
  // Magnitude order: ascending column-group norms.
  ObsOptions o;
  o.mode = ObsMode::Magnitude;
  const ObsResult r = obs_prune(W.data(), rows, cols, g, nullptr, {ns}, o);
  std::vector<double> norm(static_cast<size_t>(ns), 0.0);
  for (int row = 0; row < rows; row++)
    for (int c = 0; c < cols; c++) norm[size_t(c / g)] += double(W[size_t(row) * cols + c]) * W[size_t(row) * cols + c];
  for (int i = 0; i + 1 < ns; i++) CHECK(norm[size_t(r.order[size_t(i)])] <= norm[size_t(r.order[size_t(i + 1)])]);
  // Bad requests.
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, g, H.data(), {3, 3}, ObsOptions{}), Error);
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, g, H.data(), {11}, ObsOptions{}), Error);
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, 3, H.data(), {0}, ObsOptions{}), Error);
  CHECK_THROWS_AS(obs_remove(W.data(), rows, cols, g, H.data(), {2, 2}), Error);
}

TEST_CASE("obs: a given removal order (another method's ranking) keeps its complement, updated or not") {
  std::mt19937 rng(7);
  const int rows = 16, cols = 48, n = 300;
  const Mat X = make_x(cols, n, rng);
  const Mat H = gram(X, cols, n, 2.0 / n);
  const std::vector<float> W = rand_w(rows, cols, rng);
  for (int g : {4, 1}) {
    INFO("group size " << g);
    const int ns = cols / g;
    std::vector<int> order(static_cast<size_t>(ns));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const std::vector<int> levels = every(g == 1 ? 8 : 3, ns);
    for (ObsMode mode : {ObsMode::Obs, ObsMode::ObsNoUpdate}) {
      ObsOptions o;
      o.mode = mode, o.block = 5, o.recompute_every = 7, o.order = order;
      const ObsResult r = obs_prune(W.data(), rows, cols, g, H.data(), levels, o);
      REQUIRE(r.levels.size() == levels.size());
      CHECK(std::equal(r.order.begin(), r.order.end(), order.begin()));
      for (const ObsLevel& lv : r.levels) {
        INFO("level " << lv.removed);
        std::vector<int> want(order.begin() + lv.removed, order.end());
        std::sort(want.begin(), want.end());
        CHECK(lv.kept == want);
        if (lv.kept.empty()) continue;
        if (mode == ObsMode::Obs) {
          CHECK(ztest::max_rel_err(lv.w, ridge(W, H, rows, cols, g, lv.kept, o.damp)) < 1e-4);
        } else {  // the dense columns, untouched
          std::vector<float> cols_kept;
          for (int rr = 0; rr < rows; rr++)
            for (int s : lv.kept)
              for (int u = 0; u < g; u++) cols_kept.push_back(W[size_t(rr) * cols + s * g + u]);
          CHECK(lv.w == cols_kept);
        }
      }
    }
  }
  // An order that is too short, repeats a structure or leaves the range is refused.
  ObsOptions o;
  o.order = {0, 1, 1, 2};
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, 1, H.data(), {0, 4}, o), Error);
  o.order = {0, 1};
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, 1, H.data(), {0, 4}, o), Error);
  o.order = {0, 1, 2, 99};
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, 1, H.data(), {0, 4}, o), Error);
  o.order = {0, 1, 2, 3}, o.mode = ObsMode::Magnitude;
  CHECK_THROWS_AS(obs_prune(W.data(), rows, cols, 1, H.data(), {0, 4}, o), Error);
}

TEST_CASE("obs: ridge_refit (the OBS update for a kept set chosen elsewhere) equals the closed form and obs_remove") {
  std::mt19937 rng(11);
  const int rows = 20, cols = 60, n = 400;
  const Mat X = make_x(cols, n, rng);
  Mat H = gram(X, cols, n, 2.0 / n);
  const std::vector<float> W = rand_w(rows, cols, rng);
  ThreadPool pool(2);
  for (int g : {5, 1}) {
    INFO("group size " << g);
    const int ns = cols / g;
    std::vector<int> perm(static_cast<size_t>(ns));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int> kept(perm.begin(), perm.begin() + ns / 3), gone(perm.begin() + ns / 3, perm.end());
    std::sort(kept.begin(), kept.end());
    for (double damp : {0.01, 0.1}) {
      const std::vector<float> got = ridge_refit(W.data(), rows, cols, g, H.data(), kept, damp, damp > 0.05 ? &pool : nullptr);
      CHECK(ztest::max_rel_err(got, ridge(W, H, rows, cols, g, kept, damp)) < 1e-5);
      CHECK(ztest::max_rel_err(got, obs_remove(W.data(), rows, cols, g, H.data(), gone, damp)) < 1e-4);
    }
    // Everything kept: W·Hd·Hd⁻¹ = W.
    std::vector<int> all(static_cast<size_t>(ns));
    std::iota(all.begin(), all.end(), 0);
    CHECK(ztest::max_rel_err(ridge_refit(W.data(), rows, cols, g, H.data(), all), W) < 1e-5);
  }
  // A dead input (H_jj = 0: the channel never fires) as obs_prune treats it: weight dropped.
  Mat Hdead = H;
  for (int j = 0; j < cols; j++) Hdead[size_t(3) * cols + j] = Hdead[size_t(j) * cols + 3] = 0.0;
  std::vector<float> Wdead = W;
  for (int r = 0; r < rows; r++) Wdead[size_t(r) * cols + 3] = 0.0f;
  const std::vector<int> kept = {0, 1, 2, 3, 10, 11, 40};
  CHECK(ztest::max_rel_err(ridge_refit(W.data(), rows, cols, 1, Hdead.data(), kept),
                           ridge_refit(Wdead.data(), rows, cols, 1, Hdead.data(), kept)) < 1e-6);
  // Bad input: unsorted, out of range, empty kept sets; a group size that does not divide.
  CHECK_THROWS_AS(ridge_refit(W.data(), rows, cols, 1, H.data(), {3, 2}), Error);
  CHECK_THROWS_AS(ridge_refit(W.data(), rows, cols, 1, H.data(), {0, 60}), Error);
  CHECK_THROWS_AS(ridge_refit(W.data(), rows, cols, 1, H.data(), {}), Error);
  CHECK_THROWS_AS(ridge_refit(W.data(), rows, cols, 7, H.data(), {0}), Error);
}
