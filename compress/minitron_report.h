// report.md's section for --method minitron: each budget's candidate table (shape, parameters,
// predicted and measured speedup, held-out KL one-shot and after the short distillation).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace zip {

// "" for a report without minitron members. Reads the JSON leniently.
std::string minitron_candidates_md(const nlohmann::json& report);

}  // namespace zip
