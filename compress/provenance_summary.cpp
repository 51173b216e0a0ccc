#include "compress/provenance_summary.h"

#include <fmt/format.h>

#include "engine/error.h"

namespace zip {

using nlohmann::json;

namespace {

constexpr size_t kMaxLine = 160;

std::string clip(std::string s) {
  s = printable(s);
  return s.size() > kMaxLine ? s.substr(0, kMaxLine - 3) + "..." : s;
}

// A value in one short piece: scalars as they are, containers by their size.
std::string brief(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) return fmt::format("[{} items]", v.size());
  if (v.is_object()) return fmt::format("{{{} keys}}", v.size());
  return v.dump();
}

std::string number(const json& j, const char* key, const char* f, double scale = 1) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? fmt::format(fmt::runtime(f), it->get<double>() * scale) : "-";
}

// The `zip compress` part: how the member was made and how it measured.
void recipe_lines(const json& r, const json& parent, std::vector<std::string>& out) {
  out.push_back(fmt::format("compressed: {} {:.2f}x from {} (hash {})", brief(r.value("method", json("?"))),
                            r.value("target", 0.0), brief(parent.value("file", json("?"))), brief(parent.value("hash", json("?")))));
  const bool met = r.value("guarantee_met", false);
  out.push_back(fmt::format("measured {} (predicted {}) in {}; {} after {} round(s); timing spread {}",
                            number(r, "measured_speedup", "{:.3f}x"), number(r, "predicted_speedup", "{:.3f}x"),
                            brief(r.value("env", json("?"))), met ? "target met" : "TARGET MISSED",
                            number(r, "rounds", "{:.0f}"), number(r, "timing_spread", "{:.1f} %", 100)));
  if (auto f = r.find("failure"); f != r.end() && f->is_string()) out.push_back("missed: " + f->get<std::string>());
  out.push_back(fmt::format("database {}, search {} ({} evaluations), calib loss {}, KL {}", brief(r.value("db_method", json("?"))),
                            brief(r.value("search_objective", json("-"))), number(r, "evaluations", "{:.0f}"),
                            number(r, "calib_loss", "{:.4f}"), number(r, "kl", "{:.4f}")));
  if (auto c = r.find("calibration"); c != r.end() && c->is_object())
    out.push_back(fmt::format("calibration key {}", brief(c->value("key", json("?")))));
}

}  // namespace

std::vector<std::string> provenance_summary(const json& p) {
  std::vector<std::string> out;
  if (!p.is_object() || p.empty()) return {"none"};
  const json* recipe = nullptr;
  for (const auto& [k, v] : p.items()) {
    if (k == "recipe" && v.is_object()) recipe = &v;
    else if (k != "parent") out.push_back(clip(k + ": " + brief(v)));
  }
  if (recipe) {
    std::vector<std::string> lines;
    recipe_lines(*recipe, p.value("parent", json::object()), lines);
    for (std::string& l : lines) out.push_back(clip(l));
    out.push_back("kept heads and neurons: per layer above; every index: zip inspect --json");
  }
  return out;
}

std::vector<ParentLayer> parent_layers(const json& p) {
  std::vector<ParentLayer> out;
  if (!p.is_object()) return out;
  auto parent = p.find("parent");
  if (parent == p.end() || !parent->is_object()) return out;
  auto layers = parent->find("layers");
  if (layers == parent->end() || !layers->is_array()) return out;
  for (const json& l : *layers) {
    if (!l.is_array() || l.size() != 3 || !l[0].is_number_integer() || !l[1].is_number_integer() || !l[2].is_number_integer())
      return {};
    out.push_back({l[0].get<int>(), l[1].get<int>(), l[2].get<int>()});
  }
  return out;
}

}  // namespace zip
