#include "compress/verify.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "compress/band.h"
#include "compress/timing_spread.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"

namespace zip {

namespace fs = std::filesystem;

std::vector<VerifiedMember> verify_family(const std::string& out_dir, const VerifyOptions& o) {
  const std::string report_path = (fs::path(out_dir) / "report.json").string();
  if (!file_exists(report_path)) fail("{}: no report.json (not a zip compress output folder)", printable(out_dir));
  nlohmann::json r;
  try {
    r = nlohmann::json::parse(read_file(report_path));
  } catch (const nlohmann::json::exception&) {
    fail("{}: not valid JSON", printable(report_path));
  }
  if (!r.is_object() || !r.contains("env") || !r["env"].is_string() || !r.contains("members") || !r["members"].is_array())
    fail("{}: not a compress report (no env or members)", printable(report_path));
  const std::string dense_path = !o.dense_path.empty() ? o.dense_path : r.value("model", std::string());
  if (dense_path.empty() || !file_exists(dense_path))
    fail("the dense model {} is not here: give its path with --dense MODEL.zlm", printable(dense_path));
  if (r.contains("parent_hash") && r["parent_hash"].is_string() && zlm_content_hash(dense_path) != r["parent_hash"].get<std::string>())
    fail("{} is not the model this family was pruned from (content hash {} ≠ {})", printable(dense_path),
         zlm_content_hash(dense_path), printable(r["parent_hash"].get<std::string>()));
  const Env env = parse_env(r["env"].get<std::string>());
  std::shared_ptr<LatencySource> latency = o.latency ? o.latency : std::shared_ptr<LatencySource>(engine_latency(env, o.timing));
  // A source that predicts from a table (the tests' synthetic one) takes the run's; the engine times.
  if (r.contains("latency_table") && r["latency_table"].is_object()) latency->use_table(LatencyTable::from_json(r["latency_table"]));
  auto log = o.log ? o.log : [](const std::string&) {};
  const Model dense = load_zlm(dense_path);
  std::vector<VerifiedMember> out;
  for (const auto& m : r["members"]) {
    if (!m.is_object() || !m.contains("file") || !m["file"].is_string() || !m.contains("target") || !m["target"].is_number())
      continue;  // a budget by parameters, or a member never written
    VerifiedMember v;
    v.file = m["file"].get<std::string>();
    v.method = m.value("method", std::string());
    v.target = m["target"].get<double>();
    if (m.contains("measured_speedup") && m["measured_speedup"].is_number()) v.recorded = m["measured_speedup"].get<double>();
    if (const auto& d = m.value("distill", nlohmann::json::object()); d.is_object() && d.contains("after") &&
                                                                        d["after"].contains("measured_speedup"))
      v.recorded = d["after"]["measured_speedup"].get<double>();  // a distilled member: as written
    const std::string path = (fs::path(out_dir) / v.file).string();
    if (!file_exists(path)) fail("{}: member file {} is missing", printable(out_dir), printable(v.file));
    const Model member = load_zlm(path);
    const PairTiming t = measure_pair_trusted(*latency, dense, member, v.file, log);
    v.measured = t.dense_s / t.model_s, v.spread = t.spread;
    v.in_band = !outside_band(v.measured / v.target);
    out.push_back(v);
  }
  return out;
}

}  // namespace zip
