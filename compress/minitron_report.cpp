#include "compress/minitron_report.h"

#include <fmt/format.h>

namespace zip {

namespace {

std::string cell(const nlohmann::json& j, const char* key, const char* fmt_spec, const char* suffix = "") {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return "–";
  return fmt::format(fmt::runtime(fmt_spec), j[key].get<double>()) + suffix;
}

}  // namespace

std::string minitron_candidates_md(const nlohmann::json& report) {
  std::string o;
  if (!report.is_object() || !report.contains("members") || !report["members"].is_array()) return o;
  // Decoders are scored by KL to the dense model, encoders by the run's encoder loss.
  const std::string score = report.contains("search_loss") && report["search_loss"].is_string()
                                ? fmt::format("loss ({})", report["search_loss"].get<std::string>())
                                : "KL";
  for (const auto& m : report["members"]) {
    if (!m.is_object() || m.value("method", "") != "minitron" || !m.contains("candidates") || !m["candidates"].is_array()) continue;
    const double target = m.value("target", 0.0);
    const std::string what = target > 0 ? fmt::format("{:.2f}x", target)
                                        : fmt::format("{:.2f} of the parameters", m.value("/budget/params_fraction"_json_pointer, 0.0));
    o += fmt::format("\n## Minitron candidates, {}\n\n", what);
    o += fmt::format("| # | layers | KV heads | q/KV | FFN | hidden | params (M) | predicted | measured | {0} one-shot | {0} after short KD | |\n",
                     score);
    o += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    int i = 0;
    for (const auto& c : m["candidates"]) {
      const nlohmann::json& s = c.value("shape", nlohmann::json::object());
      o += fmt::format("| {} | {} | {} | {} | {} | {} | {:.3f} | {} | {} | {} | {} | {} |\n", i, s.value("layers", 0),
                       s.value("kv_heads", 0), s.value("q_per_kv", 0), s.value("ffn", 0), s.value("dim", 0),
                       c.value("params", 0.0) * 1e-6, cell(c, "predicted_speedup", "{:.3f}", "x"),
                       cell(c, "measured_speedup", "{:.3f}", "x"), cell(c, "oneshot_kl", "{:.4f}"), cell(c, "kd_kl", "{:.4f}"),
                       m.value("winner", -1) == i ? "**winner**" : c.value("selected", false) ? "distilled" : "");
      i++;
    }
  }
  return o;
}

}  // namespace zip
