#include "engine/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/sampler.h"

namespace zip {

int64_t peak_rss_bytes() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;
}

static double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<BenchResult> run_bench(const Model& model, Backend& backend, const BenchOptions& opt) {
  const ModelConfig& c = model.config;
  bool decoder = c.info().causal;
  ZIP_CHECK(opt.prompt >= 1, "bench: the prompt must have at least one token");
  ZIP_CHECK(opt.reps >= 1 && opt.warmup >= 0, "bench: need at least one repetition");
  int ctx_len = decoder ? opt.prompt + opt.gen : opt.prompt;
  ZIP_CHECK(ctx_len <= c.max_seq_len, "bench: prompt + gen = {} exceeds the model's context {}", ctx_len,
            c.max_seq_len);
  Rng rng(opt.seed);
  std::vector<BenchResult> out;
  for (int B : opt.batches) {
    ZIP_CHECK(B >= 1 && B <= 4096, "bench: batch size {} out of range", B);
    // Prompts: random valid token ids (throughput does not depend on which).
    std::vector<int> prompt_rows, prompt_seqs;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < opt.prompt; t++) {
        prompt_rows.push_back(int(rng.next() % uint64_t(c.vocab_size)));
        prompt_seqs.push_back(b);
      }
    std::vector<double> prefill, decode;
    InferenceContext ctx(model, backend, ctx_len, decoder ? 512 : 0, decoder ? B : 1);
    for (int rep = 0; rep < opt.warmup + opt.reps; rep++) {
      ctx.reset();
      auto t0 = std::chrono::steady_clock::now();
      if (decoder) {
        for (size_t i = 0; i < prompt_rows.size(); i += size_t(ctx.max_batch())) {
          int n = int(std::min(prompt_rows.size() - i, size_t(ctx.max_batch())));
          ctx.eval_batch(prompt_rows.data() + i, prompt_seqs.data() + i, n, false);
        }
      } else {
        for (int b = 0; b < B; b++) ctx.encode(prompt_rows.data() + size_t(b) * opt.prompt, nullptr, opt.prompt);
      }
      auto t1 = std::chrono::steady_clock::now();
      if (decoder && opt.gen > 0) {
        std::vector<int> seqs(static_cast<size_t>(B)), toks(static_cast<size_t>(B));
        for (int b = 0; b < B; b++) seqs[size_t(b)] = b, toks[size_t(b)] = prompt_rows[size_t(b) * opt.prompt];
        for (int g = 0; g < opt.gen; g++) {
          const float* lg = ctx.eval_batch(toks.data(), seqs.data(), B, true);
          for (int b = 0; b < B; b++) toks[size_t(b)] = argmax(lg + size_t(b) * c.vocab_size, c.vocab_size);
        }
      }
      auto t2 = std::chrono::steady_clock::now();
      if (rep < opt.warmup) continue;
      prefill.push_back(double(B) * opt.prompt / seconds(t0, t1));
      if (decoder && opt.gen > 0) decode.push_back(double(B) * opt.gen / seconds(t1, t2));
    }
    out.push_back({B, stats_of(prefill), stats_of(decode)});
  }
  return out;
}

}  // namespace zip
