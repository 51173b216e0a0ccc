// Internal to the quantized matmul: one table of range kernels per dot-product path
// (quant_kernels.h), and the tile loop they share (quant_tile_loop.h).
#pragma once
#include <cstddef>
#include <cstdint>

namespace zip::cpu {
enum class QuantPath;  // quant_kernels.h
}

namespace zip::cpu::qdot {

// One product: W has N rows of nb blocks (w_row_bytes each); x is M rows of activation blocks
// (ActRow32 or ActBlock256 rows, x_row_bytes each); y[M, ldy].
struct Job {
  const uint8_t* w;
  size_t w_row_bytes;
  int nb;
  const uint8_t* x;
  size_t x_row_bytes;
  float* y;
  int ldy;
  const float* bias;
  int M;
  // W's rows already interleaved 8 at a time (quant_repacked.h), or null: the path reads `w` (and,
  // for prefill, interleaves panels per call). With it, n0 of every range is a multiple of 8.
  const uint8_t* w_repacked = nullptr;
};

// Computes y columns [n0, n1) for all M rows of x.
using RangeFn = void (*)(const Job& job, int n0, int n1);

// Interleaves rows [0, N) of W (nb blocks, w_row_bytes each) 8 at a time into dst, the layout the
// path's range kernel reads through Job::w_repacked: ceil(N / 8) · 8 · w_row_bytes bytes for Q8_0
// and Q4_0 (the same bytes, moved; the last group repeats the last row).
using RepackFn = void (*)(const uint8_t* w, size_t w_row_bytes, int nb, int N, uint8_t* dst);

struct Kernels {
  RangeFn q8_0, q4_0, q5_0, q4_k, q6_k;
  RepackFn repack_q8_0 = nullptr, repack_q4_0 = nullptr;  // null: the path keeps no interleaved copy
};

constexpr int kGroupRows = 8;  // rows per interleaved group

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();
const Kernels& avxvnni_kernels();
const Kernels& avx512vnni_kernels();
const Kernels& kernels_of(QuantPath p);  // the table of one path (quant_matmul.cpp)

// A scratch buffer of at least `bytes`, one per thread, kept between calls (quant_matmul.cpp; the
// SIMD files use no standard library).
uint8_t* repack_buffer(size_t bytes);

// Tiles: NR = 4 rows of W at a time (a missing row repeats the last real one and is not stored).
constexpr int kNR = 4;

}  // namespace zip::cpu::qdot
