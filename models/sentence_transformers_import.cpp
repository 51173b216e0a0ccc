// sentence-transformers folders: modules.json lists the pipeline. Supported: a Transformer
// module holding a BertModel (at the folder root, path "", or in a subfolder such as
// "0_Transformer"), then optionally Pooling (mean or CLS token) and Normalize (L2). Any other
// module or pooling mode would change the embedding, so it is an error, never skipped.
#include <cstdio>
#include <set>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/hf_common.h"
#include "models/import.h"

namespace zip {

using json = nlohmann::json;

namespace {

const std::string kPrefix = "sentence_transformers.models.";

// The folder of a module: `path` relative to the root, never leaving it.
std::string module_dir(const std::string& root, const json& m, const std::string& where) {
  ZIP_CHECK(m.contains("path") && m["path"].is_string(), "{}: {} has no 'path' string", where, m.dump());
  std::string p = m["path"].get<std::string>();
  while (p.ends_with("/")) p.pop_back();
  if (p.empty() || p == ".") return root;
  bool bad = p.starts_with("/") || p.find('\\') != std::string::npos || p == ".." || p.starts_with("../") ||
             p.find("/../") != std::string::npos || p.ends_with("/..");
  ZIP_CHECK(!bad, "{}: module path '{}' must stay inside the folder", where, p);
  return root + "/" + p;
}

// Pooling/config.json: exactly one of the boolean pooling_mode_* flags (or a pooling_mode
// string) must be on, and it must be mean or CLS pooling.
std::string parse_pooling(const std::string& dir, int dim) {
  const std::string path = dir + "/config.json";
  json cfg = hf::read_json_object(path);
  static const std::pair<const char*, const char*> kModes[] = {
      {"pooling_mode_cls_token", "cls"},
      {"pooling_mode_mean_tokens", "mean"},
      {"pooling_mode_max_tokens", "max"},
      {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"},
      {"pooling_mode_weightedmean_tokens", "weightedmean"},
      {"pooling_mode_lasttoken", "lasttoken"}};
  std::set<std::string> known = {"word_embedding_dimension", "pooling_mode",
                                 // Only excludes a prompt prefix from pooling; zip passes no prompts.
                                 "include_prompt"};
  std::vector<std::string> on;
  for (const auto& [key, mode] : kModes) {
    known.insert(key);
    if (hf::get_bool(cfg, key, false, path)) on.push_back(mode);
  }
  // Pooling(pooling_mode="mean") overrides the flags.
  if (cfg.contains("pooling_mode") && !cfg["pooling_mode"].is_null())
    on = {hf::get_string(cfg, "pooling_mode", "", path)};
  for (const auto& [k, v] : cfg.items())
    if (!known.count(k)) std::fprintf(stderr, "warning: %s: ignoring unknown key '%s'\n", path.c_str(), k.c_str());
  int wdim = hf::get_int_or(cfg, "word_embedding_dimension", dim, 1, 1 << 16, path);
  ZIP_CHECK(wdim == dim, "{}: word_embedding_dimension {} differs from the model's hidden size {}", path, wdim, dim);
  ZIP_CHECK(!on.empty(), "{}: no pooling mode is enabled", path);
  if (on.size() > 1) {
    std::string list;
    for (auto& s : on) list += (list.empty() ? "" : " + ") + s;
    fail("{}: pooling modes {} are combined (concatenated embeddings are not supported)", path, list);
  }
  ZIP_CHECK(on[0] == "mean" || on[0] == "cls", "{}: pooling mode '{}' is not supported (supported: mean, cls)", path,
            on[0]);
  return on[0];
}

}  // namespace

Model import_sentence_transformers(const std::string& dir, const ImportOptions& opt) {
  const std::string mpath = dir + "/modules.json";
  json mods = json::parse(read_file(mpath), nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!mods.is_discarded(), "{}: invalid JSON", mpath);
  ZIP_CHECK(mods.is_array() && !mods.empty(), "{}: expected a non-empty list of modules", mpath);

  Model m;
  bool have_transformer = false, have_pooling = false, have_normalize = false;
  for (const json& mod : mods) {
    ZIP_CHECK(mod.is_object() && mod.contains("type") && mod["type"].is_string(),
              "{}: each module must be an object with a 'type' string, got {}", mpath, mod.dump());
    const std::string type = mod["type"].get<std::string>();
    const std::string short_type = type.starts_with(kPrefix) ? type.substr(kPrefix.size()) : type;
    const std::string mdir = module_dir(dir, mod, mpath);
    if (short_type == "Transformer") {
      ZIP_CHECK(!have_transformer && !have_pooling, "{}: the Transformer module must come first, once", mpath);
      const std::string cfg_path = mdir + "/config.json";
      hf::HfClass cls = hf::detect_class(hf::read_json_object(cfg_path), cfg_path);
      ZIP_CHECK(cls.name == "BertModel", "{}: the Transformer module must hold a BertModel, got '{}'", cfg_path,
                cls.name);
      m = import_hf_bert(mdir, opt);
      // sentence_bert_config.json: do_lower_case lower-cases the text before the tokenizer.
      const std::string sb = mdir + "/sentence_bert_config.json";
      if (file_exists(sb)) {
        json sbc = hf::read_json_object(sb);
        ZIP_CHECK(!hf::get_bool(sbc, "do_lower_case", false, sb),
                  "{}: do_lower_case = true (lower-casing outside the tokenizer) is not supported", sb);
        int len = hf::get_int_or(sbc, "max_seq_length", 0, 1, 1 << 22, sb);
        if (len > 0) m.provenance["st_max_seq_length"] = len;
      }
      have_transformer = true;
    } else if (short_type == "Pooling") {
      ZIP_CHECK(have_transformer && !have_pooling && !have_normalize,
                "{}: Pooling must follow the Transformer module, once", mpath);
      m.config.pooling = parse_pooling(mdir, m.config.dim);
      have_pooling = true;
    } else if (short_type == "Normalize") {
      ZIP_CHECK(have_pooling && !have_normalize, "{}: Normalize must follow the Pooling module, once", mpath);
      m.config.normalize = true;
      have_normalize = true;
    } else {
      fail("{}: unsupported sentence-transformers module '{}' (supported: Transformer, Pooling, Normalize)", mpath,
           type);
    }
  }
  ZIP_CHECK(have_transformer, "{}: no Transformer module", mpath);
  validate_config(m.config);
  m.provenance["source"] = dir;
  m.provenance["source_format"] = "sentence-transformers " + m.provenance["source_format"].get<std::string>();
  return m;
}

}  // namespace zip
