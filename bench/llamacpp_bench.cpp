// llama.cpp's side of bench/quant_vs_llamacpp.sh, through the public llama.h API only, so that it
// needs libllama (not the large `common` library that llama-bench and llama-quantize link):
//   llamacpp_bench MODEL.gguf PROMPT GEN REPS THREADS   → {"prefill_tps", "decode_tps", "model_size"}
//   llamacpp_bench quantize IN.gguf OUT.gguf FTYPE      (llama_model_quantize, as llama-quantize)
// The measurement is llama-bench's: pp = one llama_decode of PROMPT random tokens (BOS first) from
// an empty KV cache, logits of the last token only; tg = GEN single-token decodes; one warm-up run
// each, then REPS timed runs; the median tokens/s is printed. Built by the script, never by make.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "llama.h"

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char** argv) {
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  if (argc >= 5 && !strcmp(argv[1], "quantize")) {
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = llama_ftype(atoi(argv[4]));
    qp.allow_requantize = true;
    qp.nthread = 2;
    return llama_model_quantize(argv[2], argv[3], &qp) ? 1 : 0;
  }
  if (argc < 6) { fprintf(stderr, "usage: bench MODEL.gguf PROMPT GEN REPS THREADS\n"); return 2; }
  const int n_prompt = atoi(argv[2]), n_gen = atoi(argv[3]), reps = atoi(argv[4]), threads = atoi(argv[5]);
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) return 1;
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_prompt + n_gen + 16;
  cp.n_batch = cp.n_ubatch = std::max(512, n_prompt);
  cp.n_threads = cp.n_threads_batch = threads;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  auto run_pp = [&] {
    llama_memory_clear(llama_get_memory(ctx), true);
    std::vector<llama_token> toks(n_prompt);
    toks[0] = llama_vocab_bos(vocab);
    for (int i = 1; i < n_prompt; i++) toks[i] = std::rand() % n_vocab;
    llama_decode(ctx, llama_batch_get_one(toks.data(), n_prompt));
    llama_synchronize(ctx);
  };
  auto run_tg = [&] {
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_token t = llama_vocab_bos(vocab);
    for (int i = 0; i < n_gen; i++) {
      llama_decode(ctx, llama_batch_get_one(&t, 1));
      llama_synchronize(ctx);
      t = std::rand() % n_vocab;
    }
  };
  auto median_tps = [&](auto fn, int n) {
    fn();  // warm-up
    std::vector<double> v;
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      fn();
      v.push_back(n / (now() - t0));
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double pp = median_tps(run_pp, n_prompt), tg = median_tps(run_tg, n_gen);
  printf("{\"prefill_tps\": %.3f, \"decode_tps\": %.3f, \"model_size\": %llu}\n", pp, tg,
         (unsigned long long)llama_model_size(model));
  llama_free(ctx);
  llama_model_free(model);
  return 0;
}
