// y[M,N] = x[M,K]·W[N,K]ᵀ (+ bias) through cuBLASLt (see Gemm in cuda_kernels.h for the policy).
//
// Row-major to cuBLASLt's column-major: a row-major [R,C] array is a column-major [C,R] one with
// the same leading dimension. So yᵀ[N,M] = W·xᵀ is computed as D = op(A)·B with
//   A = W  as column-major [K,N] (ld K), op(A) = Aᵀ (CUBLAS_OP_T) → [N,K],
//   B = x  as column-major [K,M] (ld K), op(B) = B,
//   D = y  as column-major [N,M] (ld N),
// the "TN" layout every cuBLASLt kernel family supports. The bias runs along D's rows (N), which is
// what CUBLASLT_EPILOGUE_BIAS broadcasts.
//
// A plan (descriptors + heuristic algorithm) is cached per shape, dtype and pointer alignments;
// cuBLASLt's heuristics assume 256-byte-aligned pointers unless told otherwise, and activations
// passed at row offsets are not.
#include <cublasLt.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdio>
#include <map>
#include <tuple>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

#define ZIP_CUBLAS_CHECK(expr) ::zip::cuda::check_cublas((expr), #expr, __FILE__, __LINE__)

namespace zip::cuda {
namespace {

void check_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_api_error(what, cublasGetStatusString(st), file, line);
}

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // NVIDIA's recommendation for Hopper
constexpr size_t kMaxPlans = 4096;                    // bound on cached shapes

// ---- fallback: a plain 16×16 shared-memory tiled GEMM, f32 accumulation ------------------------
constexpr int kT = 16;

__device__ inline float as_f32(float v) { return v; }
__device__ inline float as_f32(__half v) { return __half2float(v); }
__device__ inline float as_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

// Block (kT, kT): thread (tx, ty) computes y[m0+ty][n0+tx].
template <typename WT>
__global__ void gemm_fallback_kernel(float* y, const float* x, const WT* W, const float* bias, int M, int N, int K) {
  __shared__ float xs[kT][kT + 1], ws[kT][kT + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int m = blockIdx.y * kT + ty, n = blockIdx.x * kT + tx;
  const int wn = blockIdx.x * kT + ty;  // the W row this thread loads
  float acc = 0;
  for (int k0 = 0; k0 < K; k0 += kT) {
    const int k = k0 + tx;
    xs[ty][tx] = (m < M && k < K) ? x[size_t(m) * K + k] : 0.0f;
    ws[ty][tx] = (wn < N && k < K) ? as_f32(W[size_t(wn) * K + k]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kT; kk++) acc += xs[ty][kk] * ws[tx][kk];
    __syncthreads();
  }
  if (m < M && n < N) y[size_t(m) * N + n] = acc + (bias ? bias[n] : 0.0f);
}

void gemm_fallback(cudaStream_t s, float* y, const float* x, const void* W, DType wt, int M, int N, int K,
                   const float* bias) {
  const dim3 block(kT, kT), grid(unsigned((N + kT - 1) / kT), unsigned((M + kT - 1) / kT));
  ZIP_CUDA_REQUIRE(grid.y <= 65535, "matmul: too many rows for the fallback GEMM");
  if (wt == DType::F32)
    gemm_fallback_kernel<<<grid, block, 0, s>>>(y, x, static_cast<const float*>(W), bias, M, N, K);
  else if (wt == DType::F16)
    gemm_fallback_kernel<<<grid, block, 0, s>>>(y, x, static_cast<const __half*>(W), bias, M, N, K);
  else
    gemm_fallback_kernel<<<grid, block, 0, s>>>(y, x, static_cast<const __nv_bfloat16*>(W), bias, M, N, K);
  ZIP_CUDA_LAUNCHED("gemm_fallback_kernel");
}

// ---- cuBLASLt plans ----------------------------------------------------------------------------
struct PlanKey {
  int M, N, K, dtype;
  bool bias;
  uint32_t align_a, align_b, align_d, align_bias;
  bool operator<(const PlanKey& o) const {
    return std::tie(M, N, K, dtype, bias, align_a, align_b, align_d, align_bias) <
           std::tie(o.M, o.N, o.K, o.dtype, o.bias, o.align_a, o.align_b, o.align_d, o.align_bias);
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool ok = false;        // cuBLASLt has an algorithm; else the fallback kernel runs
  bool epilogue = false;  // the bias is fused; else added by add_rows
  void destroy() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
    *this = Plan();
  }
};

cudaDataType_t cuda_type(DType t) {
  return t == DType::F32 ? CUDA_R_32F : t == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

}  // namespace

struct Gemm::Impl {
  cudaStream_t stream;
  bool tf32;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  DeviceBuffer xconv;  // x rounded to the weight type
  std::map<PlanKey, Plan> plans;
  bool warned = false;

  Impl(cudaStream_t s, bool t) : stream(s), tf32(t) {}
  ~Impl() {
    for (auto& kv : plans) kv.second.destroy();
    if (workspace) cudaFree(workspace);
    if (lt) cublasLtDestroy(lt);
  }

  // Descriptors for one shape; the bias pointer is set here for the heuristic (it reads its
  // alignment) and again before every call.
  Plan make_plan(const PlanKey& k, const float* bias, bool with_epilogue) {
    Plan p;
    try {
      const cublasComputeType_t compute =
          (k.dtype == int(DType::F32) && tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      ZIP_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, compute, CUDA_R_32F));
      const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
      ZIP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
      ZIP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
      if (with_epilogue) {
        const cublasLtEpilogue_t ep = CUBLASLT_EPILOGUE_BIAS;
        ZIP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof(ep)));
        ZIP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
        p.epilogue = true;
      }
      const cudaDataType_t ab = cuda_type(DType(k.dtype));
      ZIP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, ab, uint64_t(k.K), uint64_t(k.N), int64_t(k.K)));
      ZIP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, ab, uint64_t(k.K), uint64_t(k.M), int64_t(k.K)));
      ZIP_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.d, CUDA_R_32F, uint64_t(k.N), uint64_t(k.M), int64_t(k.N)));

      cublasLtMatmulPreference_t pref = nullptr;
      ZIP_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
      const uint64_t ws = kWorkspaceBytes;
      cublasStatus_t st =
          cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
      const uint32_t al[4] = {k.align_a, k.align_b, k.align_d, k.align_d};
      const cublasLtMatmulPreferenceAttributes_t which[4] = {
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
      for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
        st = cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al[i], sizeof(al[i]));
      cublasLtMatmulHeuristicResult_t res{};
      int found = 0;
      if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(lt, p.desc, p.a, p.b, p.d, p.d, pref, 1, &res, &found);
      cublasLtMatmulPreferenceDestroy(pref);
      // A failed heuristic query (NOT_SUPPORTED for an unusual shape or alignment) means "no
      // algorithm": the fallback kernel runs, with a one-time note on stderr.
      if (st == CUBLAS_STATUS_SUCCESS && found > 0 && res.state == CUBLAS_STATUS_SUCCESS &&
          res.workspaceSize <= kWorkspaceBytes) {
        p.algo = res.algo;
        p.ok = true;
      } else if (!with_epilogue && !warned) {
        warned = true;
        std::fprintf(stderr, "zip: cuBLASLt has no algorithm for M=%d N=%d K=%d %s (%s); using the fallback GEMM\n",
                     k.M, k.N, k.K, dtype_name(DType(k.dtype)),
                     st == CUBLAS_STATUS_SUCCESS ? "no result" : cublasGetStatusString(st));
      }
    } catch (...) {
      p.destroy();
      throw;
    }
    return p;
  }

  Plan& plan_for(const PlanKey& k, const float* bias) {
    auto it = plans.find(k);
    if (it != plans.end()) return it->second;
    if (plans.size() >= kMaxPlans) {
      for (auto& kv : plans) kv.second.destroy();
      plans.clear();
    }
    Plan p = make_plan(k, bias, k.bias);
    if (!p.ok && k.bias) {  // no fused-bias algorithm: plain GEMM, then add_rows
      p.destroy();
      p = make_plan(k, bias, false);
    }
    return plans.emplace(k, p).first->second;
  }
};

Gemm::Gemm(cudaStream_t stream, bool tf32) : impl_(new Impl(stream, tf32)) {
  ZIP_CUBLAS_CHECK(cublasLtCreate(&impl_->lt));
  ZIP_CUDA_CHECK(cudaMalloc(&impl_->workspace, kWorkspaceBytes));
}

Gemm::~Gemm() = default;

void Gemm::run(float* y, const float* x, const void* W, DType wt, int M, int N, int K, const float* bias) {
  ZIP_CUDA_REQUIRE(wt == DType::F32 || wt == DType::F16 || wt == DType::BF16,
                   std::string("matmul: weight dtype ") + dtype_name(wt) + " is not a float type");
  if (M <= 0 || N <= 0) return;
  Impl& im = *impl_;
  if (K <= 0) {  // empty sum: y = bias or 0
    ZIP_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(M) * N * sizeof(float), im.stream));
    if (bias) add_rows(im.stream, y, bias, M, N);
    return;
  }
  const void* xin = x;
  if (wt != DType::F32) {
    void* xc = im.xconv.get(size_t(M) * K * dtype_size(wt), im.stream);
    convert_from_f32(im.stream, xc, wt, x, size_t(M) * K);
    xin = xc;
  }
  const PlanKey key{M, N, K, int(wt), bias != nullptr, pointer_alignment(W), pointer_alignment(xin),
                    pointer_alignment(y), bias ? pointer_alignment(bias) : 256u};
  Plan& p = im.plan_for(key, bias);
  if (!p.ok) {
    gemm_fallback(im.stream, y, x, W, wt, M, N, K, bias);
    return;
  }
  if (p.epilogue)
    ZIP_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t st = cublasLtMatmul(im.lt, p.desc, &alpha, W, p.a, xin, p.b, &beta, y, p.d, y, p.d, &p.algo,
                                           im.workspace, kWorkspaceBytes, im.stream);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) {  // the heuristic's pick refused the call: never again
    p.ok = false;
    gemm_fallback(im.stream, y, x, W, wt, M, N, K, bias);
    return;
  }
  ZIP_CUBLAS_CHECK(st);
  if (bias && !p.epilogue) add_rows(im.stream, y, bias, M, N);
}

}  // namespace zip::cuda
