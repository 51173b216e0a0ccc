// bench/export_check.sh helper (not part of the build): runs a GGUF file through llama.cpp's
// library (libllama, f32 KV cache) for the two checks, when llama.cpp's own tools are not built:
//   gen MODEL.gguf N PROMPT       greedy continuation (as examples/simple: prompt pieces, then N
//                                 tokens or until end-of-generation), to stdout
//   ppl MODEL.gguf FILE C S K     llama-perplexity --ppl-stride S -c C --chunks K's loop
//                                 (tools/perplexity perplexity_v2): window i = tokens [iS, iS+C),
//                                 scores its last S positions; prints "tokens nll"
// Build: g++ -std=c++17 -O2 -I$LLAMA/include -I$LLAMA/ggml/include bench/export_llamacpp.cpp
//        $BUILD/src/libllama.a $BUILD/ggml/src/libggml.a $BUILD/ggml/src/libggml-cpu.a
//        $BUILD/ggml/src/libggml-base.a -fopenmp -lpthread -ldl
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

namespace {

llama_context* make_context(llama_model* model, int n_ctx) {
  llama_context_params p = llama_context_default_params();
  p.n_ctx = uint32_t(n_ctx);
  p.n_batch = p.n_ubatch = uint32_t(n_ctx);
  p.type_k = p.type_v = GGML_TYPE_F32;
  p.n_threads = p.n_threads_batch = 2;
  return llama_init_from_model(model, p);
}

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text) {
  const int n = -llama_tokenize(vocab, text.c_str(), int32_t(text.size()), nullptr, 0, true, true);
  std::vector<llama_token> ids(static_cast<size_t>(n));
  llama_tokenize(vocab, text.c_str(), int32_t(text.size()), ids.data(), n, true, true);
  return ids;
}

// Decodes ids at positions pos_0.. with logits for all (all_logits) or only the last.
bool decode(llama_context* ctx, llama_batch_ext* b, const llama_token* ids, int n, int pos_0, bool all_logits) {
  llama_batch_ext_clear(b);
  for (int i = 0; i < n; i++) {
    const int32_t idx = llama_batch_ext_add_token(b, 0, ids[i]);
    const llama_pos pos = pos_0 + i;
    llama_batch_ext_set_pos(b, idx, &pos);
    if (all_logits || i == n - 1) llama_batch_ext_set_output_logits(b, idx, true);
  }
  return llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, b) == 0;
}

std::string piece(const llama_vocab* vocab, llama_token id) {
  char buf[256];
  const int n = llama_token_to_piece(vocab, id, buf, sizeof(buf), 0, true);
  return n > 0 ? std::string(buf, size_t(n)) : std::string();
}

int generate(llama_model* model, int n_predict, const std::string& prompt) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::vector<llama_token> ids = tokenize(vocab, prompt);
  llama_context* ctx = make_context(model, int(ids.size()) + n_predict);
  llama_batch_ext* b = llama_batch_ext_init(ctx);
  for (llama_token id : ids) std::printf("%s", piece(vocab, id).c_str());
  int pos = 0, n = int(ids.size());
  for (int k = 0; k < n_predict; k++) {
    if (!decode(ctx, b, ids.data() + pos, n, pos, false)) return 1;
    pos += n;
    const float* logits = llama_get_logits_ith(ctx, -1);
    llama_token best = 0;
    for (llama_token v = 1; v < llama_vocab_n_tokens(vocab); v++)
      if (logits[v] > logits[best]) best = v;
    if (llama_vocab_is_eog(vocab, best)) break;
    std::printf("%s", piece(vocab, best).c_str());
    ids.push_back(best);
    n = 1;
  }
  std::printf("\n");
  llama_batch_ext_free(b);
  llama_free(ctx);
  return 0;
}

int perplexity(llama_model* model, const std::string& file, int C, int S, int K) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::vector<llama_token> tokens = tokenize(vocab, ss.str());
  llama_context* ctx = make_context(model, C);
  llama_batch_ext* b = llama_batch_ext_init(ctx);
  const int nv = llama_vocab_n_tokens(vocab);
  double nll = 0;
  long count = 0;
  for (int i = 0; i < K && i * S + C <= int(tokens.size()); i++) {
    llama_memory_clear(llama_get_memory(ctx), true);
    if (!decode(ctx, b, tokens.data() + i * S, C, 0, true)) return 1;
    for (int j = C - S - 1; j < C - 1; j++) {
      const float* l = llama_get_logits_ith(ctx, j);
      double mx = l[0], sum = 0;
      for (int v = 1; v < nv; v++) mx = std::max(mx, double(l[v]));
      for (int v = 0; v < nv; v++) sum += std::exp(double(l[v]) - mx);
      nll += std::log(sum) + mx - double(l[tokens[size_t(i * S + j + 1)]]);
      count++;
    }
  }
  std::printf("%ld %.10f\n", count, nll / double(count));
  llama_batch_ext_free(b);
  llama_free(ctx);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: export_llamacpp gen MODEL N PROMPT | ppl MODEL FILE C S K\n");
    return 2;
  }
  llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
  llama_backend_init();
  llama_model* model = llama_model_load_from_file(argv[2], llama_model_default_params());
  if (!model) return 1;
  const std::string mode = argv[1];
  const int rc = mode == "gen" ? generate(model, std::atoi(argv[3]), argv[4])
                               : perplexity(model, argv[3], std::atoi(argv[4]), std::atoi(argv[5]), std::atoi(argv[6]));
  llama_model_free(model);
  return rc;
}
