#include "distill/random_init.h"

#include <cmath>

#include "engine/sampler.h"

namespace zip::distill {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Model random_init(const ModelConfig& c, uint64_t seed) {
  validate_config(c);
  Model m;
  m.config = c;
  Rng rng(seed);
  const double out_scale = 1.0 / std::sqrt(2.0 * std::max(1, c.n_layers()));
  for (auto& spec : expected_tensors(c)) {
    size_t n = 1;
    for (auto d : spec.shape) n *= size_t(d);
    std::vector<float> v(n, 0.0f);
    if (ends_with(spec.name, ".bias")) {
      // zeros
    } else if (spec.shape.size() == 1) {
      std::fill(v.begin(), v.end(), 1.0f);  // norm scales
    } else {
      double sd = 0.02;
      if (ends_with(spec.name, "attn_output") || ends_with(spec.name, "ffn_down")) sd *= out_scale;
      // Box-Muller on the engine's deterministic generator.
      for (size_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - double(rng.uniform()), u2 = double(rng.uniform());
        double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
        v[i] = float(sd * r * std::cos(a));
        if (i + 1 < n) v[i + 1] = float(sd * r * std::sin(a));
      }
    }
    m.tensors.emplace(spec.name, Tensor::from_floats(v, spec.shape));
  }
  return m;
}

}  // namespace zip::distill
