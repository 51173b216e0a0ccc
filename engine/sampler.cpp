#include "engine/sampler.h"

#include <algorithm>
#include <cmath>

namespace zip {

static uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Rng::Rng(uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Rng::next() {
  uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }

int argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

void Sampler::accept(int id) {
  if (p_.repeat_penalty == 1.0f || p_.repeat_last_n <= 0) return;
  recent_.push_back(id);
  if (int(recent_.size()) > p_.repeat_last_n) recent_.erase(recent_.begin());
}

int Sampler::sample(const float* logits, int n) {
  if (!recent_.empty()) {
    penalized_.assign(logits, logits + n);
    std::vector<int> seen = recent_;
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int id : seen)
      if (id >= 0 && id < n) {
        float& l = penalized_[size_t(id)];
        l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
      }
    logits = penalized_.data();
  }
  if (p_.temperature <= 0) return argmax(logits, n);
  cand_.resize(size_t(n));
  for (int i = 0; i < n; i++) cand_[size_t(i)] = {logits[i] / p_.temperature, i};
  // Keep the top-k candidates, sorted by logit (descending; ties by id for determinism).
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t k = (p_.top_k > 0 && p_.top_k < n) ? size_t(p_.top_k) : size_t(n);
  std::partial_sort(cand_.begin(), cand_.begin() + std::ptrdiff_t(k), cand_.end(), by_logit);
  cand_.resize(k);
  float mx = cand_[0].first;
  double sum = 0;
  for (auto& c : cand_) sum += (c.first = std::exp(c.first - mx));
  // Nucleus: the smallest prefix whose probability mass reaches top_p.
  if (p_.top_p > 0 && p_.top_p < 1) {
    double cum = 0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); i++) {
      cum += cand_[i].first / sum;
      if (cum >= p_.top_p) { keep = i + 1; break; }
    }
    cand_.resize(keep);
    sum = 0;
    for (auto& c : cand_) sum += c.first;
  }
  // min-p: drop candidates much less likely than the best (cand_ is sorted, best first).
  if (p_.min_p > 0) {
    float cut = p_.min_p * cand_[0].first;
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].first >= cut) keep++;
    cand_.resize(keep);
    sum = 0;
    for (auto& c : cand_) sum += c.first;
  }
  double r = double(rng_.uniform()) * sum, cum = 0;
  for (auto& c : cand_) {
    cum += c.first;
    if (r < cum) return c.second;
  }
  return cand_.back().second;
}

}  // namespace zip
