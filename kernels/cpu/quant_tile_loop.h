// The loop over MR×4 output tiles shared by every dot-product path (quant_dot.h). A kernel type
// provides kMaxMR and template <int MR> tile(job, m, w_rows[4], out) filling out[MR][4] with the
// per-row float accumulators; this loop adds the bias and stores. With several rows of x, W is
// walked in panels that stay in L2 while every x tile passes over them.
// Included after a `#pragma GCC target` in the SIMD files: it uses no standard library.
#pragma once
#include "kernels/cpu/quant_dot.h"

namespace zip::cpu::qdot {

template <class Kernel, int MR>
inline void tile_row(const Job& J, int m, int p0, int p1) {
  for (int n = p0; n < p1; n += kNR) {
    const uint8_t* wr[kNR];
    for (int j = 0; j < kNR; j++) wr[j] = J.w + size_t(n + j < p1 ? n + j : p1 - 1) * J.w_row_bytes;
    float out[MR][kNR];
    Kernel::template tile<MR>(J, m, wr, out);
    const int nr = p1 - n < kNR ? p1 - n : kNR;
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < nr; j++) J.y[size_t(m + i) * J.ldy + n + j] = out[i][j] + (J.bias ? J.bias[n + j] : 0.0f);
  }
}

template <class Kernel>
void run_range(const Job& J, int n0, int n1) {
  constexpr int MR = Kernel::kMaxMR;
  int panel = n1 - n0;
  if (J.M > 1) {
    const size_t rows = (160 * 1024) / (J.w_row_bytes ? J.w_row_bytes : 1);
    panel = rows < size_t(kNR) ? kNR : int(rows / kNR * kNR);
  }
  for (int p0 = n0; p0 < n1; p0 += panel) {
    const int p1 = p0 + panel < n1 ? p0 + panel : n1;
    int m = 0;
    for (; m + MR <= J.M; m += MR) tile_row<Kernel, MR>(J, m, p0, p1);
    switch (J.M - m) {
      case 1: tile_row<Kernel, 1>(J, m, p0, p1); break;
      case 2: if constexpr (MR > 2) tile_row<Kernel, 2>(J, m, p0, p1); break;
      case 3: if constexpr (MR > 3) tile_row<Kernel, 3>(J, m, p0, p1); break;
      default: break;
    }
  }
}

template <class K32Q8, class K32Q4, class K32Q5, class K256Q4K, class K256Q6K>
Kernels make_kernels() {
  return Kernels{&run_range<K32Q8>, &run_range<K32Q4>, &run_range<K32Q5>, &run_range<K256Q4K>, &run_range<K256Q6K>};
}

}  // namespace zip::cpu::qdot
