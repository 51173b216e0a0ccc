#include "prune/ziplm/obs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/error.h"
#include "engine/tensor.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/linalg.h"

namespace zip {

namespace {

// The state of one greedy run, kept compact: W (rows × m) and Hinv (m × m) hold only the columns
// of the surviving structures (alive, ascending), m = alive.size()·g. Dropping a structure's
// rows/columns from Hinv after its downdate is the "mask" (those entries are ~0 by then).
class Solver {
 public:
  Solver(const float* W, int rows, int cols, int g, const double* H, double damp, bool need_hinv, ThreadPool* pool)
      : rows_(rows), cols_(cols), g_(g), pool_(pool) {
    ZIP_CHECK(rows > 0 && cols > 0 && g > 0, "obs: bad shape {}×{} with group size {}", rows, cols, g);
    ZIP_CHECK(cols % g == 0, "obs: group size {} does not divide {} columns", g, cols);
    ZIP_CHECK(damp >= 0.0 && std::isfinite(damp), "obs: dampening must be ≥ 0, got {}", damp);
    const size_t nw = size_t(rows) * size_t(cols);
    W_.resize(nw);
    for (size_t i = 0; i < nw; i++) {
      ZIP_CHECK(std::isfinite(W[i]), "obs: weight {} is not finite", i);
      W_[i] = W[i];
    }
    alive_.resize(static_cast<size_t>(cols / g));
    std::iota(alive_.begin(), alive_.end(), 0);
    damp_ = damp;
    if (need_hinv) prepare(H);
  }

  int m() const { return int(alive_.size()) * g_; }
  int n_alive() const { return int(alive_.size()); }
  const std::vector<int>& alive() const { return alive_; }
  double damp() const { return damp_; }

  std::vector<float> weights_f32() const {
    std::vector<float> w(W_.size());
    for (size_t i = 0; i < w.size(); i++) w[i] = float(W_[i]);
    return w;
  }

  // Score of every surviving structure: ε with the current Hinv, or ‖W_S‖² when !use_hinv.
  std::vector<double> scores(bool use_hinv) const {
    const int m = this->m(), na = n_alive();
    std::vector<double> colsq(static_cast<size_t>(m), 0.0);
    for (int r = 0; r < rows_; r++) {
      const double* w = W_.data() + size_t(r) * m;
      for (int j = 0; j < m; j++) colsq[size_t(j)] += w[j] * w[j];
    }
    std::vector<double> s(static_cast<size_t>(na), 0.0);
    if (!use_hinv || g_ == 1) {
      for (int p = 0; p < na; p++) {
        double t = 0.0;
        for (int u = 0; u < g_; u++) t += colsq[size_t(p * g_ + u)];
        if (use_hinv) {
          const double d = Hinv_[size_t(p) * m + p];
          ZIP_CHECK(d > 0.0, "obs: H⁻¹ lost positive definiteness (diagonal {}); raise the dampening", d);
          t /= d;
        }
        s[size_t(p)] = t;
      }
      return s;
    }
    std::vector<int> S(static_cast<size_t>(g_));
    for (int p = 0; p < na; p++) {
      std::iota(S.begin(), S.end(), p * g_);
      s[size_t(p)] = group_eps(S, nullptr, nullptr);
    }
    return s;
  }

  // Removes the structures at compact positions `pos` (ascending) jointly; returns their ε
  // (‖W_S‖² when !use_hinv). update_w: apply the OBS compensation to the other columns.
  double remove(const std::vector<int>& pos, bool use_hinv, bool update_w) {
    std::vector<int> S;
    for (int p : pos)
      for (int u = 0; u < g_; u++) S.push_back(p * g_ + u);
    double eps = 0.0;
    if (!use_hinv) {
      for (int r = 0; r < rows_; r++)
        for (int j : S) eps += W_[size_t(r) * m() + j] * W_[size_t(r) * m() + j];
    } else {
      std::vector<double> M, A;
      eps = group_eps(S, &M, &A);
      const int m = this->m(), s = int(S.size());
      std::vector<double> Bs(size_t(s) * size_t(m));  // Hinv_{S,:}
      for (int u = 0; u < s; u++)
        std::memcpy(&Bs[size_t(u) * m], &Hinv_[size_t(S[size_t(u)]) * m], sizeof(double) * size_t(m));
      // W ← W − W_S·[Hinv_SS]⁻¹·Hinv_{S,:}   (A = W_S·M)
      if (update_w) linalg::sub_matmul(W_.data(), m, A.data(), s, Bs.data(), m, rows_, m, s, pool_);
      // Hinv ← Hinv − Hinv_{:,S}·[Hinv_SS]⁻¹·Hinv_{S,:}   (T = Hinv_{:,S}·M)
      std::vector<double> T(size_t(m) * size_t(s), 0.0);
      for (int i = 0; i < m; i++) {
        const double* hi = &Hinv_[size_t(i) * m];
        double* ti = &T[size_t(i) * s];
        for (int u = 0; u < s; u++) {
          const double a = hi[S[size_t(u)]];
          const double* mu = &M[size_t(u) * s];
          for (int v = 0; v < s; v++) ti[v] += a * mu[v];
        }
      }
      linalg::sub_matmul(Hinv_.data(), m, T.data(), s, Bs.data(), m, m, m, s, pool_);
    }
    drop(pos, use_hinv);
    return eps;
  }

  // Single columns (g = 1): B greedy steps, each exactly the one-at-a-time step (score all,
  // remove the cheapest, update W and Hinv), with the updates applied lazily: inside the block
  // Hinv_cur = Hinv − Uᵀ·U and W_cur = W − Aᵀ·U (row s of U / A from step s), and only what
  // scoring needs is kept current — diag(Hinv_cur) and the column norms ‖W_cur[:,j]‖². The
  // rank-B products are applied at the end as two matmul-like updates. Appends the removed
  // structures to `order`; returns Σ ε.
  double remove_greedy(int B, bool update_w, std::vector<int>& order) {
    const int m = this->m(), R = rows_;
    std::vector<double> d(static_cast<size_t>(m)), c(static_cast<size_t>(m), 0.0), q(static_cast<size_t>(m));
    for (int j = 0; j < m; j++) d[size_t(j)] = Hinv_[size_t(j) * m + j];
    for (int r = 0; r < R; r++) {
      const double* w = &W_[size_t(r) * m];
      for (int j = 0; j < m; j++) c[size_t(j)] += w[j] * w[j];
    }
    std::vector<double> U(size_t(B) * size_t(m)), A(size_t(B) * size_t(R));
    std::vector<int> pos;
    std::vector<char> taken(static_cast<size_t>(m), 0);
    double eps_total = 0.0;
    for (int s = 0; s < B; s++) {
      int k = -1;
      double best = 0.0;
      for (int j = 0; j < m; j++) {
        if (taken[size_t(j)]) continue;
        ZIP_CHECK(d[size_t(j)] > 0.0, "obs: H⁻¹ lost positive definiteness (diagonal {}); raise the dampening",
                  d[size_t(j)]);
        const double e = c[size_t(j)] / d[size_t(j)];
        if (k < 0 || e < best) k = j, best = e;  // ties: the lower index
      }
      eps_total += best;
      // u = Hinv_cur[k,:] / sqrt(Hinv_cur[k,k]).
      double* u = &U[size_t(s) * m];
      std::memcpy(u, &Hinv_[size_t(k) * m], sizeof(double) * size_t(m));
      for (int p = 0; p < s; p++) {
        const double f = U[size_t(p) * m + k];
        const double* up = &U[size_t(p) * m];
        for (int j = 0; j < m; j++) u[j] -= f * up[j];
      }
      ZIP_CHECK(u[k] > 0.0, "obs: H⁻¹ lost positive definiteness (pivot {}); raise the dampening", u[k]);
      const double inv = 1.0 / std::sqrt(u[k]);
      for (int j = 0; j < m; j++) u[j] *= inv;
      if (update_w) {
        // a = W_cur[:,k] / sqrt(Hinv_cur[k,k]); then ‖W_cur[:,j] − a·u_j‖² from q_j = aᵀ·W_cur[:,j].
        double* a = &A[size_t(s) * R];
        for (int r = 0; r < R; r++) a[r] = W_[size_t(r) * m + k];
        for (int p = 0; p < s; p++) {
          const double f = U[size_t(p) * m + k];
          const double* ap = &A[size_t(p) * R];
          for (int r = 0; r < R; r++) a[r] -= f * ap[r];
        }
        double aa = 0.0;
        for (int r = 0; r < R; r++) {
          a[r] *= inv;
          aa += a[r] * a[r];
        }
        at_w(a, q.data());  // q = aᵀ·W
        for (int p = 0; p < s; p++) {
          double f = 0.0;
          const double* ap = &A[size_t(p) * R];
          for (int r = 0; r < R; r++) f += a[r] * ap[r];
          const double* up = &U[size_t(p) * m];
          for (int j = 0; j < m; j++) q[size_t(j)] -= f * up[j];
        }
        for (int j = 0; j < m; j++)
          c[size_t(j)] = std::max(0.0, c[size_t(j)] - 2.0 * u[j] * q[size_t(j)] + u[j] * u[j] * aa);
      }
      for (int j = 0; j < m; j++) d[size_t(j)] -= u[j] * u[j];
      taken[size_t(k)] = 1;
      pos.push_back(k);
      order.push_back(alive_[size_t(k)]);
    }
    // Hinv −= Uᵀ·U; W −= Aᵀ·U.
    std::vector<double> Ut(size_t(m) * size_t(B));
    for (int s = 0; s < B; s++)
      for (int j = 0; j < m; j++) Ut[size_t(j) * B + s] = U[size_t(s) * m + j];
    linalg::sub_matmul(Hinv_.data(), m, Ut.data(), B, U.data(), m, m, m, B, pool_);
    if (update_w) {
      std::vector<double> At(size_t(R) * size_t(B));
      for (int s = 0; s < B; s++)
        for (int r = 0; r < R; r++) At[size_t(r) * B + s] = A[size_t(s) * R + r];
      linalg::sub_matmul(W_.data(), m, At.data(), B, U.data(), m, R, m, B, pool_);
    }
    std::sort(pos.begin(), pos.end());
    drop(pos, true);
    return eps_total;
  }

  // Hinv = (dampened H restricted to the survivors)⁻¹, to stop drift from repeated downdates.
  void recompute_hinv() {
    const int m = this->m();
    Hinv_.assign(size_t(m) * size_t(m), 0.0);
    for (int i = 0; i < m; i++) {
      const size_t oi = size_t(orig_col(i));
      for (int j = 0; j < m; j++) Hinv_[size_t(i) * m + j] = Hd_[oi * size_t(cols_) + size_t(orig_col(j))];
    }
    ZIP_CHECK(linalg::spd_inverse(Hinv_.data(), m, pool_),
              "obs: the dampened Hessian on the {} surviving columns is not positive definite", m);
  }

 private:
  int orig_col(int c) const { return alive_[size_t(c / g_)] * g_ + c % g_; }

  // q[j] = Σ_r a[r]·W[r,j] over the current W (rows × m): the one per-step pass over W, so its
  // columns are split over the pool.
  void at_w(const double* a, double* q) const {
    const int m = this->m(), R = rows_;
    auto range = [&](int j0, int j1) {
      std::fill(q + j0, q + j1, 0.0);
      for (int r = 0; r < R; r++) {
        const double f = a[r];
        const double* w = &W_[size_t(r) * m];
        for (int j = j0; j < j1; j++) q[j] += f * w[j];
      }
    };
    if (!pool_ || pool_->size() == 1 || double(R) * m < 128 * 1024) return range(0, m);
    pool_->run([&](int t, int nt) {
      size_t b, e;
      ThreadPool::split(size_t((m + 7) / 8), t, nt, &b, &e);
      const int j0 = int(b) * 8, j1 = std::min(m, int(e) * 8);
      if (j0 < j1) range(j0, j1);
    });
  }

  // Dead columns, dampening, first inverse. λ is raised ×10 (up to 3 times) if H + λ·mean·I is
  // not numerically positive definite (e.g. an f32-accumulated H slightly indefinite).
  void prepare(const double* H) {
    ZIP_CHECK(H != nullptr, "obs: a Hessian is needed for OBS scores");
    const size_t n = size_t(cols_);
    std::vector<double> H0(H, H + n * n);
    for (size_t i = 0; i < n * n; i++) ZIP_CHECK(std::isfinite(H0[i]), "obs: Hessian entry {} is not finite", i);
    double mean = 0.0;
    for (size_t j = 0; j < n; j++) {
      double& d = H0[j * n + j];
      ZIP_CHECK(d >= 0.0, "obs: Hessian diagonal {} is negative ({})", j, d);
      if (d == 0.0) {  // dead input: nothing flows through this column
        d = 1.0;
        for (int r = 0; r < rows_; r++) W_[size_t(r) * n + j] = 0.0;
      }
      mean += d;
    }
    mean /= double(n);
    for (int attempt = 0;; attempt++) {
      Hd_ = H0;
      for (size_t j = 0; j < n; j++) Hd_[j * n + j] += damp_ * mean;
      Hinv_ = Hd_;
      if (linalg::spd_inverse(Hinv_.data(), cols_, pool_)) return;
      ZIP_CHECK(attempt < 3, "obs: the Hessian is not positive definite even with dampening {}", damp_);
      damp_ = damp_ > 0.0 ? damp_ * 10.0 : 1e-6;
    }
  }

  // ε_S = tr(W_S·[Hinv_SS]⁻¹·W_Sᵀ) for compact columns S; optionally returns M = [Hinv_SS]⁻¹
  // (s × s) and A = W_S·M (rows × s).
  double group_eps(const std::vector<int>& S, std::vector<double>* M_out, std::vector<double>* A_out) const {
    const int m = this->m(), s = int(S.size());
    std::vector<double> M(size_t(s) * size_t(s));
    for (int u = 0; u < s; u++)
      for (int v = 0; v < s; v++) M[size_t(u) * s + v] = Hinv_[size_t(S[size_t(u)]) * m + S[size_t(v)]];
    ZIP_CHECK(linalg::spd_inverse(M.data(), s, pool_),
              "obs: a diagonal block of H⁻¹ lost positive definiteness; raise the dampening");
    std::vector<double> A(size_t(rows_) * size_t(s), 0.0);
    double eps = 0.0;
    for (int r = 0; r < rows_; r++) {
      const double* w = &W_[size_t(r) * m];
      double* a = &A[size_t(r) * s];
      for (int u = 0; u < s; u++) {
        const double x = w[S[size_t(u)]];
        const double* mu = &M[size_t(u) * s];
        for (int v = 0; v < s; v++) a[v] += x * mu[v];
      }
      for (int u = 0; u < s; u++) eps += a[u] * w[S[size_t(u)]];
    }
    if (M_out) *M_out = std::move(M);
    if (A_out) *A_out = std::move(A);
    return eps;
  }

  // Drops the structures at compact positions `pos` from alive, W and (if kept) Hinv, in place:
  // every destination index precedes its source, so a forward copy is safe.
  void drop(const std::vector<int>& pos, bool has_hinv) {
    const int m = this->m();
    std::vector<char> gone(static_cast<size_t>(n_alive()), 0);
    for (int p : pos) gone[size_t(p)] = 1;
    std::vector<int> keep;  // compact columns kept
    std::vector<int> alive;
    for (int p = 0; p < n_alive(); p++) {
      if (gone[size_t(p)]) continue;
      alive.push_back(alive_[size_t(p)]);
      for (int u = 0; u < g_; u++) keep.push_back(p * g_ + u);
    }
    const int k = int(keep.size());
    for (int r = 0; r < rows_; r++)
      for (int j = 0; j < k; j++) W_[size_t(r) * k + j] = W_[size_t(r) * m + keep[size_t(j)]];
    W_.resize(size_t(rows_) * size_t(k));
    if (has_hinv) {
      for (int i = 0; i < k; i++) {
        const size_t src = size_t(keep[size_t(i)]) * m;
        for (int j = 0; j < k; j++) Hinv_[size_t(i) * k + j] = Hinv_[src + keep[size_t(j)]];
      }
      Hinv_.resize(size_t(k) * size_t(k));
    }
    alive_ = std::move(alive);
  }

  int rows_, cols_, g_;
  ThreadPool* pool_;
  double damp_ = 0.0;
  std::vector<double> W_;     // rows × m
  std::vector<double> Hinv_;  // m × m
  std::vector<double> Hd_;    // dampened H, cols × cols, original indexing
  std::vector<int> alive_;
};

// One step for groups (or Magnitude): the b cheapest single structures, removed jointly.
double joint_step(Solver& sv, int b, bool use_hinv, bool update_w, std::vector<int>& order) {
  const std::vector<double> sc = sv.scores(use_hinv);
  std::vector<int> pos(sc.size());
  std::iota(pos.begin(), pos.end(), 0);
  std::partial_sort(pos.begin(), pos.begin() + b, pos.end(), [&](int a, int c) {
    return sc[size_t(a)] < sc[size_t(c)] || (sc[size_t(a)] == sc[size_t(c)] && a < c);  // ties: lower index
  });
  pos.resize(size_t(b));
  for (int p : pos) order.push_back(sv.alive()[size_t(p)]);  // cheapest first
  std::sort(pos.begin(), pos.end());
  return sv.remove(pos, use_hinv, update_w);
}

// One step of a fixed order: the next b structures of `given`, removed jointly.
double fixed_step(Solver& sv, const std::vector<int>& given, int b, bool update_w, std::vector<int>& order) {
  std::vector<int> pos;
  for (int k = 0; k < b; k++) {
    const int s = given[order.size()];
    const auto& al = sv.alive();
    auto it = std::lower_bound(al.begin(), al.end(), s);
    ZIP_CHECK(it != al.end() && *it == s, "obs: the given order repeats structure {}", s);
    pos.push_back(int(it - al.begin()));
    order.push_back(s);
  }
  std::sort(pos.begin(), pos.end());
  return sv.remove(pos, update_w, update_w);
}

}  // namespace

ObsResult obs_prune(const float* W, int rows, int cols, int group_size, const double* H,
                    const std::vector<int>& levels, const ObsOptions& opt) {
  ZIP_CHECK(group_size > 0 && cols % group_size == 0, "obs: group size {} does not divide {} columns", group_size,
            cols);
  const int ns = cols / group_size;
  ZIP_CHECK(!levels.empty(), "obs: no levels requested");
  for (size_t i = 0; i < levels.size(); i++) {
    ZIP_CHECK(levels[i] >= 0 && levels[i] <= ns, "obs: level {} outside [0, {}]", levels[i], ns);
    ZIP_CHECK(i == 0 || levels[i] > levels[i - 1], "obs: levels must be strictly ascending");
  }
  ZIP_CHECK(opt.block >= 1, "obs: block must be ≥ 1, got {}", opt.block);
  ZIP_CHECK(opt.recompute_every >= 0, "obs: recompute_every must be ≥ 0");
  const bool fixed = !opt.order.empty();
  ZIP_CHECK(!fixed || opt.mode != ObsMode::Magnitude, "obs: a fixed order is for Obs and ObsNoUpdate");
  ZIP_CHECK(!fixed || int(opt.order.size()) >= levels.back(), "obs: the given order has {} structures, the last level removes {}",
            opt.order.size(), levels.back());
  for (int s : opt.order) ZIP_CHECK(s >= 0 && s < ns, "obs: structure {} in the given order is outside [0, {})", s, ns);
  const bool update_w = opt.mode == ObsMode::Obs;
  // H⁻¹ ranks structures (greedy orders) or updates W; a fixed order without update needs neither.
  const bool use_hinv = fixed ? update_w : opt.mode != ObsMode::Magnitude;
  Solver sv(W, rows, cols, group_size, H, opt.damp, use_hinv, opt.pool);
  const int recompute_every = opt.recompute_every > 0 ? opt.recompute_every : std::max(1, (ns + 3) / 4);

  ObsResult res;
  res.damp = sv.damp();
  int removed = 0, since_recompute = 0;
  double eps_sum = 0.0;
  size_t li = 0;
  auto snapshot = [&] {
    if (li < levels.size() && levels[li] == removed) {
      res.levels.push_back({removed, sv.alive(), sv.weights_f32(), eps_sum});
      li++;
    }
  };
  snapshot();
  while (li < levels.size()) {
    // Magnitude scores never change, so one joint step per level removes what single steps would.
    const int b = use_hinv ? std::min(opt.block, levels[li] - removed) : levels[li] - removed;
    if (fixed) {
      eps_sum += fixed_step(sv, opt.order, b, update_w, res.order);
    } else if (use_hinv && group_size == 1) {
      eps_sum += sv.remove_greedy(b, update_w, res.order);
    } else {
      eps_sum += joint_step(sv, b, use_hinv, update_w, res.order);
    }
    removed += b;
    since_recompute += b;
    if (use_hinv && since_recompute >= recompute_every && sv.n_alive() > 0) {
      sv.recompute_hinv();
      since_recompute = 0;
    }
    snapshot();
  }
  return res;
}

std::vector<float> obs_remove(const float* W, int rows, int cols, int group_size, const double* H,
                              const std::vector<int>& structures, double damp) {
  Solver sv(W, rows, cols, group_size, H, damp, true, nullptr);
  for (int s : structures) {
    const auto& al = sv.alive();
    auto it = std::lower_bound(al.begin(), al.end(), s);
    ZIP_CHECK(it != al.end() && *it == s, "obs_remove: structure {} is out of range or already removed", s);
    sv.remove({int(it - al.begin())}, true, true);
  }
  return sv.weights_f32();
}

OutputError::OutputError(const float* W, int rows, int cols, const double* G, ThreadPool* pool)
    : W_(W), rows_(rows), cols_(cols), pool_(pool) {
  ZIP_CHECK(rows > 0 && cols > 0, "relative_error: bad shape {}×{}", rows, cols);
  G32_.resize(size_t(cols) * size_t(cols));
  for (size_t i = 0; i < G32_.size(); i++) G32_[i] = float(G[i]);
  den_ = quad(std::vector<float>(W, W + size_t(rows) * size_t(cols)), rows);
}

double OutputError::quad(const std::vector<float>& X, int m) const {
  // X·G = X·Gᵀ (G symmetric): the f32 matmul's y = x·Wᵀ with W = G.
  const Tensor g = Tensor::view(DType::F32, {cols_, cols_}, G32_.data(), nullptr);
  std::vector<float> Y(size_t(m) * size_t(cols_));
  if (pool_) {
    cpu::matmul(*pool_, Y.data(), X.data(), g, nullptr, m);
  } else {
    ThreadPool one(1);
    cpu::matmul(one, Y.data(), X.data(), g, nullptr, m);
  }
  double s = 0.0;
  for (size_t i = 0; i < Y.size(); i++) s += double(X[i]) * double(Y[i]);
  return s;
}

double OutputError::operator()(const float* w_kept, int group_size, const std::vector<int>& kept) const {
  ZIP_CHECK(group_size > 0 && cols_ % group_size == 0, "relative_error: group size {} does not divide {}",
            group_size, cols_);
  const int ns = cols_ / group_size, kc = int(kept.size()) * group_size;
  for (size_t i = 0; i < kept.size(); i++)
    ZIP_CHECK(kept[i] >= 0 && kept[i] < ns && (i == 0 || kept[i] > kept[i - 1]),
              "relative_error: kept structures must be ascending in [0, {})", ns);
  // ΔW = W'_padded − W.
  std::vector<float> dW(size_t(rows_) * size_t(cols_));
  for (int r = 0; r < rows_; r++) {
    const float* w = W_ + size_t(r) * cols_;
    float* d = &dW[size_t(r) * cols_];
    for (int c = 0; c < cols_; c++) d[c] = -w[c];
    const float* wk = w_kept + size_t(r) * kc;
    for (size_t i = 0; i < kept.size(); i++)
      for (int u = 0; u < group_size; u++) {
        const int c = kept[i] * group_size + u;
        d[c] = float(double(wk[i * size_t(group_size) + size_t(u)]) - double(w[c]));
      }
  }
  const double num = quad(dW, rows_);
  if (den_ <= 0.0) return num <= 0.0 ? 0.0 : INFINITY;
  return std::max(0.0, num) / den_;
}

double relative_error(const float* W, const float* w_kept, int rows, int cols, int group_size,
                      const std::vector<int>& kept, const double* G, ThreadPool* pool) {
  return OutputError(W, rows, cols, G, pool)(w_kept, group_size, kept);
}

}  // namespace zip
