// Searching one family member: the search's view of a ranking (per module, each level's time
// from the latency table and the ranking's error), the per-module sensitivity probes that centre
// the search, and the search itself, kept across the guarantee's rounds (compress/guarantee.h).
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compress/heldout_loss.h"
#include "compress/latency.h"
#include "compress/options.h"
#include "compress/ranking.h"
#include "compress/search.h"
#include "compress/sensitivity.h"

namespace zip {

// Per module (module_index): time, error and density of every level. A module the layer lacks
// has one level of time table(0) and error 0.
std::vector<ModuleLevels> search_modules(const Model& dense, const Ranking& r, const LatencyTable& t);

// What a member's search reads from the run.
struct SearchContext {
  const Model& dense;
  const Ranking& ranking;
  HeldoutLoss& heldout;     // the search windows
  std::string search_loss;  // resolved: kl, nll, tokens, pooled, similarity
  const CompressOptions& opt;
  std::function<void(const std::string&, int, int)> progress;  // (label, done, total)
};

// The search loss of one level vector (stitched and run on the search windows).
double search_loss_of(const SearchContext& c, const std::vector<int>& levels);

// The ranking's per-module sensitivity probes: from the ranking's cache folder, or measured and
// written there. `calib` names the search windows in the file name.
std::vector<ModuleProbe> sensitivity_probes(const SearchContext& c, const std::vector<ModuleLevels>& mods,
                                            const CalibSet& calib, const std::function<void(const std::string&)>& log);

// One member's search under a strategy. Round 1 is the full search; later rounds (a budget
// corrected by a re-measurement) search again, shorter and centred on the coefficients the
// previous search tuned: the tuned DP alone at another budget can land on a shape no evaluation
// has judged. Losses are shared by level vector across rounds.
class MemberSearch {
 public:
  MemberSearch(const SearchContext& c, SearchStrategy s, std::vector<ModuleLevels> mods, std::string label);
  // Round 1 at `budget`, SPDY centred on `base` (empty: c = 1). Uniform: the common density.
  SpdyResult first(double budget, std::vector<double> base);
  // Round `round` >= 2 at `budget`; false when the tuned coefficients find nothing feasible
  // (the choice is then unchanged).
  bool again(double budget, int round);
  const Choice& choice() const { return choice_; }
  double choice_loss() const { return choice_loss_; }
  const std::vector<ModuleLevels>& modules() const { return mods_; }
  SearchStrategy strategy() const { return strategy_; }

 private:
  SpdyResult spdy(double budget, std::vector<double> base, int evaluations, int round);
  const SearchContext& c_;
  SearchStrategy strategy_;
  std::vector<ModuleLevels> mods_;
  std::string label_;
  Choice choice_;
  std::vector<double> coef_;
  std::map<std::vector<int>, double> losses_;
  double choice_loss_ = 0;
};

}  // namespace zip
