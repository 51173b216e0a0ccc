// The quantized matmul (quant_kernels.h): quantises x once per call (shared by all threads; two
// rows per row of x with ActTerms::Two), then threads split W's rows in multiples of the 4-row
// tile, each running the path's range kernel (on W's interleaved copy where one is kept).
#include <algorithm>
#include <atomic>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "engine/error.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/quant_act.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_repacked.h"

namespace zip::cpu {

uint8_t* qdot::repack_buffer(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes) buf.resize(bytes);
  return buf.data();
}

const char* quant_path_name(QuantPath p) {
  switch (p) {
    case QuantPath::Scalar: return "scalar";
    case QuantPath::Avx2: return "avx2";
    case QuantPath::AvxVnni: return "avx-vnni";
    case QuantPath::Avx512Vnni: return "avx512-vnni";
  }
  return "?";
}

namespace {
// AVX-VNNI (VEX) is CPUID.(EAX=7,ECX=1):EAX bit 4; read directly because clang 14's
// __builtin_cpu_supports does not know the name.
bool cpu_has_avxvnni() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return (a >> 4) & 1u;
#else
  return false;
#endif
}
}  // namespace

std::vector<QuantPath> supported_quant_paths() {
  std::vector<QuantPath> paths{QuantPath::Scalar};
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) paths.push_back(QuantPath::Avx2);
  if (avx2 && cpu_has_avxvnni()) paths.push_back(QuantPath::AvxVnni);
  if (avx2 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw"))
    paths.push_back(QuantPath::Avx512Vnni);
#endif
  return paths;
}

QuantPath best_quant_path() {
  static const QuantPath best = supported_quant_paths().back();
  return best;
}

const qdot::Kernels& qdot::kernels_of(QuantPath p) {
  switch (p) {
    case QuantPath::Avx2: return avx2_kernels();
    case QuantPath::AvxVnni: return avxvnni_kernels();
    case QuantPath::Avx512Vnni: return avx512vnni_kernels();
    default: return scalar_kernels();
  }
}

const char* act_terms_name(ActTerms t) {
  switch (t) {
    case ActTerms::One: return "1";
    case ActTerms::Two: return "2";
  }
  return "?";
}

namespace {
std::atomic<ActTerms> g_act_terms{ActTerms::One};
}
void set_act_terms(ActTerms t) { g_act_terms.store(t, std::memory_order_relaxed); }
ActTerms act_terms() { return g_act_terms.load(std::memory_order_relaxed); }

void quant_matmul(ThreadPool& pool, float* y, const float* x, const Tensor& W, const float* bias, int M,
                  QuantPath path, ActTerms terms) {
  const int N = int(W.dim(0)), K = int(W.dim(1));
  const DType t = W.dtype;
  const int be = dtype_block_elems(t);
  ZIP_CHECK(is_quantized(t), "quant_matmul: {} is not a block type", dtype_name(t));
  ZIP_CHECK(K % be == 0, "matmul: K = {} is not a whole number of {} blocks", K, dtype_name(t));
  const bool k_quant = be == 256;
  const bool two = terms == ActTerms::Two;
  const int T = two ? 2 : 1;  // x rows per input row: row m's terms at rows T·m, T·m + 1
  const size_t x_row_bytes = k_quant ? size_t(K / be) * sizeof(ActBlock256) : act32_row_bytes(K / be);
  thread_local std::vector<uint8_t> xq;
  if (xq.size() < x_row_bytes * size_t(T * M)) xq.resize(x_row_bytes * size_t(T * M));
  for (int m = 0; m < M; m++) {
    const float* xm = x + size_t(m) * K;
    uint8_t* row = xq.data() + size_t(T * m) * x_row_bytes;
    if (k_quant) {
      auto* a = reinterpret_cast<ActBlock256*>(row);
      quantize_act256(xm, K, a);
      if (two) quantize_act256_remainder(xm, K, a, reinterpret_cast<ActBlock256*>(row + x_row_bytes));
    } else {
      quantize_act32(xm, K, row);
      if (two) quantize_act32_remainder(xm, K, row, row + x_row_bytes);
    }
  }
  // Two terms: both rows' products into a scratch [2M, N], then y = (term 1 + term 2) + bias.
  thread_local std::vector<float> y2;
  if (two && y2.size() < size_t(2 * M) * N) y2.resize(size_t(2 * M) * N);
  const qdot::Kernels& ks = qdot::kernels_of(path);
  const qdot::RangeFn fn = t == DType::Q8_0   ? ks.q8_0
                           : t == DType::Q4_0 ? ks.q4_0
                           : t == DType::Q5_0 ? ks.q5_0
                           : t == DType::Q4_K ? ks.q4_k
                                              : ks.q6_k;
  const qdot::Job job{static_cast<const uint8_t*>(W.data), dtype_row_bytes(t, K), K / be, xq.data(), x_row_bytes,
                      two ? y2.data() : y, N, two ? nullptr : bias, T * M, repacked_weights(W, path)};
  const float* ys = y2.data();
  auto columns = [&](int n0, int n1) {
    fn(job, n0, n1);
    if (!two) return;
    for (int m = 0; m < M; m++) {
      const float *a = ys + size_t(2 * m) * N, *b = a + N;
      float* out = y + size_t(m) * N;
      for (int n = n0; n < n1; n++) out[n] = bias ? (a[n] + b[n]) + bias[n] : a[n] + b[n];
    }
  };
  // Threads split whole tiles: 4 rows, or 8 (a group) on an interleaved copy.
  const int tile_rows = job.w_repacked ? qdot::kGroupRows : qdot::kNR;
  const int tiles = (N + tile_rows - 1) / tile_rows;
  if (pool.size() == 1 || double(T * M) * N * K < kParallelMinFlops || tiles < 2) {
    columns(0, N);
    return;
  }
  pool.run([&](int i, int n) {
    size_t b, e;
    ThreadPool::split(size_t(tiles), i, n, &b, &e);
    const int n0 = int(b) * tile_rows, n1 = std::min(N, int(e) * tile_rows);
    if (n0 < n1) columns(n0, n1);
  });
}

}  // namespace zip::cpu
