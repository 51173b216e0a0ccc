// Compression report renderers: Markdown, terminal summary and SVG from a sample report.json.
// Expected strings are formatted here from the sample's numbers, not copied from the output.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "engine/error.h"
#include "compress/report.h"
#include "compress/report_merge.h"
#include "engine/file_io.h"
#include "tests/test_util.h"

using nlohmann::json;

namespace {

json layers(int n, int heads, int kv, int ffn, double ae, double fe) {
  json a = json::array();
  for (int i = 0; i < n; ++i)
    a.push_back({{"heads", heads}, {"kv_heads", kv}, {"ffn", ffn - 64 * i},
                 {"attn_error", ae * (i + 1)}, {"ffn_error", fe * (i + 1)}});
  return a;
}

// 2 methods × 2 targets; magnitude at 2.0× is infeasible; ziplm at 2.0× misses its target.
json sample() {
  json r = {
      {"model", "runs/model.zlm"}, {"parent_hash", "abc123"}, {"architecture", "llama"},
      {"env", "cpu:threads=2,batch=1,ctx=256,phase=decode"},
      {"calibration", {{"files", 5}, {"samples", 128}, {"len", 256}, {"heldout_samples", 16}, {"seed", 1}}},
      {"latency_table",
       {{"t_dense", 0.0205}, {"t_fixed", 0.0031},
        {"attention", {{9, 3, 0.00031}, {6, 2, 0.00022}, {0, 0, 0.0}}},
        {"ffn", {{1536, 0.00026}, {1024, 0.00018}, {0, 0.0}}}}},
      {"dense", {{"time_s", 0.0205}, {"params", 134515008}, {"calib_loss", 2.91}, {"ppl", 30.12},
                 {"eval_file", "wiki.test.raw"}, {"eval_tokens", 65536}}},
      {"wall_s", {{"calibration", 51.2}, {"database", 80.1}, {"latency", 40.3}, {"search", 120.4}, {"total", 300.0}}},
  };
  json m = json::array();
  m.push_back({{"method", "ziplm"}, {"update", true}, {"target", 1.5}, {"feasible", true},
               {"max_speedup", 4.1}, {"predicted_speedup", 1.51}, {"measured_speedup", 1.53},
               {"measured_s", 0.0134}, {"rounds", 1}, {"params", 90000000}, {"calib_loss", 3.05},
               {"search_loss_dp", 0.31}, {"search_loss_sensitivity", 0.21}, {"search_loss", 0.17},
               {"search_objective", "kl"}, {"evaluations", 30}, {"ppl", 34.5}, {"kl", 0.12},
               {"file", "ziplm-1.50x.zlm"}, {"layers", layers(2, 6, 2, 1024, 0.012, 0.034)}});
  m.push_back({{"method", "magnitude"}, {"update", false}, {"target", 1.5}, {"feasible", true},
               {"predicted_speedup", 1.49}, {"measured_speedup", 1.47}, {"params", 88000000},
               {"calib_loss", 3.6}, {"ppl", 52.25}, {"kl", 0.41}, {"file", "magnitude-1.50x.zlm"},
               {"layers", layers(2, 5, 2, 960, 0.02, 0.05)}});
  m.push_back({{"method", "ziplm"}, {"update", true}, {"target", 2.0}, {"feasible", true},
               {"predicted_speedup", 2.02}, {"measured_speedup", 1.80}, {"params", 70000000},
               {"calib_loss", 3.4}, {"search_loss_dp", 3.5}, {"search_loss", 3.45}, {"ppl", 41.0}, {"kl", 0.2},
               {"file", "ziplm-2.00x.zlm"}, {"layers", layers(2, 4, 1, 768, 0.03, 0.07)}});
  m.push_back({{"method", "magnitude"}, {"target", 2.0}, {"feasible", false}, {"max_speedup", 1.87}});
  r["members"] = m;
  return r;
}

size_t count(const std::string& h, const std::string& needle) {
  size_t n = 0;
  for (size_t p = h.find(needle); p != std::string::npos; p = h.find(needle, p + needle.size())) ++n;
  return n;
}

// Minimal XML well-formedness: balanced tags, one root <svg>, quoted attributes, known entities.
// Returns an empty string when fine, else what went wrong.
std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  int roots = 0;
  size_t i = 0;
  auto entity_ok = [&](size_t at) {
    for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
      if (s.compare(at, std::string(e).size(), e) == 0) return true;
    return false;
  };
  while (i < s.size()) {
    if (s[i] == '&' && !entity_ok(i)) return fmt::format("bad entity at {}", i);
    if (s[i] == '>') return fmt::format("stray '>' at {}", i);
    if (s[i] != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i])))
        return fmt::format("text outside the root at {}", i);
      ++i;
      continue;
    }
    if (s.compare(i, 2, "<?") == 0) {
      size_t e = s.find("?>", i);
      if (e == std::string::npos || i != 0) return "bad XML declaration";
      i = e + 2;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      size_t e = s.find("-->", i);
      if (e == std::string::npos) return "unterminated comment";
      i = e + 3;
      continue;
    }
    bool closing = s[i + 1] == '/';
    size_t n0 = i + (closing ? 2 : 1), n1 = n0;
    while (n1 < s.size() && (std::isalnum(static_cast<unsigned char>(s[n1])) || s[n1] == '-' || s[n1] == ':')) ++n1;
    std::string name = s.substr(n0, n1 - n0);
    if (name.empty()) return fmt::format("empty tag name at {}", i);
    // Find the tag's '>' outside quotes; '<' and '&' inside attributes are checked too.
    size_t j = n1;
    char quote = 0;
    for (; j < s.size(); ++j) {
      char c = s[j];
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '<') return fmt::format("'<' in attribute at {}", j);
        else if (c == '&' && !entity_ok(j)) return fmt::format("bad entity at {}", j);
      } else if (c == '"' || c == '\'') {
        if (s[j - 1] != '=') return fmt::format("unexpected quote at {}", j);
        quote = c;
      } else if (c == '=' && s[j + 1] != '"' && s[j + 1] != '\'') {
        return fmt::format("unquoted attribute at {}", j);
      } else if (c == '>' || c == '<') {
        break;
      }
    }
    if (j >= s.size() || s[j] != '>') return fmt::format("unterminated tag <{}", name);
    bool self = s[j - 1] == '/';
    if (closing) {
      if (stack.empty() || stack.back() != name) return fmt::format("mismatched </{}>", name);
      stack.pop_back();
    } else {
      if (stack.empty()) {
        ++roots;
        if (name != "svg") return "root is not <svg>";
      }
      if (!self) stack.push_back(name);
    }
    i = j + 1;
  }
  if (!stack.empty()) return fmt::format("unclosed <{}>", stack.back());
  if (roots != 1) return fmt::format("{} root elements", roots);
  return "";
}

void save(const std::string& name, const std::string& text) {
  std::ofstream("/tmp/" + name) << text;
}

bool out_of_range(double measured, double target) {
  double q = measured / target;
  return q < 0.97 || q > 1.10;
}

}  // namespace

TEST_CASE("report: xml checker catches broken documents") {
  CHECK(xml_problem("<svg><g/></svg>").empty());
  CHECK_FALSE(xml_problem("<svg><g></svg>").empty());
  CHECK_FALSE(xml_problem("<svg><text>a & b</text></svg>").empty());
  CHECK_FALSE(xml_problem("<svg><text>a < b</text></svg>").empty());
  CHECK_FALSE(xml_problem("<svg x=1/>").empty());
  CHECK_FALSE(xml_problem("<svg/><svg/>").empty());
}

TEST_CASE("report: markdown has the header, rows, flags, infeasible line and latency table") {
  json r = sample();
  std::string md = zip::render_report_md(r);
  save("zip-report-sample.md", md);
  CHECK_HAS(md, "runs/model.zlm");
  CHECK_HAS(md, "cpu:threads=2,batch=1,ctx=256,phase=decode");
  CHECK_HAS(md, "128 samples × 256 tokens");
  CHECK_HAS(md, "- **Wall time:** calibration 51.2 s, database 80.1 s, latency 40.3 s, search 120.4 s, total 300.0 s\n");
  r["wall_s"]["processes"] = 3;
  CHECK_HAS(zip::render_report_md(r), "total 300.0 s (over 3 processes: resumed;");
  // Dense row: params in millions, time in ms.
  CHECK_HAS(md, fmt::format("| {:.3f} | {:.1f} | 2.910 | 30.12 |", 0.0205 * 1e3, 134515008 / 1e6));
  CHECK_HAS(md, "## Target 1.50×");
  CHECK_HAS(md, "## Target 2.00×");
  double dense = r["dense"]["params"].get<double>();
  size_t flagged = 0;
  for (const json& m : r["members"]) {
    if (!m["feasible"].get<bool>()) continue;
    double t = m["target"].get<double>(), s = m["measured_speedup"].get<double>();
    double p = m["params"].get<double>();
    bool bad = out_of_range(s, t);
    flagged += bad;
    std::string line = fmt::format(
        "| {} | {:.2f}× | {:.2f}× | {:.2f}× | {:.2f}{} | – | {:.1f} | {:.1f}% | {:.3f} |",  // no timing spread recorded
        m["method"].get<std::string>(), t, m["predicted_speedup"].get<double>(), s, s / t,
        bad ? " ✗" : "", p / 1e6, p / dense * 100, m["calib_loss"].get<double>());
    CHECK_HAS(md, line);
    CHECK_HAS(md, fmt::format("| {:.2f} | {:.4f} | {} |", m["ppl"].get<double>(),
                              m["kl"].get<double>(), m["file"].get<std::string>()));
  }
  CHECK(flagged == 1);  // ziplm at 2.00× measured 1.80×
  CHECK(count(md, "✗") == flagged);
  CHECK_HAS(md, "| 0.310 / 0.210 / 0.170 (kl) |");  // search losses for ziplm: DP-only, probed, tuned
  CHECK_HAS(md, "| 3.500 / – / 3.450 |");
  CHECK_HAS(md, "target 2.00× is infeasible");
  CHECK_HAS(md, "largest achievable speedup is 1.87×");
  // Per-layer tables (short report: every feasible member), layer 1 of ziplm@1.5.
  CHECK(count(md, "| layer | heads | KV heads | FFN |") == 3);
  CHECK_HAS(md, fmt::format("| 1 | 6 | 2 | {} | {:.3g} | {:.3g} |", 1024 - 64, 0.024, 0.068));
  CHECK_HAS(md, "30 loss evaluations");
  // Latency table in ms.
  CHECK_HAS(md, fmt::format("T_dense = {:.3f} ms, T_fixed = {:.3f} ms", 20.5, 3.1));
  CHECK_HAS(md, fmt::format("| 9 | 3 | {:.3f} |", 0.31));
  CHECK_HAS(md, fmt::format("| 1024 | {:.3f} |", 0.18));
}

TEST_CASE("report: measured/target flag boundaries") {
  for (double meas : {1.40, 1.47, 1.50, 1.64, 1.68}) {
    json r = {{"members", {{{"method", "ziplm"}, {"target", 1.5}, {"feasible", true},
                            {"measured_speedup", meas}}}}};
    std::string md = zip::render_report_md(r);
    INFO("measured " << meas);
    CHECK(count(md, "✗") == (out_of_range(meas, 1.5) ? 1u : 0u));
    CHECK_HAS(md, fmt::format("| {:.2f}", meas / 1.5));
  }
}

TEST_CASE("report: summary table") {
  std::string t = zip::render_summary_table(sample());
  save("zip-report-sample.txt", t);
  CHECK(count(t, "\n") == 8);  // header, rule, dense, 4 members, the out-of-band count
  CHECK_HAS(t, "1.80x (MISSED)");
  CHECK_HAS(t, "dense");
  CHECK_HAS(t, "1.53x");
  CHECK_HAS(t, "34.50");
  CHECK_HAS(t, "infeasible (max 1.87x)");
  CHECK_HAS(t, fmt::format("{:.1f}", 90000000 / 1e6));
  CHECK(t.find("–") == std::string::npos);  // plain ASCII for the terminal
}

TEST_CASE("report: the summary table flags members outside the band") {
  for (double meas : {1.40, 1.47, 1.50, 1.64, 1.68}) {
    json r = {{"dense", {{"params", 1e8}}},
              {"members", {{{"method", "ziplm"}, {"target", 1.5}, {"feasible", true}, {"measured_speedup", meas}}}}};
    std::string t = zip::render_summary_table(r);
    INFO("measured " << meas << "\n" << t);
    const size_t flagged = out_of_range(meas, 1.5) ? 1u : 0u;
    CHECK(count(t, "(MISSED)") == flagged);
    CHECK(count(t, "1 member(s) measured outside [0.97, 1.1] x target") == flagged);
  }
}

TEST_CASE("report: svg is well-formed with one marker per plotted member") {
  json r = sample();
  std::string svg = zip::render_report_svg(r);
  save("zip-report-sample.svg", svg);
  CHECK(xml_problem(svg) == "");
  size_t plotted = 0;
  for (const json& m : r["members"]) plotted += m["feasible"].get<bool>();
  CHECK(count(svg, "class=\"pt\"") == plotted);
  CHECK(count(svg, "class=\"dense\"") == 1);
  CHECK_HAS(svg, ">ziplm</text>");
  CHECK_HAS(svg, ">magnitude</text>");
  CHECK_HAS(svg, ">dense</text>");
  CHECK_HAS(svg, "perplexity");
  CHECK(svg.find("log scale") == std::string::npos);  // 30..52: linear
  CHECK(count(svg, "<polyline") == 1);                // magnitude has a single point
  CHECK_HAS(svg, "measured 1.53×, perplexity 34.5");
}

TEST_CASE("report: svg draws distilled members as two curves, before and after KD") {
  json r = sample();
  size_t plotted = 0, distilled = 0;
  for (json& m : r["members"]) {
    if (!m["feasible"].get<bool>()) continue;
    plotted++;
    if (m["method"] != "ziplm") continue;
    distilled++;
    const double x = m["measured_speedup"], ppl = m["ppl"];
    m["distill"] = {{"before", {{"measured_speedup", x}, {"ppl", ppl}}},
                    {"after", {{"measured_speedup", x * 1.01}, {"ppl", ppl * 0.8}}}};
    m["ppl"] = ppl * 0.8;
  }
  REQUIRE(distilled >= 2);
  const std::string svg = zip::render_report_svg(r);
  CHECK(xml_problem(svg) == "");
  CHECK(count(svg, "class=\"pt\"") == plotted + distilled);
  CHECK_HAS(svg, ">ziplm + KD</text>");
  CHECK_HAS(svg, ">ziplm before KD</text>");
  CHECK(svg.find(">ziplm</text>") == std::string::npos);
  CHECK(count(svg, "stroke-dasharray") == 1);  // the before-KD curve
  CHECK(count(svg, "fill=\"#ffffff\" stroke=\"#1f77b4\"") == distilled + 1);  // hollow markers + legend
}

TEST_CASE("report: svg falls back to calibration loss and goes log over a wide range") {
  json r = sample();
  r["members"][1].erase("ppl");
  std::string svg = zip::render_report_svg(r);
  CHECK(xml_problem(svg) == "");
  CHECK_HAS(svg, "calibration loss");
  CHECK(svg.find("perplexity") == std::string::npos);
  CHECK(count(svg, "class=\"pt\"") == 3);

  r = sample();
  r["members"][2]["ppl"] = 900.0;
  svg = zip::render_report_svg(r);
  CHECK(xml_problem(svg) == "");
  CHECK_HAS(svg, "perplexity (log scale)");
  CHECK_HAS(svg, ">100</text>");
}

TEST_CASE("report: encoders show STS-B Spearman in the tables and the plot") {
  json r = sample();
  r["dense"].erase("ppl");
  r["dense"]["spearman"] = 0.8672;
  double rho = 0.85;
  for (auto& m : r["members"]) m.erase("ppl"), m["spearman"] = rho, rho -= 0.01;
  std::string md = zip::render_report_md(r);
  CHECK_HAS(md, "ppl / STS");
  CHECK_HAS(md, "ρ 0.8672");
  CHECK_HAS(md, "ρ 0.8500");
  CHECK_HAS(zip::render_summary_table(r), "ρ 0.8400");
  std::string svg = zip::render_report_svg(r);
  CHECK(xml_problem(svg) == "");
  CHECK_HAS(svg, "STS-B Spearman");
  CHECK(svg.find("calibration loss") == std::string::npos);
}

TEST_CASE("report: missing, odd and hostile fields do not throw") {
  double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<json> cases = {
      json::object(),
      {{"members", json::array()}},
      {{"members", {{{"method", "ziplm"}}}}},
      {{"members", {{{"target", 3.0}, {"feasible", false}}}}},
      {{"members", {{{"method", "uniform"}, {"target", 1.2}, {"measured_speedup", nan}, {"ppl", 10}}}}},
      {{"members", {{{"method", "x"}, {"target", "1.5"}, {"measured_speedup", 1.2}, {"ppl", nan}}}}},
      {{"members", {{{"method", "ziplm"}, {"measured_speedup", 1.3}, {"ppl", 12}}}},
       {"dense", {{"ppl", 12}}}},  // one point at the dense value: zero y range
      {{"members", 5}, {"dense", "x"}, {"latency_table", {{"attention", {1, {2}, {"a", 1, 2}}}}}},
      {{"model", "<a & \"b\">"}, {"env", "x'y\n"}, {"members", {{{"method", "m<1>"}, {"target", 1.5},
        {"measured_speedup", 1.5}, {"ppl", 20}, {"layers", {json::object(), 3}}}}}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << ": " << cases[i].dump());
    std::string md, txt, svg;
    CHECK_NOTHROW(md = zip::render_report_md(cases[i]));
    CHECK_NOTHROW(txt = zip::render_summary_table(cases[i]));
    CHECK_NOTHROW(svg = zip::render_report_svg(cases[i]));
    CHECK(xml_problem(svg) == "");
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
  }
  std::string svg = zip::render_report_svg(cases.back());
  CHECK_HAS(svg, "&lt;a &amp; &quot;b&quot;&gt;");
  CHECK_HAS(svg, ">m&lt;1&gt;</text>");
  CHECK(count(zip::render_report_svg(cases[4]), "class=\"pt\"") == 0);  // NaN speedup skipped
  CHECK(count(zip::render_report_svg(cases[6]), "class=\"pt\"") == 1);
  CHECK_THROWS_AS(zip::render_report_md(json::array()), zip::Error);
  CHECK_THROWS_AS(zip::render_report_svg(json(3)), zip::Error);
}

TEST_CASE("report: latency decimals adapt, long reports keep only ZipLM layer tables") {
  json r = sample();
  r["latency_table"]["ffn"] = {{64, 4.2e-6}, {32, 2.5e-6}};
  std::string md = zip::render_report_md(r);
  // Fastest level 0.0025 ms: three significant digits need 5 decimals.
  CHECK_HAS(md, fmt::format("| 64 | {:.5f} |", 4.2e-3));
  CHECK_HAS(md, fmt::format("T_dense = {:.5f} ms", 20.5));

  r = sample();
  size_t ziplm = 0, feasible = 0;
  for (json& m : r["members"]) {
    if (!m["feasible"].get<bool>()) continue;
    ++feasible;
    ziplm += m["method"] == "ziplm";
    m["layers"] = layers(80, 4, 2, 512 + 64 * 80, 0.001, 0.002);
  }
  REQUIRE(feasible * 80 > 200);
  md = zip::render_report_md(r);
  CHECK(count(md, "| layer | heads | KV heads | FFN |") == ziplm);
  CHECK(count(md, "### magnitude @") == 0);
}

TEST_CASE("report: a miss, a busy timing, an unfinished run, the database and the dense time's source are stated") {
  json r = {{"complete", false},
            {"database", {{"path", "out/.db"}, {"bytes", 3.2e9}, {"kept", false}}},
            {"dense", {{"time_s", 0.076872}, {"time_from", "latency table (T_dense)"}, {"time_now_s", 0.067996}}},
            {"members",
             {{{"method", "ziplm"}, {"target", 2.0}, {"feasible", true}, {"measured_speedup", 1.88}, {"timing_spread", 0.17},
               {"guarantee_met", false}, {"failure", "measured 1.880x = 0.940 x target after 4 rounds"},
               {"file", "ziplm-2.00x-failed.zlm"}},
              {{"method", "ziplm"}, {"target", 1.5}, {"feasible", true}, {"measured_speedup", 1.52}, {"timing_spread", 0.031}}}}};
  const std::string md = zip::render_report_md(r);
  CHECK_HAS(md, "**Unfinished run**: 2 member(s) so far");
  CHECK_HAS(md, "- **Database:** out/.db (3200.0 MB), removed (--keep-db keeps it)");
  CHECK_HAS(md, "| 76.872 |");
  CHECK_HAS(md, "Time: latency table (T_dense), one forward pass; the table was reused from the cache and the dense model took 67.996 ms");
  CHECK_HAS(md, "| 0.94 ✗ | 17.0 % (busy) |");
  CHECK_HAS(md, "| 1.01 | 3.1 % |");
  CHECK_HAS(md, "- **ziplm missed its target**: measured 1.880x = 0.940 x target after 4 rounds.");
  CHECK_HAS(md, "ziplm-2.00x-failed.zlm");
  const std::string t = zip::render_summary_table(r);
  CHECK_HAS(t, "database: out/.db (3200.0 MB), removed (--keep-db keeps it)");
  CHECK_HAS(t, "written as <method>-<target>x-failed.zlm");
}

// Two runs distilled differently: their ziplm members, distilled, under the runs' labels.
json distilled_sample(double gain) {
  json r = sample();
  for (json& m : r["members"])
    if (m["feasible"].get<bool>() && m["method"] == "ziplm") {
      const double x = m["measured_speedup"], ppl = m["ppl"];
      m["distill"] = {{"before", {{"measured_speedup", x}, {"ppl", ppl}}}, {"after", {{"measured_speedup", x}, {"ppl", ppl * gain}}}};
      m["ppl"] = ppl * gain;
    }
  return r;
}

TEST_CASE("zip plot: several runs in one figure, each under its label, with and without KD") {
  const json a = distilled_sample(0.8), b = distilled_sample(0.7);
  const json merged = zip::merge_reports({{"one-shot", "a", a}, {"gradual", "b", b}});
  CHECK(merged["members"].size() == a["members"].size() + b["members"].size());
  CHECK(merged["env"] == a["env"]);
  const std::string svg = zip::render_report_svg(merged);
  CHECK(xml_problem(svg) == "");
  for (const char* s : {">one-shot + KD</text>", ">one-shot before KD</text>", ">gradual + KD</text>", ">gradual before KD</text>"})
    CHECK_HAS(svg, s);
  CHECK(svg.find(">ziplm") == std::string::npos);  // every series under its run's label
  // Unlabelled runs keep their methods' names; two of them drawing one series are refused.
  CHECK(zip::merge_reports({{"", "a", sample()}})["members"].size() == sample()["members"].size());
  auto error_of = [](const std::vector<zip::LabelledReport>& v) {
    try {
      zip::merge_reports(v);
    } catch (const zip::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_HAS(error_of({{"", "a", a}, {"", "b", b}}), "b: its series 'ziplm' is already drawn by an earlier report");
  json other_env = b;
  other_env["env"] = "cpu:threads=4,batch=1,ctx=256,phase=decode";
  CHECK_HAS(error_of({{"x", "a", a}, {"y", "b", other_env}}), "speedups of different environments do not compare");
  json other_model = b;
  other_model["parent_hash"] = "fff";
  CHECK_HAS(error_of({{"x", "a", a}, {"y", "b", other_model}}), "different dense models");
}

TEST_CASE("zip plot: the command writes one figure from run folders; bad input is one line") {
  const std::string dir = ztest::temp_dir();
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  zip::write_file_atomic(dir + "/a/report.json", distilled_sample(0.8).dump());
  zip::write_file_atomic(dir + "/b/report.json", distilled_sample(0.7).dump());
  auto ok = ztest::run_zip("plot -o " + ztest::shell_quote(dir + "/all.svg") + " " + ztest::shell_quote(dir + "/a=one-shot") + " " +
                           ztest::shell_quote(dir + "/b=gradual"));
  REQUIRE_MESSAGE(ok.status == 0, ok.err);
  const std::string svg = zip::read_file(dir + "/all.svg");
  CHECK(xml_problem(svg) == "");
  CHECK_HAS(svg, ">gradual + KD</text>");
  auto same = ztest::run_zip("plot -o " + ztest::shell_quote(dir + "/x.svg") + " " + ztest::shell_quote(dir + "/a") + " " +
                             ztest::shell_quote(dir + "/b"));
  CHECK(same.status == 1);
  CHECK_HAS(same.err, "give each report a label");
  CHECK(!zip::file_exists(dir + "/x.svg"));
  auto missing = ztest::run_zip("plot -o " + ztest::shell_quote(dir + "/y.svg") + " " + ztest::shell_quote(dir + "/nowhere"));
  CHECK(missing.status == 1);
  CHECK_HAS(missing.err, "no report.json");
  CHECK(ztest::run_zip("plot " + ztest::shell_quote(dir + "/a")).status == 2);  // no -o
  CHECK(ztest::run_zip("plot -o " + ztest::shell_quote(dir + "/z.svg") + " " + ztest::shell_quote(dir + "/a=")).status == 2);
}
