// The forward pass on a device backend. FakeDevice is a CPU backend that poses as a device: it
// hands out its own memory and refuses any buffer that did not come from alloc() and any tensor
// that did not come from upload(), so these tests prove (without a GPU) that InferenceContext
// keeps activations, caches and weights on the backend. With a GPU, the real CUDA backend runs
// the same models against the CPU.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "engine/cuda.h"
#include "engine/error.h"
#include "engine/forward.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

class FakeDevice final : public Backend {
 public:
  const char* name() const override { return "fake-device"; }
  Device device() const override { return Device::CUDA; }

  void matmul(float* y, const float* x, const Tensor& W, const float* bias, int M) override {
    dev(y), dev(x), dev(bias);
    cpu_->matmul(y, x, host(W), bias, M);
  }
  void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) override {
    dev(y), dev(x), dev(w);
    cpu_->rmsnorm(y, x, w, M, D, eps);
  }
  void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) override {
    dev(y), dev(x), dev(w), dev(b);
    cpu_->layernorm(y, x, w, b, M, D, eps);
  }
  void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta) override {
    dev(x);
    cpu_->rope(x, M, n_heads, head_dim, pos, theta);
  }
  void kv_store(float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) override {
    dev(cache), dev(x);
    cpu_->kv_store(cache, x, M, n_kv, head_dim, pos0, cache_len);
  }
  void attention(float* out, const float* q, const float* k, const float* v, const AttentionArgs& a) override {
    dev(out), dev(q), dev(k), dev(v);
    cpu_->attention(out, q, k, v, a);
  }
  void swiglu(float* y, const float* gate, const float* up, size_t n) override {
    dev(y), dev(gate), dev(up);
    cpu_->swiglu(y, gate, up, n);
  }
  void gelu(float* y, const float* x, size_t n, GeluKind kind) override {
    dev(y), dev(x);
    cpu_->gelu(y, x, n, kind);
  }
  void softmax(float* x, int M, int N) override {
    dev(x);
    cpu_->softmax(x, M, N);
  }
  void embedding(float* y, const Tensor& table, const int* ids, int M) override {
    dev(y);
    cpu_->embedding(y, host(table), ids, M);
  }
  void add(float* y, const float* x, size_t n) override {
    dev(y), dev(x);
    cpu_->add(y, x, n);
  }
  void add_rows(float* y, const float* b, int M, int D) override {
    dev(y), dev(b);
    cpu_->add_rows(y, b, M, D);
  }
  void tanh(float* x, size_t n) override {
    dev(x);
    cpu_->tanh(x, n);
  }

  float* alloc(size_t n) override {
    float* p = static_cast<float*>(std::calloc(n ? n : 1, sizeof(float)));
    blocks_[p] = n;
    return p;
  }
  void release(float* p) override {
    if (!p) return;
    CHECK(blocks_.erase(p) == 1);
    std::free(p);
  }
  void to_device(float* dst, const float* src, size_t n) override {
    dev(dst);
    std::memcpy(dst, src, n * sizeof(float));
  }
  void to_host(float* dst, const float* src, size_t n) override {
    dev(src);
    std::memcpy(dst, src, n * sizeof(float));
  }
  void copy(float* dst, const float* src, size_t n) override {
    dev(dst), dev(src);
    std::memmove(dst, src, n * sizeof(float));
  }
  Tensor upload(const Tensor& t) override {
    Tensor d = t.clone();
    d.device = Device::CUDA;
    tensors_.insert(d.data);
    return d;
  }
  void sync() override { syncs++; }

  int syncs = 0;
  size_t live_blocks() const { return blocks_.size(); }

 private:
  // p (when given) must lie inside a block from alloc().
  void dev(const float* p) const {
    if (!p) return;
    auto it = blocks_.upper_bound(p);
    bool ok = it != blocks_.begin() && (--it, p <= it->first + it->second);
    if (!ok) throw Error("fake device: an op received a host pointer");
  }
  Tensor host(const Tensor& t) const {
    if (t.device != Device::CUDA || !tensors_.count(t.data)) throw Error("fake device: tensor was not uploaded");
    Tensor h = t;
    h.device = Device::CPU;
    return h;
  }

  std::unique_ptr<Backend> cpu_ = make_cpu_backend(1);
  std::map<const float*, size_t> blocks_;
  std::set<const void*> tensors_;
};

using ztest::stories260K;
using ztest::stories260K_sliced;
using ztest::tiny_bert;
using ztest::tiny_gpt2;

std::vector<int> some_ids(int vocab, int n, int seed) {
  std::vector<int> ids;
  for (int i = 0; i < n; i++) ids.push_back(int((uint32_t(i) * 2654435761u + uint32_t(seed)) % uint32_t(vocab)));
  return ids;
}

// Sum of every residual the observer sees: proves it receives host copies of the right data.
struct ResidualSum : ForwardObserver {
  double sum = 0;
  void on_residual(int, const float* x, int rows, int dim) override {
    for (size_t i = 0; i < size_t(rows) * dim; i++) sum += x[i];
  }
};

// Logits of a decoder three ways: one prefill with all logits, token-by-token decode, and a
// two-sequence batch; plus the observer's residual sum.
struct DecoderRun {
  std::vector<float> prefill, decode, batch;
  double residuals = 0;
};

DecoderRun run_decoder(const Model& m, Backend& be) {
  DecoderRun r;
  const int V = m.config.vocab_size;
  auto ids = some_ids(V, 13, 1);
  {
    InferenceContext ctx(m, be, 32, /*max_batch*/ 5);  // several chunks
    ResidualSum obs;
    ctx.set_observer(&obs);
    const float* p = ctx.eval(ids, true);
    r.prefill.assign(p, p + ids.size() * size_t(V));
    r.residuals = obs.sum;
  }
  {
    InferenceContext ctx(m, be, 32);
    for (int id : ids) {
      const float* p = ctx.eval(&id, 1);
      r.decode.insert(r.decode.end(), p, p + V);
    }
  }
  {
    InferenceContext ctx(m, be, 32, 8, /*n_seq*/ 2);
    std::vector<int> toks = {ids[0], ids[1], ids[2], ids[3]}, seqs = {0, 1, 0, 1};
    const float* p = ctx.eval_batch(toks.data(), seqs.data(), 4, true);
    r.batch.assign(p, p + 4 * size_t(V));
  }
  return r;
}

std::vector<float> run_encoder(const Model& m, Backend& be) {
  InferenceContext ctx(m, be);
  auto ids = some_ids(m.config.vocab_size, 11, 2);
  const float* h = ctx.encode(ids.data(), nullptr, int(ids.size()));
  return std::vector<float>(h, h + ids.size() * size_t(m.config.dim));
}

void compare(const DecoderRun& got, const DecoderRun& want, double tol) {
  CHECK(ztest::max_rel_err(got.prefill, want.prefill) <= tol);
  CHECK(ztest::max_rel_err(got.decode, want.decode) <= tol);
  CHECK(ztest::max_rel_err(got.batch, want.batch) <= tol);
}

}  // namespace

TEST_CASE("forward: on a device backend every buffer is the backend's and every weight is uploaded") {
  auto cpu = make_cpu_backend(1);
  FakeDevice fake;
  for (const Model* m : {&stories260K(), &stories260K_sliced(), &tiny_gpt2()}) {
    INFO(m->config.info().name);
    DecoderRun want = run_decoder(*m, *cpu), got = run_decoder(*m, fake);
    compare(got, want, 1e-6);
    CHECK(std::fabs(got.residuals - want.residuals) <= 1e-6 * (1 + std::fabs(want.residuals)));
  }
  CHECK(ztest::max_rel_err(run_encoder(tiny_bert(), fake), run_encoder(tiny_bert(), *cpu)) <= 1e-6);
  CHECK(fake.live_blocks() == 0);  // every context released its memory

  ModuleTimes times;
  InferenceContext ctx(stories260K(), fake);
  ctx.set_timing(&times);
  ctx.eval(some_ids(stories260K().config.vocab_size, 4, 3));
  CHECK(fake.syncs > 0);  // timings wait for the device
}

TEST_CASE("cuda: the forward pass on the GPU matches the CPU") {
  std::string why;
  if (!cuda_available(&why)) {
    SKIP_TEST("no CUDA GPU (" << why << ")");
  }
  auto cpu = make_cpu_backend(2);
  auto gpu = make_cuda_backend(0);
  for (const Model* m : {&stories260K(), &stories260K_sliced(), &tiny_gpt2()}) {
    INFO(m->config.info().name);
    compare(run_decoder(*m, *gpu), run_decoder(*m, *cpu), 1e-4);
  }
  CHECK(ztest::max_rel_err(run_encoder(tiny_bert(), *gpu), run_encoder(tiny_bert(), *cpu)) <= 1e-4);
}
