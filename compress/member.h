// One family member's entry in report.json, typed. The JSON keys are the report's (older
// reports replay with --recipe: keys this version does not know are kept in `extra` and written
// back unchanged); report.md/svg read the JSON leniently (compress/report.h).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zip {

// One stitch-and-measure round of the guarantee loop.
struct RoundRecord {
  double budget_s = 0, predicted_s = 0, measured_s = 0, dense_measured_s = 0;
  double speedup = 0;      // measured, dense / member
  double table_scale = 0;  // predicted / measured speedup
  std::optional<double> search_loss;  // absent for uniform
  // How far the timing can be trusted (compress/timing_spread.h): the spread of the
  // per-repetition speedups, the repetitions, and how many timings it took to get it this steady.
  std::optional<double> spread;
  std::optional<int> reps, timings;
};

// A layer of the chosen member: its shape and the ranking's errors at the chosen levels.
struct LayerRecord {
  int heads = 0, kv_heads = 0, ffn = 0;
  double attn_error = 0, ffn_error = 0;
};

struct MemberReport {
  std::string method;     // prune_method_name
  bool update = false;    // the ranking updates weights
  double target = 0;
  double max_speedup = 0;
  std::string db_method;  // the ranking's key
  bool feasible = false;
  // Set for feasible members:
  std::optional<double> table_scale;  // the prior scale the first budget aimed through
  std::optional<std::string> search_objective;
  std::optional<double> search_loss_dp, search_loss, search_loss_sensitivity;
  std::optional<int> evaluations;
  std::optional<double> search_s;
  std::optional<bool> guarantee_met;
  std::optional<double> timing_spread;  // the chosen round's spread
  std::optional<std::string> failure;  // why the guarantee was missed (the file is then <name>-failed.zlm)
  std::vector<RoundRecord> round_log;
  std::optional<int> rounds;
  std::optional<double> predicted_speedup, measured_speedup, measured_s, dense_measured_s;
  std::optional<int64_t> params;
  std::optional<double> calib_loss, unseen_loss, kl;
  std::vector<int> attn_levels, ffn_levels;  // "recipe": the chosen level per layer
  nlohmann::json slice;                      // "recipe"."slice": the slice spec (null = absent)
  std::vector<LayerRecord> layers;
  std::optional<double> ppl, spearman;       // --eval: decoders / encoders
  std::optional<int64_t> eval_tokens, eval_pairs;
  std::optional<std::string> file;
  std::optional<bool> replayed;
  nlohmann::json extra = nlohmann::json::object();  // keys of older or newer reports, kept as they were

  nlohmann::json to_json() const;
  static MemberReport from_json(const nlohmann::json& j);  // zip::Error on a mistyped known key
};

}  // namespace zip
