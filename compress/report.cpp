// Report renderers for `zip compress` (see report.h). Everything tolerates missing or mistyped
// optional fields: a value that is absent, null, not a number or not finite renders as "–".
#include "compress/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <vector>

#include "engine/error.h"
#include "compress/band.h"
#include "compress/report_distill.h"
#include "compress/report_fields.h"
#include "compress/timing_spread.h"

namespace zip {
namespace {

using nlohmann::json;
using namespace report_detail;


bool same_target(const std::optional<double>& a, const std::optional<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || std::fabs(*a - *b) <= 1e-9 * std::max(1.0, std::fabs(*a));
}

// Markdown table cells must not contain '|' or newlines.
std::string cell(std::string s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n' || c == '\r') o += ' ';
    else o += c;
  }
  return o;
}

std::string row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s + "\n";
}

// The search's objective for one member: DP-only (c = 1), the DP on the probed sensitivities,
// and the best candidate, in the search's own loss (KL, NLL or 1 − cos: report "search_loss").
std::string search_cell(const json& j) {
  auto dp = num(j, "search_loss_dp"), probed = num(j, "search_loss_sensitivity"), best = num(j, "search_loss");
  if (!dp && !best) return kDash;
  std::string objective = str(j, "search_objective").value_or("");
  return fmt::format("{} / {} / {}{}", fx(dp, 3), fx(probed, 3), fx(best, 3), objective.empty() ? "" : " (" + objective + ")");
}

// The member's quality on the --eval data: perplexity (decoders) or STS-B Spearman (encoders).
std::string quality_cell(const json& j, const char* dash = kDash) {
  if (auto rho = num(j, "spearman")) return fmt::format("ρ {:.4f}", *rho);
  return fx(num(j, "ppl"), 2, "", 1, dash);
}

std::string header_row(const std::vector<std::string>& cells) {
  std::string s = row(cells) + "|";
  for (size_t i = 0; i < cells.size(); ++i) s += "---|";
  return s + "\n";
}

bool is_ziplm(const std::string& method) { return method.rfind("ziplm", 0) == 0; }

void md_layers(std::string& o, const Member& m) {
  const json& j = *m.j;
  o += fmt::format("### {} @ {} — measured {}\n\n", cell(m.method), target_text(m, "×"),
                   fx(num(j, "measured_speedup"), 2, "×"));
  std::vector<std::string> notes;
  if (auto u = flag(j, "update")) notes.push_back(fmt::format("weight update: {}", *u ? "yes" : "no"));
  if (auto e = num(j, "evaluations")) notes.push_back(fmt::format("{:.0f} loss evaluations", *e));
  if (auto r = num(j, "rounds")) notes.push_back(fmt::format("{:.0f} re-measure round(s)", *r));
  for (size_t k = 0; k < notes.size(); ++k)  // (no fmt::join: it trips a GCC 12 false warning)
    o += notes[k] + (k + 1 < notes.size() ? ", " : ".\n\n");
  o += header_row({"layer", "heads", "KV heads", "FFN", "attn error", "FFN error"});
  int li = 0;
  for (const json& l : list(j, "layers")) {
    o += row({std::to_string(li++), fx(num(l, "heads"), 0), fx(num(l, "kv_heads"), 0),
              fx(num(l, "ffn"), 0), fg(num(l, "attn_error"), 3), fg(num(l, "ffn_error"), 3)});
  }
  o += "\n";
}

std::optional<double> entry(const json& a, size_t i) {
  if (!a.is_array() || i >= a.size() || !a[i].is_number()) return std::nullopt;
  double v = a[i].get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

void md_latency(std::string& o, const json& r) {
  const json& lt = sub(r, "latency_table");
  o += "## Latency table\n\n";
  if (lt.empty()) {
    o += "No latency table.\n";
    return;
  }
  // Enough decimals (3 to 6) that the fastest level keeps three significant digits in ms.
  double fastest = INFINITY;
  for (const json& e : list(lt, "attention"))
    if (auto t = entry(e, 2); t && *t > 0) fastest = std::min(fastest, *t * 1e3);
  for (const json& e : list(lt, "ffn"))
    if (auto t = entry(e, 1); t && *t > 0) fastest = std::min(fastest, *t * 1e3);
  int dec = std::isfinite(fastest)
                ? std::clamp(2 - static_cast<int>(std::floor(std::log10(fastest))), 3, 6)
                : 3;
  o += fmt::format("T_dense = {} ms, T_fixed = {} ms (one forward pass).\n\n",
                   fx(num(lt, "t_dense"), dec, "", 1e3), fx(num(lt, "t_fixed"), dec, "", 1e3));
  o += "Attention module, per level:\n\n" + header_row({"query heads", "KV heads", "time (ms)"});
  for (const json& e : list(lt, "attention")) {
    if (e.is_array()) o += row({fx(entry(e, 0), 0), fx(entry(e, 1), 0), fx(entry(e, 2), dec, "", 1e3)});
  }
  o += "\nFFN module, per level:\n\n" + header_row({"width", "time (ms)"});
  for (const json& e : list(lt, "ffn")) {
    if (e.is_array()) o += row({fx(entry(e, 0), 0), fx(entry(e, 1), dec, "", 1e3)});
  }
}

// Where the database is, its size and whether it stays.
std::string database_line(const json& r) {
  const json& db = sub(r, "database");
  auto path = str(db, "path");
  if (!path) return "";
  const bool kept = flag(db, "kept").value_or(false);
  return fmt::format("database: {} ({}){}\n", *path, fx(num(db, "bytes"), 1, " MB", 1e-6),
                     kept ? ", kept (remove it when no later run needs it)" : ", removed (--keep-db keeps it)");
}

// Model, environment, calibration and wall times.
void md_header(std::string& o, const json& r) {
  auto s = [&](const json& j, const char* k) { return str(j, k).value_or(kDash); };
  o += fmt::format("- **Model:** `{}` ({}), parent hash `{}`\n", s(r, "model"),
                   s(r, "architecture"), s(r, "parent_hash"));
  o += fmt::format("- **Environment:** `{}`\n", s(r, "env"));
  const json& cal = sub(r, "calibration");
  o += fmt::format(
      "- **Calibration:** {} files, {} samples × {} tokens, {} held-out samples, seed {}\n",
      fx(num(cal, "files"), 0), fx(num(cal, "samples"), 0), fx(num(cal, "len"), 0),
      fx(num(cal, "heldout_samples"), 0), fx(num(cal, "seed"), 0));
  // Every stage the run recorded, in pipeline order (search includes the members' distillation,
  // which `distill` breaks out).
  const json& w = sub(r, "wall_s");
  std::string stages;
  for (const char* k : {"calibration", "importance", "obs_hessians", "database", "heldout", "latency", "search", "distill", "total"})
    if (auto s = num(w, k)) stages += fmt::format("{}{} {}", stages.empty() ? "" : ", ", k, fx(s, 1, " s"));
  o += fmt::format("- **Wall time:** {}", stages.empty() ? kDash : stages);
  if (auto p = num(w, "processes"); p && *p > 1)
    o += fmt::format(" (over {:.0f} processes: resumed; work a killed process did after its last checkpoint is not counted)", *p);
  o += "\n\n";
  if (std::string db = database_line(r); !db.empty()) o.insert(o.size() - 1, "- **Database:** " + db.substr(10));
}

void md_dense(std::string& o, const json& d) {
  o += "## Dense model\n\n";
  o += header_row({"time (ms)", "params (M)", "calib loss", "ppl / STS", "eval"});
  std::string eval = str(d, "eval_file").value_or(kDash);
  if (auto t = num(d, "eval_tokens")) eval += fmt::format(" ({:.0f} tokens)", *t);
  o += row({fx(num(d, "time_s"), 3, "", 1e3), fx(num(d, "params"), 1, "", 1e-6),
            fx(num(d, "calib_loss"), 3), quality_cell(d), cell(eval)});
  o += "\n";
  if (auto from = str(d, "time_from")) o += fmt::format("Time: {}, one forward pass", *from);
  if (auto now = num(d, "time_now_s"))
    o += fmt::format("; the table was reused from the cache and the dense model took {} ms when checked now", fx(now, 3, "", 1e3));
  if (str(d, "time_from")) o += ". Each member's speedup is against the dense model timed beside it (`round_log`).\n\n";
  if (d.contains("deployed") && d["deployed"].is_object()) {
    const json& q = d["deployed"];
    o += fmt::format("Every model is timed, evaluated and written with its weights in {}; the dense model so: {}.\n\n",
                     str(q, "dtype").value_or("?"), quality_cell(q));
  }
}

// One feasible member's row of its target's table.
std::string md_member_row(const Member& m, std::optional<double> dense_params) {
  const json& j = *m.j;
  auto meas = num(j, "measured_speedup");
  std::string ratio = kDash;
  if (meas && m.target && *m.target > 0) {
    double q = *meas / *m.target;
    ratio = fmt::format("{:.2f}{}", q, outside_band(q) ? " ✗" : "");
  }
  auto params = num(j, "params");
  std::optional<double> pct;
  if (params && dense_params && *dense_params > 0) pct = *params / *dense_params * 100;
  std::string spread = fx(num(j, "timing_spread"), 1, " %", 100);
  if (auto sp = num(j, "timing_spread"); sp && *sp > kSpreadLimit) spread += " (busy)";
  return row({cell(m.method), target_text(m, "×"), fx(num(j, "predicted_speedup"), 2, "×"),
              fx(meas, 2, "×"), ratio, spread, fx(params, 1, "", 1e-6), fx(pct, 1, "%"),
              fx(num(j, "calib_loss"), 3), search_cell(j), quality_cell(j),
              fx(num(j, "kl"), 4), cell(str(j, "file").value_or(kDash))});
}

// The members [i, e) of one target: a table of the feasible ones, a line per infeasible one.
void md_target(std::string& o, const std::vector<Member>& ms, size_t i, size_t e, std::optional<double> dense_params) {
  o += fmt::format("## Target {}\n\n", target_text(ms[i], "×"));
  bool any_feasible = false;
  for (size_t k = i; k < e; ++k) any_feasible |= ms[k].feasible;
  if (any_feasible) {
    o += header_row({"method", "target", "predicted", "measured", "measured/target", "timing spread",
                     "params (M)", "% dense", "calib loss", "search: DP-only / probed / tuned", "ppl / STS", "KL", "file"});
  }
  std::string infeasible, failures;
  for (size_t k = i; k < e; ++k) {
    const Member& m = ms[k];
    if (m.feasible) {
      o += md_member_row(m, dense_params);
      if (auto f = str(*m.j, "failure")) failures += fmt::format("- **{} missed its target**: {}.\n", cell(m.method), cell(*f));
      continue;
    }
    infeasible += fmt::format(
        "- **{}**: target {} is infeasible in this environment; the largest achievable "
        "speedup is {}.\n",
        cell(m.method), target_text(m, "×"), fx(num(*m.j, "max_speedup"), 2, "×"));
  }
  if (any_feasible && !(infeasible + failures).empty()) o += "\n";
  o += failures + infeasible + "\n";
}

// Per-layer shapes: ZipLM members always, all members while the tables stay short.
void md_layer_tables(std::string& o, const std::vector<Member>& ms) {
  size_t layer_rows = 0;
  for (const auto& m : ms)
    if (m.feasible) layer_rows += list(*m.j, "layers").size();
  bool all = layer_rows <= 200;
  bool any = false;
  for (const auto& m : ms) {
    if (!m.feasible || list(*m.j, "layers").empty() || !(all || is_ziplm(m.method))) continue;
    if (!any) o += "## Per-layer structure (attention / FFN error = relative output error)\n\n";
    any = true;
    md_layers(o, m);
  }
}

}  // namespace

std::string render_report_md(const json& r) {
  ZIP_CHECK(r.is_object(), "report: expected a JSON object, got {}", r.type_name());
  std::string o = "# zip compress report\n\n";
  if (auto done = flag(r, "complete"); done && !*done)
    o += fmt::format("**Unfinished run**: {} member(s) so far; `zip compress … --resume` continues it.\n\n",
                     list(r, "members").size());
  md_header(o, r);
  const json& d = sub(r, "dense");
  md_dense(o, d);
  auto ms = members_of(r);
  for (size_t i = 0; i < ms.size();) {
    size_t e = i;
    while (e < ms.size() && same_target(ms[e].target, ms[i].target)) ++e;
    md_target(o, ms, i, e, num(d, "params"));
    i = e;
  }
  render_distill_md(o, r);
  md_layer_tables(o, ms);
  md_latency(o, r);
  return o;
}

std::string render_summary_table(const json& r) {
  ZIP_CHECK(r.is_object(), "report: expected a JSON object, got {}", r.type_name());
  const char* dash = "-";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"method", "target", "measured", "params (M)", "ppl / STS", "calib loss"});
  const json& d = sub(r, "dense");
  rows.push_back({"dense", dash, "1.00x", fx(num(d, "params"), 1, "", 1e-6, dash),
                  quality_cell(d, dash), fx(num(d, "calib_loss"), 3, "", 1, dash)});
  if (d.contains("deployed") && d["deployed"].is_object()) {
    const json& q = d["deployed"];
    rows.push_back({"dense " + str(q, "dtype").value_or("?"), dash, "1.00x", fx(num(q, "params"), 1, "", 1e-6, dash),
                    quality_cell(q, dash), dash});
  }
  int out_of_band = 0;
  for (const auto& m : members_of(r)) {
    const json& j = *m.j;
    std::string target = target_text(m, "x", dash);
    if (!m.feasible) {
      rows.push_back({m.method, target,
                      "infeasible (max " + fx(num(j, "max_speedup"), 2, "x", 1, dash) + ")", dash,
                      dash, dash});
      continue;
    }
    auto meas = num(j, "measured_speedup");
    std::string measured = fx(meas, 2, "x", 1, dash);
    if (meas && m.target && *m.target > 0 && outside_band(*meas / *m.target)) {
      measured += " (MISSED)";
      out_of_band++;
    }
    rows.push_back({m.method, target, measured,
                    fx(num(j, "params"), 1, "", 1e-6, dash), quality_cell(j, dash),
                    fx(num(j, "calib_loss"), 3, "", 1, dash)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& rw : rows)
    for (size_t c = 0; c < rw.size(); ++c) width[c] = std::max(width[c], rw[c].size());
  std::string o;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line;
    for (size_t c = 0; c < rows[i].size(); ++c) {
      // Method left-aligned, numbers right-aligned.
      line += c == 0 ? fmt::format("{:<{}}", rows[i][c], width[c])
                     : fmt::format("  {:>{}}", rows[i][c], width[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    o += line + "\n";
    if (i == 0) {
      size_t total = 0;
      for (size_t c = 0; c < width.size(); ++c) total += width[c] + (c ? 2 : 0);
      o += std::string(total, '-') + "\n";
    }
  }
  if (out_of_band > 0)
    o += fmt::format("{} member(s) measured outside [{}, {}] x target after the last re-measure round: written as "
                     "<method>-<target>x-failed.zlm\n",
                     out_of_band, kBandLow, kBandHigh);
  o += database_line(r);
  return o;
}


}  // namespace zip
