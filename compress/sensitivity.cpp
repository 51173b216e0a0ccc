#include "compress/sensitivity.h"

#include <algorithm>
#include <cmath>

#include "base/stats.h"
#include "engine/error.h"

namespace zip {

int probe_level(const ModuleLevels& m, double density) {
  int best = -1;
  if (m.density.size() < 2) return best;  // nothing to choose (e.g. a module already removed)
  for (size_t j = 0; j < m.density.size(); j++) {
    if (!(m.density[j] < 1.0)) continue;
    if (best < 0) {
      best = int(j);
      continue;
    }
    double d = std::abs(m.density[j] - density), b = std::abs(m.density[size_t(best)] - density);
    if (d < b || (d == b && m.density[j] > m.density[size_t(best)])) best = int(j);
  }
  return best;
}

// base/stats' median; 1 (the neutral coefficient) for none.
static double median(const std::vector<double>& v) { return v.empty() ? 1.0 : stats_of(v).median; }

void set_probe_coefficients(std::vector<ModuleProbe>& probes) {
  constexpr double kTinyError = 1e-9;
  std::vector<double> kls;
  for (const ModuleProbe& p : probes)
    if (p.level >= 0 && p.error > kTinyError) kls.push_back(p.kl);
  const double kl_floor = 1e-6 * median(kls);
  std::vector<double> coefs;
  for (ModuleProbe& p : probes) {
    p.coef = 0;
    if (p.level >= 0 && p.error > kTinyError) {
      p.coef = std::max(p.kl, kl_floor) / p.error;
      coefs.push_back(p.coef);
    }
  }
  const double fill = median(coefs);
  for (ModuleProbe& p : probes)
    if (!(p.coef > 0)) p.coef = fill > 0 ? fill : 1.0;
}

std::vector<ModuleProbe> probe_sensitivity(const std::vector<ModuleLevels>& mods, double density,
                                           const std::function<double(size_t, int)>& kl,
                                           const std::function<void(int, int)>& progress) {
  std::vector<ModuleProbe> probes(mods.size());
  int total = 0, done = 0;
  for (size_t m = 0; m < mods.size(); m++) {
    probes[m].level = probe_level(mods[m], density);
    total += probes[m].level >= 0;
  }
  for (size_t m = 0; m < mods.size(); m++) {
    ModuleProbe& p = probes[m];
    if (p.level < 0) continue;
    p.error = mods[m].error.at(size_t(p.level));
    p.kl = kl(m, p.level);
    ZIP_CHECK(std::isfinite(p.kl), "sensitivity: probe of module {} gave a non-finite KL", m);
    if (progress) progress(++done, total);
  }
  set_probe_coefficients(probes);
  return probes;
}

std::vector<double> shrink_toward_median(std::vector<double> c, double alpha) {
  ZIP_CHECK(alpha >= 0 && alpha <= 1, "probe shrinkage {} outside [0, 1]", alpha);
  if (alpha == 1 || c.empty()) return c;
  const double med = median(c);
  for (double& x : c) {
    ZIP_CHECK(x > 0, "probe coefficients must be positive");
    x = std::pow(med, 1 - alpha) * std::pow(x, alpha);
  }
  return c;
}

std::vector<double> probe_coefficients(const std::vector<ModuleProbe>& probes) {
  std::vector<double> c;
  for (const ModuleProbe& p : probes) c.push_back(p.coef);
  return c;
}

nlohmann::json probes_to_json(const std::vector<ModuleProbe>& probes) {
  nlohmann::json a = nlohmann::json::array();
  for (const ModuleProbe& p : probes) a.push_back({{"level", p.level}, {"error", p.error}, {"kl", p.kl}, {"coef", p.coef}});
  return a;
}

std::vector<ModuleProbe> probes_from_json(const nlohmann::json& j) {
  ZIP_CHECK(j.is_array(), "sensitivity: expected an array of probes");
  std::vector<ModuleProbe> probes;
  for (const nlohmann::json& x : j) {
    ModuleProbe p;
    p.level = x.at("level").get<int>(), p.error = x.at("error").get<double>(), p.kl = x.at("kl").get<double>();
    probes.push_back(p);
  }
  set_probe_coefficients(probes);
  return probes;
}

}  // namespace zip
