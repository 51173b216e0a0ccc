#include "compress/report_merge.h"

#include <filesystem>
#include <set>

#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

namespace fs = std::filesystem;
using nlohmann::json;

json read_report(const std::string& dir_or_file) {
  const std::string path = fs::is_directory(dir_or_file) ? (fs::path(dir_or_file) / "report.json").string() : dir_or_file;
  if (!file_exists(path)) fail("{}: no report.json (not a zip compress output folder)", printable(dir_or_file));
  json r;
  try {
    r = json::parse(read_file(path));
  } catch (const json::exception&) {
    fail("{}: not valid JSON", printable(path));
  }
  if (!r.is_object() || !r.contains("members") || !r["members"].is_array())
    fail("{}: not a compress report (no members)", printable(path));
  return r;
}

namespace {

std::string str_field(const json& r, const char* k) { return r.contains(k) && r[k].is_string() ? r[k].get<std::string>() : ""; }

}  // namespace

json merge_reports(const std::vector<LabelledReport>& reports) {
  ZIP_CHECK(!reports.empty(), "merge_reports: no reports");
  const json& first = reports[0].report;
  json out = json::object();
  for (const char* k : {"model", "parent_hash", "architecture", "env", "dense", "calibration"})
    if (first.contains(k)) out[k] = first[k];
  out["members"] = json::array();
  std::set<std::string> names;  // series names already drawn by an earlier report
  for (const LabelledReport& lr : reports) {
    const json& r = lr.report;
    for (const char* k : {"parent_hash", "env"})
      if (str_field(r, k) != str_field(first, k))
        fail("{}: {} {} differs from {}'s {}: speedups of different {} do not compare", printable(lr.where), k,
             printable(str_field(r, k)), printable(reports[0].where), printable(str_field(first, k)),
             std::string(k) == "env" ? "environments" : "dense models");
    std::set<std::string> mine;
    for (const json& m : r["members"]) {
      if (!m.is_object()) continue;
      json mm = m;
      if (!lr.label.empty()) mm["method"] = lr.label;
      const std::string name = mm.contains("method") && mm["method"].is_string() ? mm["method"].get<std::string>() : "";
      if (names.count(name))
        fail("{}: its series '{}' is already drawn by an earlier report: give each report a label (DIR=LABEL)",
             printable(lr.where), printable(name));
      mine.insert(name);
      out["members"].push_back(std::move(mm));
    }
    names.insert(mine.begin(), mine.end());
  }
  return out;
}

}  // namespace zip
