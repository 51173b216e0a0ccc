// Lenient access to report.json for the renderers (compress/report.h): a value that is absent,
// null, not a number or not finite reads as missing. Internal to report.cpp and report_svg.cpp.
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zip::report_detail {

using nlohmann::json;
inline const char* const kDash = "–";

// ---- lenient field access --------------------------------------------------------------------

inline const json* field(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

inline std::optional<double> num(const json& j, const char* key) {
  const json* f = field(j, key);
  if (!f || !f->is_number()) return std::nullopt;
  double v = f->get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

inline std::optional<std::string> str(const json& j, const char* key) {
  const json* f = field(j, key);
  if (!f || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}

inline std::optional<bool> flag(const json& j, const char* key) {
  const json* f = field(j, key);
  if (!f || !f->is_boolean()) return std::nullopt;
  return f->get<bool>();
}

inline const json& sub(const json& j, const char* key) {
  static const json empty = json::object();
  const json* f = field(j, key);
  return f && f->is_object() ? *f : empty;
}

inline const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  const json* f = field(j, key);
  return f && f->is_array() ? *f : empty;
}

// ---- number formatting -----------------------------------------------------------------------

// Fixed decimals, scaled, with a suffix; `dash` when missing.
inline std::string fx(std::optional<double> v, int dec, const char* suffix = "", double scale = 1,
               const char* dash = kDash) {
  if (!v) return dash;
  return fmt::format("{:.{}f}{}", *v * scale, dec, suffix);
}

// Significant digits (errors span many decades).
inline std::string fg(std::optional<double> v, int sig) {
  if (!v) return kDash;
  return fmt::format("{:.{}g}", *v, sig);
}

// ---- the members -----------------------------------------------------------------------------

struct Member {
  const json* j;
  std::string method;
  std::optional<double> target;
  bool feasible;
};

// A member's target as shown: "1.50×", or "0.50 params" for a budget by parameters (minitron --params).
inline std::string target_text(const Member& m, const char* suffix, const char* dash = kDash) {
  if (!(m.target && *m.target > 0) && m.j)
    if (auto f = num(sub(*m.j, "budget"), "params_fraction")) return fx(f, 2, " params", 1, dash);
  return fx(m.target, 2, suffix, 1, dash);
}

inline std::vector<Member> members_of(const json& r) {
  std::vector<Member> out;
  for (const json& m : list(r, "members")) {
    if (!m.is_object()) continue;
    out.push_back({&m, str(m, "method").value_or("unknown"), num(m, "target"),
                   flag(m, "feasible").value_or(true)});
  }
  // Stable: by target (missing last), then in the file's order.
  std::stable_sort(out.begin(), out.end(), [](const Member& a, const Member& b) {
    if (a.target.has_value() != b.target.has_value()) return a.target.has_value();
    return a.target && *a.target < *b.target;
  });
  return out;
}

}  // namespace zip::report_detail
