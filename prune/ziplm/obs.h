// Structured Optimal Brain Surgeon on one output linear layer (docs/METHODS.md): greedily remove whole
// column groups ("structures": an attention head's head_dim columns of W_O, or one FFN neuron's
// column of W_2) and compensate with the remaining columns, given the layer's input Hessian
// H = 2·X·Xᵀ/N. Returns the weights at each requested level (number of structures removed).
#pragma once
#include <vector>

namespace zip {

class ThreadPool;

enum class ObsMode {
  Obs,          // rank by ε, update W after each removal (the ZipLM solver)
  ObsNoUpdate,  // rank by ε of the original W with the downdated H⁻¹; W only loses columns
  Magnitude,    // rank by ‖W_{:,S}‖ of the original W; H is not used (may be null)
};

struct ObsOptions {
  ObsMode mode = ObsMode::Obs;
  double damp = 0.01;        // λ: H += λ·mean(diag H)·I
  int block = 1;             // structures removed jointly per step (the block lowest single scores)
  int recompute_every = 0;   // rebuild H⁻¹ from H on the survivors after this many removals; 0: auto
  // A removal order fixed by another criterion (e.g. Minitron's activation importance, least
  // important first; at least the last level's count of distinct structures). Empty: ObsMode's
  // own greedy order. With it, Obs still updates W after each removal (the survivors' ridge
  // optimum), ObsNoUpdate only drops columns; Magnitude is not allowed.
  std::vector<int> order;
  ThreadPool* pool = nullptr;
};

struct ObsLevel {
  int removed = 0;         // structures removed
  std::vector<int> kept;   // kept structure indices, ascending
  std::vector<float> w;    // rows × (kept.size()·group_size), kept columns in ascending order
  double eps_sum = 0.0;    // Σ ε of the removal steps so far (a ranking score, not an error)
};

struct ObsResult {
  std::vector<int> order;        // structures in the order they were removed (up to the last level)
  std::vector<ObsLevel> levels;  // one per requested level, same order
  double damp = 0.0;             // λ actually used (raised ×10 at a time if H + λ·mean·I was not PD)
};

// W: rows × cols (row-major f32); group_size divides cols; n_structures = cols / group_size.
// H: cols × cols, f64, symmetric (ignored in Magnitude mode). levels: strictly ascending in
// [0, n_structures]. Throws zip::Error on bad arguments or a Hessian that stays indefinite.
ObsResult obs_prune(const float* W, int rows, int cols, int group_size, const double* H,
                    const std::vector<int>& levels, const ObsOptions& opt);

// Removes exactly `structures` (in this order, one OBS step each) and returns the compacted W
// (rows × kept columns, ascending). Equals the dampened ridge optimum over the kept columns.
std::vector<float> obs_remove(const float* W, int rows, int cols, int group_size, const double* H,
                              const std::vector<int>& structures, double damp = 0.01);

// Relative output error tr(ΔW·G·ΔWᵀ) / tr(W·G·Wᵀ) = Σ‖W'x − Wx‖² / Σ‖Wx‖² for G = Σ x·xᵀ
// (cols × cols, f64), W' = w_kept padded with zero columns. Computed with the f32 SIMD matmul;
// OutputError caches G (as f32) and the denominator for the many levels of one layer.
class OutputError {
 public:
  OutputError(const float* W, int rows, int cols, const double* G, ThreadPool* pool = nullptr);
  double operator()(const float* w_kept, int group_size, const std::vector<int>& kept) const;
  double denominator() const { return den_; }

 private:
  // Σ_r X_r·G·X_rᵀ over the rows of X (m × cols_).
  double quad(const std::vector<float>& X, int m) const;
  const float* W_;
  int rows_, cols_;
  std::vector<float> G32_;
  ThreadPool* pool_;
  double den_ = 0.0;
};

double relative_error(const float* W, const float* w_kept, int rows, int cols, int group_size,
                      const std::vector<int>& kept, const double* G, ThreadPool* pool = nullptr);

}  // namespace zip
