// Per-module loss sensitivity for the runtime-aware search. The DP minimises Σ c_m·e_m, but a
// module's relative output error e_m says nothing about how much the *model's* loss moves when
// that module is perturbed: a module whose output is small beside the residual stream, or whose
// errors later layers wash out, is cheap; the last layers are dear. With c_m = 1 for every module
// (the paper's "DP-only", docs/METHODS.md) the DP trades errors as if they were equally costly, and ~30 real evaluations
// of SPDY's random coefficients cannot repair that across 60 modules.
//
// A probe puts one module at one level and every other module dense, and measures the KL
// divergence of the stitched model from the dense one on held-out tokens (the search's windows):
// KL is the loss increase to first order, is never negative, and is smooth in the perturbation.
// The coefficient c_m = KL_m / e_m(probe level) turns module m's relative error into a predicted
// loss increase, so the DP's objective becomes the first-order additive model of the real loss;
// SPDY then searches multiplicative corrections around it. One probe per module, shared by all
// targets and environments (it depends on model, calibration and ranking method only).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "compress/search.h"

namespace zip {

struct ModuleProbe {
  int level = -1;      // probed level (-1: module has a single level, never probed)
  double error = 0;    // e_m at that level
  double kl = 0;       // KL(dense ‖ model with only this module pruned), held-out mean per token
  double coef = 0;     // the module's loss-per-error coefficient (see probe_sensitivity)
};

// The probe level of a module: the one whose density is closest to `density` among the pruned
// levels (density < 1); ties to the denser level. -1 when the module has a single level or no
// pruned one.
int probe_level(const ModuleLevels& m, double density);

// Probes every module (kl(m, level) runs the model with only module m at `level`) and derives the
// coefficients. A module whose probe error is ~0 (nothing to lose) or that was not probed gets the
// median coefficient of the others; a probe KL below 1e-6 × the median is raised to it, so no
// module is ever free to remove. progress(done, total).
std::vector<ModuleProbe> probe_sensitivity(const std::vector<ModuleLevels>& mods, double density,
                                           const std::function<double(size_t, int)>& kl,
                                           const std::function<void(int, int)>& progress = {});
// Fills every probe's coef from its kl and error by the rules above (used after loading too).
void set_probe_coefficients(std::vector<ModuleProbe>& probes);
std::vector<double> probe_coefficients(const std::vector<ModuleProbe>& probes);
// c_m ← median(c)^(1−alpha) · c_m^alpha (geometric shrinkage; alpha = 1 leaves c as it is, 0 makes
// every coefficient the median). Coefficients must be positive; alpha in [0, 1].
std::vector<double> shrink_toward_median(std::vector<double> c, double alpha);

nlohmann::json probes_to_json(const std::vector<ModuleProbe>& probes);
std::vector<ModuleProbe> probes_from_json(const nlohmann::json& j);  // throws on malformed input

}  // namespace zip
