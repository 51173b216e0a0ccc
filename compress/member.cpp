#include "compress/member.h"

#include <set>

#include "engine/error.h"

namespace zip {

using nlohmann::json;

namespace {

template <class T>
void put(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <class T>
void take(const json& j, const char* key, std::optional<T>& v) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) v = it->get<T>();
}

json round_to_json(const RoundRecord& r) {
  json j = {{"budget_s", r.budget_s},     {"predicted_s", r.predicted_s}, {"measured_s", r.measured_s},
            {"dense_measured_s", r.dense_measured_s}, {"speedup", r.speedup}, {"table_scale", r.table_scale}};
  put(j, "search_loss", r.search_loss);
  put(j, "spread", r.spread), put(j, "reps", r.reps), put(j, "timings", r.timings);
  return j;
}

RoundRecord round_from_json(const json& j) {
  RoundRecord r;
  r.budget_s = j.at("budget_s"), r.predicted_s = j.at("predicted_s"), r.measured_s = j.at("measured_s");
  r.dense_measured_s = j.at("dense_measured_s"), r.speedup = j.at("speedup"), r.table_scale = j.at("table_scale");
  take(j, "search_loss", r.search_loss);
  take(j, "spread", r.spread), take(j, "reps", r.reps), take(j, "timings", r.timings);
  return r;
}

const std::set<std::string>& known_keys() {
  static const std::set<std::string> k = {
      "method", "update", "target", "max_speedup", "db_method", "feasible", "table_scale", "search_objective",
      "search_loss_dp", "search_loss", "search_loss_sensitivity", "evaluations", "search_s", "guarantee_met", "failure", "timing_spread",
      "round_log", "rounds", "predicted_speedup", "measured_speedup", "measured_s", "dense_measured_s", "params",
      "calib_loss", "unseen_loss", "kl", "recipe", "layers", "ppl", "spearman", "eval_tokens", "eval_pairs", "file",
      "replayed"};
  return k;
}

}  // namespace

json MemberReport::to_json() const {
  json j = extra;
  j["method"] = method, j["update"] = update, j["target"] = target, j["max_speedup"] = max_speedup;
  j["db_method"] = db_method, j["feasible"] = feasible;
  put(j, "table_scale", table_scale);
  put(j, "search_objective", search_objective);
  put(j, "search_loss_dp", search_loss_dp), put(j, "search_loss", search_loss);
  put(j, "search_loss_sensitivity", search_loss_sensitivity);
  put(j, "evaluations", evaluations), put(j, "search_s", search_s), put(j, "guarantee_met", guarantee_met);
  put(j, "timing_spread", timing_spread), put(j, "failure", failure);
  if (rounds) {  // a feasible member that went through the guarantee loop
    j["round_log"] = json::array();
    for (const RoundRecord& r : round_log) j["round_log"].push_back(round_to_json(r));
  }
  put(j, "rounds", rounds);
  put(j, "predicted_speedup", predicted_speedup), put(j, "measured_speedup", measured_speedup);
  put(j, "measured_s", measured_s), put(j, "dense_measured_s", dense_measured_s), put(j, "params", params);
  put(j, "calib_loss", calib_loss), put(j, "unseen_loss", unseen_loss), put(j, "kl", kl);
  if (feasible) {
    j["recipe"] = {{"attn_levels", attn_levels}, {"ffn_levels", ffn_levels}};
    if (!slice.is_null()) j["recipe"]["slice"] = slice;
  }
  if (!layers.empty()) {
    j["layers"] = json::array();
    for (const LayerRecord& l : layers)
      j["layers"].push_back({{"heads", l.heads}, {"kv_heads", l.kv_heads}, {"ffn", l.ffn},
                             {"attn_error", l.attn_error}, {"ffn_error", l.ffn_error}});
  }
  put(j, "ppl", ppl), put(j, "eval_tokens", eval_tokens);
  put(j, "spearman", spearman), put(j, "eval_pairs", eval_pairs);
  put(j, "file", file), put(j, "replayed", replayed);
  return j;
}

MemberReport MemberReport::from_json(const json& j) {
  ZIP_CHECK(j.is_object(), "report member: not a JSON object");
  MemberReport m;
  try {
    m.method = j.at("method").get<std::string>();
    m.update = j.value("update", false);
    m.target = j.at("target").get<double>();
    m.max_speedup = j.value("max_speedup", 0.0);
    m.db_method = j.value("db_method", std::string());
    m.feasible = j.value("feasible", false);
    take(j, "table_scale", m.table_scale), take(j, "search_objective", m.search_objective);
    take(j, "search_loss_dp", m.search_loss_dp), take(j, "search_loss", m.search_loss);
    take(j, "search_loss_sensitivity", m.search_loss_sensitivity);
    take(j, "evaluations", m.evaluations), take(j, "search_s", m.search_s), take(j, "guarantee_met", m.guarantee_met);
    take(j, "timing_spread", m.timing_spread), take(j, "failure", m.failure);
    if (auto it = j.find("round_log"); it != j.end())
      for (const json& r : *it) m.round_log.push_back(round_from_json(r));
    take(j, "rounds", m.rounds);
    take(j, "predicted_speedup", m.predicted_speedup), take(j, "measured_speedup", m.measured_speedup);
    take(j, "measured_s", m.measured_s), take(j, "dense_measured_s", m.dense_measured_s), take(j, "params", m.params);
    take(j, "calib_loss", m.calib_loss), take(j, "unseen_loss", m.unseen_loss), take(j, "kl", m.kl);
    if (auto it = j.find("recipe"); it != j.end()) {
      m.attn_levels = it->at("attn_levels").get<std::vector<int>>();
      m.ffn_levels = it->at("ffn_levels").get<std::vector<int>>();
      if (auto s = it->find("slice"); s != it->end()) m.slice = *s;
    }
    if (auto it = j.find("layers"); it != j.end())
      for (const json& l : *it)
        m.layers.push_back({l.at("heads"), l.at("kv_heads"), l.at("ffn"), l.at("attn_error"), l.at("ffn_error")});
    take(j, "ppl", m.ppl), take(j, "eval_tokens", m.eval_tokens);
    take(j, "spearman", m.spearman), take(j, "eval_pairs", m.eval_pairs);
    take(j, "file", m.file), take(j, "replayed", m.replayed);
  } catch (const json::exception& e) {
    fail("report member: {}", e.what());
  }
  for (const auto& [k, v] : j.items())
    if (!known_keys().count(k)) m.extra[k] = v;
  return m;
}

}  // namespace zip
