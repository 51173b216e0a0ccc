// The report's distillation section (--distill-tokens, --gradual): each member before and after
// distillation and what each stage cost. Internal to report.cpp; lenient as the other renderers.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace zip {

// Appends "## Distillation" to `o` when some member of `report` was distilled or the run was
// gradual; nothing otherwise.
void render_distill_md(std::string& o, const nlohmann::json& report);

}  // namespace zip
