// Next-token sampling: greedy at temperature 0, else temperature, top-k, top-p (nucleus).
// Deterministic for a given seed on every platform (own RNG, no std:: distributions).
#pragma once
#include <cstdint>
#include <vector>

namespace zip {

// Applied in this order: repetition penalty, temperature, top-k, top-p, min-p, then a draw
// (greedy at temperature 0 takes the argmax after the penalty).
struct SamplingParams {
  float temperature = 0.8f;     // 0 = greedy (argmax)
  int top_k = 40;               // 0 = off
  float top_p = 0.95f;          // 1 = off
  float min_p = 0.0f;           // keep tokens with p ≥ min_p · p_max; 0 = off
  float repeat_penalty = 1.0f;  // CTRL-style: logits of recent tokens /penalty (>0) or ·penalty (<0); 1 = off
  int repeat_last_n = 64;       // how many recent tokens the penalty looks at
  uint64_t seed = 1;
};

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  float uniform();  // [0, 1)
 private:
  uint64_t s_[4];
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  int sample(const float* logits, int n);
  // Records a token of the context (prompt or generated) for the repetition penalty.
  void accept(int id);
  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  Rng rng_;
  std::vector<std::pair<float, int>> cand_;
  std::vector<int> recent_;     // last repeat_last_n accepted tokens
  std::vector<float> penalized_;
};

int argmax(const float* x, int n);

}  // namespace zip
