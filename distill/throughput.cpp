#include "distill/throughput.h"

#include <chrono>
#include <map>
#include <random>

#include "engine/error.h"
#include "engine/model.h"

namespace zip::distill {

ModelFlops model_flops(const ModelConfig& c, int T) {
  ModelFlops f;
  for (const TensorSpec& t : expected_tensors(c)) {
    // Lookups and per-sequence heads (pooler, classifier) are not per-token products.
    if (t.shape.size() != 2 || t.name == "tok_embd" || t.name == "pos_embd" || t.name == "type_embd" ||
        t.name == "pooler" || t.name == "classifier")
      continue;
    f.matmul_params += double(t.shape[0]) * double(t.shape[1]);
  }
  if (c.info().causal && c.tied_embeddings) f.matmul_params += double(c.vocab_size) * c.dim;  // the head
  double ctx = c.info().causal ? (T + 1) / 2.0 : double(T);
  for (const LayerShape& l : c.layers) f.attention += 4.0 * l.n_heads() * c.head_dim * ctx;
  return f;
}

double train_flops_per_token(const ModelConfig& student, const ModelConfig* teacher, int T) {
  double f = 3 * model_flops(student, T).forward();
  if (teacher) f += model_flops(*teacher, T).forward();
  return f;
}

TokenData random_tokens(int vocab, size_t n, uint64_t seed) {
  ZIP_CHECK(vocab > 0, "random tokens need a vocabulary");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> id(0, vocab - 1);
  std::vector<int> doc(n);
  for (int& t : doc) t = id(rng);
  TokenData d;
  d.vocab_size = uint32_t(vocab);
  d.add_document(doc);
  return d;
}

ThroughputResult run_throughput(LoopHooks& h, PhaseClock& clock, const TokenData& data, const ThroughputOptions& o) {
  ThroughputResult r;
  std::vector<int> tokens, targets;
  std::vector<double> tps, step_s, other_s;
  std::map<std::string, std::vector<double>> phases;
  std::vector<std::string> order;
  const double step_tokens = double(o.batch) * o.seq;
  for (int step = 0; step < o.warmup + o.steps; step++) {
    clock.clear();
    auto t0 = std::chrono::steady_clock::now();
    h.zero_grad();
    sample_windows(data, o.seed, uint64_t(step), 0, o.batch, o.seq, tokens, targets);
    double loss = h.micro(tokens.data(), targets.data(), o.batch, o.seq, 1.0)["loss"];
    h.update(o.lr);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (step == 0) r.first_loss = loss;
    r.last_loss = loss;
    if (step < o.warmup) continue;
    tps.push_back(dt > 0 ? step_tokens / dt : 0);
    step_s.push_back(dt);
    double timed = 0;
    for (auto& [name, s] : clock.totals()) {
      if (!phases.count(name)) order.push_back(name);
      phases[name].push_back(s);
      timed += s;
    }
    other_s.push_back(std::max(0.0, dt - timed));
  }
  r.tokens_per_s = stats_of(tps), r.step_s = stats_of(step_s);
  for (auto& name : order) r.phase_s.emplace_back(name, stats_of(phases[name]).median);
  r.phase_s.emplace_back("other", stats_of(other_s).median);
  return r;
}

}  // namespace zip::distill
