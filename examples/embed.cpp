// Embedding zip in a C++ program: load a model, generate, score. Uses only include/zip/zip.h.
//   build/embed MODEL.zlm "Once upon a time" [DEVICE]      (DEVICE: cpu (default), ref, cuda, cuda:N)
#include <zip/zip.h>

#include <cmath>
#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.zlm [PROMPT] [DEVICE]\n", argv[0]);
    return 2;
  }
  try {
    auto engine = zip::Engine::load(argv[1], {.threads = 1, .device = argc > 3 ? argv[3] : "cpu"});
    std::string prompt = argc > 2 ? argv[2] : "Once upon a time";
    zip::GenerationParams params{.max_new_tokens = 32, .temperature = 0.0f};
    std::printf("%s", prompt.c_str());
    engine->generate(prompt, params, [](const std::string& piece) {
      std::printf("%s", piece.c_str());
      std::fflush(stdout);
      return true;
    });
    // Mean log-likelihood of the prompt under the model.
    std::vector<int> ids = engine->tokenize(prompt);
    std::vector<float> logits = engine->logits(ids);
    double nll = 0;
    for (size_t t = 0; t + 1 < ids.size(); t++) {
      const float* row = logits.data() + t * size_t(engine->vocab_size());
      double mx = row[0], sum = 0;
      for (int v = 0; v < engine->vocab_size(); v++) mx = std::max(mx, double(row[v]));
      for (int v = 0; v < engine->vocab_size(); v++) sum += std::exp(row[v] - mx);
      nll -= row[ids[t + 1]] - mx - std::log(sum);
    }
    std::printf("\nprompt tokens: %zu, mean NLL: %.4f (device %s)\n", ids.size(), nll / double(ids.size() - 1),
                engine->device().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
