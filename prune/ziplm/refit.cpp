#include "prune/ziplm/refit.h"

#include <cmath>

#include "engine/error.h"
#include "kernels/cpu/linalg.h"

namespace zip {

std::vector<float> ridge_refit(const float* W, int rows, int cols, int group_size, const double* H,
                               const std::vector<int>& kept, double damp, ThreadPool* pool) {
  ZIP_CHECK(rows > 0 && cols > 0 && group_size > 0 && cols % group_size == 0,
            "ridge_refit: bad shape {}×{} with group size {}", rows, cols, group_size);
  ZIP_CHECK(damp >= 0.0 && std::isfinite(damp), "ridge_refit: dampening must be ≥ 0, got {}", damp);
  ZIP_CHECK(H != nullptr && !kept.empty(), "ridge_refit: needs a Hessian and at least one kept structure");
  const int ns = cols / group_size;
  for (size_t i = 0; i < kept.size(); i++)
    ZIP_CHECK(kept[i] >= 0 && kept[i] < ns && (i == 0 || kept[i] > kept[i - 1]),
              "ridge_refit: kept structures must be ascending in [0, {})", ns);
  const size_t n = size_t(cols);
  std::vector<int> cols_k;  // the kept columns
  for (int s : kept)
    for (int j = 0; j < group_size; j++) cols_k.push_back(s * group_size + j);
  const int k = int(cols_k.size());

  // Dead inputs (H_jj = 0) as obs_prune: no weight, unit diagonal; λ relative to the mean diagonal.
  std::vector<double> Wd(size_t(rows) * n);
  std::vector<bool> dead(n, false);
  double mean = 0.0;
  for (size_t j = 0; j < n; j++) {
    const double d = H[j * n + j];
    ZIP_CHECK(std::isfinite(d) && d >= 0.0, "ridge_refit: Hessian diagonal {} is negative or not finite", j);
    dead[j] = d == 0.0;
    mean += dead[j] ? 1.0 : d;
  }
  mean /= double(n);
  for (int r = 0; r < rows; r++)
    for (size_t j = 0; j < n; j++) {
      const float w = W[size_t(r) * n + j];
      ZIP_CHECK(std::isfinite(w), "ridge_refit: weight ({}, {}) is not finite", r, j);
      Wd[size_t(r) * n + j] = dead[j] ? 0.0 : double(w);
    }
  auto hd = [&](size_t i, size_t j, double lam) {
    if (i == j) return (dead[i] ? 1.0 : H[i * n + i]) + lam * mean;
    return dead[i] || dead[j] ? 0.0 : H[i * n + j];
  };

  for (int attempt = 0;; attempt++) {
    // Hkk⁻¹ (k × k) and Hk = H_d[:, K] (cols × k); the result W·Hk·Hkk⁻¹ is negated twice by
    // sub_matmul's C −= A·B.
    std::vector<double> Hkk(size_t(k) * size_t(k)), Hk(n * size_t(k));
    for (int a = 0; a < k; a++)
      for (int b = 0; b < k; b++) Hkk[size_t(a) * size_t(k) + size_t(b)] = hd(size_t(cols_k[size_t(a)]), size_t(cols_k[size_t(b)]), damp);
    for (size_t i = 0; i < n; i++)
      for (int b = 0; b < k; b++) Hk[i * size_t(k) + size_t(b)] = hd(i, size_t(cols_k[size_t(b)]), damp);
    if (linalg::spd_inverse(Hkk.data(), k, pool)) {
      std::vector<double> WH(size_t(rows) * size_t(k), 0.0), out(size_t(rows) * size_t(k), 0.0);
      linalg::sub_matmul(WH.data(), k, Wd.data(), cols, Hk.data(), k, rows, k, cols, pool);    // −W·Hk
      linalg::sub_matmul(out.data(), k, WH.data(), k, Hkk.data(), k, rows, k, k, pool);        // +W·Hk·Hkk⁻¹
      return std::vector<float>(out.begin(), out.end());
    }
    ZIP_CHECK(attempt < 3, "ridge_refit: the kept Hessian block is not positive definite even with dampening {}", damp);
    damp = damp > 0.0 ? damp * 10.0 : 1e-6;
  }
}

}  // namespace zip
