// zip — the public C++ API: load a .zlm model, tokenize, score, generate.
// Small and stable on purpose: it exposes no engine internals. Errors are thrown as
// std::runtime_error with a one-line message (an unknown or unusable device included). Link with libzip.a (-lfmt -lutf8proc -pthread).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace zip {

struct LoadOptions {
  int threads = 0;             // CPU threads; 0 = the physical cores this process may use
  int context = 0;             // context length; 0 = the model's maximum
  std::string device = "cpu";  // "cpu", "ref" (scalar reference), "cuda" or "cuda:N" (CUDA builds)
};

struct GenerationParams {
  int max_new_tokens = 128;
  float temperature = 0.8f;  // 0 = greedy
  int top_k = 40;            // 0 = off
  float top_p = 0.95f;       // 1 = off
  uint64_t seed = 1;
};

class Engine {
 public:
  static std::unique_ptr<Engine> load(const std::string& path, const LoadOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int vocab_size() const;
  int context_length() const;
  int n_layers() const;
  int64_t n_params() const;
  std::string device() const;  // the device the model runs on, as given in LoadOptions

  std::vector<int> tokenize(const std::string& text, bool add_bos = true) const;
  std::string detokenize(const std::vector<int>& ids) const;

  // Next-token logits at every position of `ids`: ids.size() rows of vocab_size() floats.
  std::vector<float> logits(const std::vector<int>& ids);

  // Continues `prompt` (BOS is added); on_token receives each new piece of text and returns
  // false to stop early. Stops at EOS, max_new_tokens or the context end. Returns the new text.
  std::string generate(const std::string& prompt, const GenerationParams& params,
                       const std::function<bool(const std::string& piece)>& on_token = {});

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zip
