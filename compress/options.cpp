#include "compress/options.h"

#include <algorithm>
#include <cmath>

#include "engine/backend_registry.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

const char* prune_method_name(PruneMethod m) {
  switch (m) {
    case PruneMethod::ZipLM: return "ziplm";
    case PruneMethod::ZipLMNoUpdate: return "ziplm-no-update";
    case PruneMethod::Magnitude: return "magnitude";
    case PruneMethod::Uniform: return "uniform";
    case PruneMethod::Minitron: return "minitron";
    case PruneMethod::Importance: return "importance";
    case PruneMethod::ImportanceNoUpdate: return "importance-no-update";
  }
  return "?";
}

PruneMethod parse_prune_method(const std::string& s) {
  for (PruneMethod m : {PruneMethod::ZipLM, PruneMethod::ZipLMNoUpdate, PruneMethod::Magnitude, PruneMethod::Uniform,
                        PruneMethod::Minitron, PruneMethod::Importance, PruneMethod::ImportanceNoUpdate})
    if (s == prune_method_name(m)) return m;
  if (s == "no-update") return PruneMethod::ZipLMNoUpdate;
  throw UsageError(fmt::format("unknown pruning method '{}' (ziplm, magnitude, uniform, ziplm-no-update, minitron, importance, importance-no-update)", s));
}

SearchStrategy search_strategy(PruneMethod m) {
  return m == PruneMethod::Uniform ? SearchStrategy::Uniform : SearchStrategy::Spdy;
}

void resolve_windows(CompressOptions& o, const ModelConfig& c, const WindowRequest& w) {
  CalibOptions& k = o.calib;
  k.sentences = w.sentences.value_or(sentence_windows_by_default(c));
  k.len = w.len.value_or(default_window_len(k.sentences));
  const int window_tokens = expected_window_tokens(k.len, k.sentences);
  auto windows_of = [](int tokens, int per_window) { return std::max(1, tokens / per_window); };
  k.samples = w.samples.value_or(windows_of(kCalibTokens, window_tokens));
  int search_tokens = window_tokens;  // what one search window holds, for the search and probe counts
  if (w.search_len || w.search_by_folder) {
    // The search windows are drawn apart from the held-out ones, each from its own place of the text.
    k.search_len = w.search_len.value_or(k.len);
    if (k.search_len > k.len)
      throw UsageError(fmt::format("--search-len {} is longer than the calibration windows ({} tokens)", k.search_len, k.len));
    k.search_by_folder = w.search_by_folder;
    search_tokens = expected_window_tokens(k.search_len, k.sentences);
    o.search_windows = w.search_windows.value_or(windows_of(kSearchTokens, search_tokens));
    k.search = o.search_windows;
    k.heldout = w.heldout.value_or(kMinHeldout);
  } else {
    o.search_windows = w.search_windows.value_or(windows_of(kSearchTokens, window_tokens));
    k.heldout = w.heldout.value_or(std::max(kMinHeldout, o.search_windows));
  }
  o.probe_windows = w.probe_windows.value_or(windows_of(kProbeTokens, search_tokens));
}

std::string resolve_search_loss(const ModelConfig& c, const std::string& asked) {
  const bool decoder = c.info().causal;
  if (asked.empty()) return decoder ? "kl" : c.pooling.empty() ? "tokens" : "pooled";
  const bool fits =
      decoder ? (asked == "kl" || asked == "nll") : (asked == "tokens" || asked == "pooled" || asked == "similarity");
  if (!fits)
    throw UsageError(fmt::format("--search-loss {} does not apply to {} (decoders: kl, nll; encoders: tokens, pooled, similarity)",
                                 asked, decoder ? "a decoder" : "an encoder"));
  if (asked != "tokens" && !decoder && c.pooling.empty())
    throw UsageError(fmt::format("--search-loss {} needs a model that pools its outputs into one embedding (no pooling in its config)", asked));
  return asked;
}

void apply_recipe(CompressOptions& o, const std::string& report_text, const std::string& path) {
  try {
    o.recipe = nlohmann::json::parse(report_text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", path, e.what());
  }
  ZIP_CHECK(o.recipe.is_object() && o.recipe.contains("members") && o.recipe.contains("calibration"),
            "{}: not a zip compress report", path);
  // A gradual member's levels index its parent's ranking, not the dense model's.
  if (o.recipe.contains("gradual"))
    throw UsageError(fmt::format("--recipe {}: a --gradual family's members are pruned from each other; run it again with --gradual",
                                 printable(path)));
  try {
    const auto& c = o.recipe["calibration"];
    o.calib.samples = c.at("samples"), o.calib.len = c.at("len"), o.calib.heldout = c.at("heldout_samples");
    o.calib.seed = c.at("seed");
    o.search_windows = c.value("search_windows", o.search_windows);
    if (c.value("search_separate", false)) o.calib.search = o.search_windows, o.calib.search_len = c.at("search_len");
    o.calib.search_by_folder = c.value("search_by_folder", false);
    o.calib.sentences = c.value("sentences", false);
    if (o.calib_paths.empty()) o.calib_paths = c.at("paths").get<std::vector<std::string>>();
    const auto& opts = o.recipe.at("options");
    o.damp = opts.at("damp"), o.ffn_step = opts.at("ffn_step"), o.block = opts.at("block");
    o.token_error = opts.value("error", "token") == "token";
    o.methods.clear();
    for (const auto& m : o.recipe["members"]) {
      PruneMethod pm = parse_prune_method(m.at("method").get<std::string>());
      if (std::find(o.methods.begin(), o.methods.end(), pm) == o.methods.end()) o.methods.push_back(pm);
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a zip compress report ({})", path, e.what());
  }
}

void check_options(const CompressOptions& o) {
  ZIP_CHECK(!o.out_dir.empty(), "no output folder (-o DIR)");
  if (o.recipe.is_null() && !o.params_fraction) {
    if (o.targets.empty()) throw UsageError("no speedup targets (--speedup 1.5,2)");
    for (double t : o.targets)
      if (!(t >= 1.0) || !std::isfinite(t)) throw UsageError(fmt::format("speedup target {} must be a number >= 1", t));
  }
  ZIP_CHECK(!o.methods.empty(), "no pruning method");
  if (o.distill_tokens < 0) throw UsageError(fmt::format("--distill-tokens {} must be >= 0", o.distill_tokens));
  if (o.distill_batch < 1 || o.distill_seq < 0 || o.distill_ckpt_every < 1 || !(o.distill_lr >= 0))
    throw UsageError("--distill-batch, --distill-seq, --distill-lr: out of range");
  if (!o.distill_data.empty() && !file_exists(o.distill_data))
    throw UsageError(fmt::format("--distill-data {}: no such file", printable(o.distill_data)));
  if (!o.distill_data.empty() && o.distill_tokens == 0) throw UsageError("--distill-data needs --distill-tokens N");
  if (o.gradual_steps < 0) throw UsageError("--gradual-steps must be >= 0");
  if (o.obs_update && o.methods[0] != PruneMethod::Minitron)
    throw UsageError("--obs-update applies to --method minitron (ZipLM's methods update their weights already; their ablations: --no-update, importance-no-update)");
  if (o.gradual_steps > 0 && !o.gradual) throw UsageError("--gradual-steps needs --gradual");
  if (o.gradual && o.methods.size() != 1)
    throw UsageError("--gradual builds one method's chain: drop --baselines (run them in another -o)");
  if (o.gradual && !o.recipe.is_null()) throw UsageError("--gradual does not apply to --recipe");
  if (o.gradual && o.methods[0] == PruneMethod::Minitron)
    throw UsageError("--gradual is ZipLM's mode; --method minitron distils its search's winner (--distill-tokens)");
  // Each gradual step is pruned (OBS, float) from the previous member, which an env dtype writes
  // quantised; keeping a float twin of every step is not built yet.
  if (o.gradual && o.env.weights)
    throw UsageError(fmt::format("--gradual with --env dtype={} is not supported yet: run --gradual in float, then zip quantize the members",
                                 quant::quant_mix_name(*o.env.weights)));
  if (o.distill_tokens > 0 && !o.recipe.is_null()) throw UsageError("--distill-tokens does not apply to --recipe");
  // Before any work: a timing device this build or machine cannot use is refused at once.
  if (!o.latency) require_device(o.env.device, "--env");
}

}  // namespace zip
