#include "compress/report_distill.h"

#include "compress/report_fields.h"

namespace zip {

using namespace report_detail;

namespace {

std::string arrow(const json& d, const char* key, int dec) {
  auto b = num(sub(d, "before"), key), a = num(sub(d, "after"), key);
  if (!b && !a) return kDash;
  return fx(b, dec) + " → " + fx(a, dec);
}

std::string md_row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s + "\n";
}

}  // namespace

void render_distill_md(std::string& o, const json& r) {
  bool any = field(r, "gradual") != nullptr;
  for (const json& m : list(r, "members")) any |= m.is_object() && m.contains("distill");
  if (!any) return;
  o += "## Distillation\n\n";
  const json& opt = sub(sub(r, "options"), "distill");
  const std::string objective = str(sub(r, "options"), "search_loss").value_or("kl");
  const bool encoder = objective != "kl" && objective != "nll";
  if (auto t = num(opt, "tokens"))
    o += fmt::format("Each member distilled from the dense model on {:.0f} tokens (per member{}, {} matrix products), data: {}. "
                     "Loss: {} + α·(1 − cos) between each layer's output and the dense layer's, α = {} each step. {}\n\n",
                     *t, field(r, "gradual") ? "; each gradual step its own" : "", str(opt, "precision").value_or("f32"),
                     str(opt, "data").value_or(kDash),
                     encoder ? "(1 − cos) between the last layers' token outputs" : "τ²·KL(dense ‖ member) at τ = 1",
                     encoder ? "L_out / L_hidden" : "L_logits / L_hidden",
                     encoder ? "Losses on the search windows; STS: the --eval pairs' Spearman."
                             : "Losses on the search windows, KL to the dense model.");
  if (field(r, "gradual"))
    o += "Gradual mode: each member pruned from the member before it after its distillation (its database rebuilt "
         "on it); speedups against the dense model and its latency table.\n\n";
  o += md_row({"member", "pruned from", "tokens", "steps", "distill (s)", "database (s)", "calib loss", "unseen loss", "KL",
               "ppl / STS", "measured (as written)"});
  o += "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const json& m : list(r, "members")) {
    if (!m.is_object() || !flag(m, "feasible").value_or(true)) continue;
    const json& d = sub(m, "distill");
    const std::string who = fmt::format("{} {}{}", str(m, "method").value_or("?"), fx(num(m, "target"), 2, "×"),
                                        flag(m, "intermediate").value_or(false) ? " (step)" : "");
    const std::string quality = num(sub(d, "after"), "spearman") ? arrow(d, "spearman", 4) : arrow(d, "ppl", 2);
    o += md_row({who, str(m, "parent").value_or("dense"), fx(num(d, "tokens"), 0), fx(num(d, "steps"), 0),
                 fx(num(d, "seconds"), 1), fx(num(m, "database_s"), 1), arrow(d, "calib_loss", 3), arrow(d, "unseen_loss", 3),
                 arrow(d, "kl", 4), quality, fx(num(sub(d, "after"), "measured_speedup"), 3, "×")});
  }
  o += fmt::format("\nDistillation wall time in all: {}.\n\n", fx(num(sub(r, "wall_s"), "distill"), 1, " s"));
}

}  // namespace zip
