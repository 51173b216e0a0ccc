// The OBS update without the OBS search: given which structures stay (chosen by any method —
// Minitron's activation importance, a hand-written slice), refit the kept columns of an output
// projection to reproduce the dense layer's outputs on the calibration inputs. Closed form: the
// dampened ridge optimum W'_K = W·H_d[:,K]·H_d[K,K]⁻¹, H_d = H + λ·mean(diag H)·I, which is what
// removing the other structures one OBS step at a time arrives at (obs_remove), in one solve.
#pragma once
#include <vector>

namespace zip {

class ThreadPool;

// W: rows × cols (row-major f32), group_size divides cols; H: cols × cols f64 symmetric (the
// layer input's 2XXᵀ/N); kept: structure indices, ascending, non-empty. Returns rows × (kept
// columns), ascending. Columns whose input never fires (H_jj = 0) are treated as obs_prune does
// (weight zeroed, diagonal 1). λ is raised ×10 (at most 3 times) while H_d[K,K] is not
// positive definite; throws zip::Error after that or on bad arguments.
std::vector<float> ridge_refit(const float* W, int rows, int cols, int group_size, const double* H,
                               const std::vector<int>& kept, double damp = 0.01, ThreadPool* pool = nullptr);

}  // namespace zip
