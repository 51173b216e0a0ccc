// zip inspect: what a .zlm file holds, validated; --verify also checks the data checksum.
#include <cstdio>
#include <map>

#include "engine/chat/chat_template.h"
#include "engine/error.h"
#include "engine/finite_check.h"
#include "engine/quant/quantize_model.h"
#include "engine/zlm.h"
#include "compress/provenance_summary.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

static std::string join(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); i++) s += (i ? "," : "") + std::to_string(v[i]);
  return s.empty() ? "-" : s;
}

int cmd_inspect(int argc, char** argv) {
  Args args("inspect", "MODEL.zlm [--verify] [--json] [--tensors]",
            "Shows the architecture, per-layer shapes, parameter count, dtypes, tokenizer and provenance.\n"
            "The header and index are always validated; --verify also checks the tensor data checksum and\n"
            "that every weight is finite (no NaN or inf).",
            {{"--verify", "", "check the CRC-32C of all tensor data and that every weight is finite"},
             {"--json", "", "print JSON"},
             {"--tensors", "", "list every tensor: name, type, shape, bytes"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  std::string path = args.positional()[0];
  bool verify = args.has("--verify");
  ZlmInfo info = inspect_zlm(path, verify);
  ZlmLoadOptions lo;
  lo.check_finite = false;  // --verify reports non-finite weights below instead of refusing the file
  Model m = load_zlm(path, lo);  // full structural validation (tensors against the config)
  std::optional<NonFiniteValue> bad;
  if (verify) bad = find_non_finite(m);
  const std::string weights = !verify ? "not verified" : bad ? fmt::format("NON-FINITE ({} in {} at index {})",
      bad->what, bad->tensor, bad->index) : "all finite";
  const ModelConfig& c = m.config;
  std::map<std::string, int64_t> dtype_params;
  for (auto& [name, t] : m.tensors) dtype_params[dtype_name(t.dtype)] += t.numel();
  const std::vector<quant::WeightTypeStats> weight_types = quant::weight_type_stats(m);

  if (args.has("--json")) {
    nlohmann::json j = info.header;
    j["file"] = {{"path", path}, {"bytes", info.file_size}, {"version", info.version},
                 {"data_checksum", verify ? (info.data_crc_ok ? "ok" : "mismatch") : "not verified"},
                 {"weights", weights}};
    j["n_params"] = c.n_params();
    j["dtypes"] = dtype_params;
    nlohmann::json wt = nlohmann::json::array();
    for (const auto& w : weight_types)
      wt.push_back({{"dtype", dtype_name(w.type)}, {"tensors", w.tensors}, {"params", w.params}, {"bytes", w.bytes}});
    j["weight_types"] = wt;
    j["bits_per_weight"] = quant::bits_per_weight(weight_types);
    nlohmann::json ts = nlohmann::json::array();
    for (auto& t : info.tensors)
      ts.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"offset", t.offset},
                    {"bytes", t.nbytes}});
    j["tensors"] = ts;
    fmt::print("{}\n", j.dump(1));
  } else {
    const ArchInfo& a = c.info();
    fmt::print("file:         {} ({} bytes, .zlm v{})\n", path, info.file_size, info.version);
    fmt::print("architecture: {} ({}, {}, {}, {})\n", a.name, a.causal ? "decoder" : (a.post_norm ? "encoder, post-norm" : "encoder"),
               a.rms_norm ? "RMSNorm" : "LayerNorm", a.gated_ffn() ? "SwiGLU" : (a.act == Activation::GeluErf ? "GELU (erf) MLP" : "GELU (tanh) MLP"),
               a.rope ? fmt::format("RoPE theta {}", c.rope_theta) : "learned positions");
    fmt::print("dims:         hidden {}, head_dim {}, vocab {}, context {}, norm eps {}, {} embeddings\n", c.dim,
               c.head_dim, c.vocab_size, c.max_seq_len, c.norm_eps, c.tied_embeddings ? "tied" : "untied");
    if (!a.causal) {
      std::string labels;
      for (auto& l : c.labels) labels += (labels.empty() ? "" : ", ") + l;
      fmt::print("encoder:      {} token types, pooler {}, classifier {}, sentence embedding: {} pooling{}\n",
                 c.n_token_types, c.pooler ? "yes" : "no", labels.empty() ? "none" : "[" + labels + "]",
                 c.pooling.empty() ? "mean" : c.pooling, c.normalize ? ", L2-normalised" : "");
    }
    fmt::print("parameters:   {}\n", c.n_params());
    std::string dts;
    for (const auto& w : weight_types)
      dts += fmt::format("{}{} ({} tensors, {} params, {:.2f} MB)", dts.empty() ? "" : ", ", dtype_name(w.type),
                         w.tensors, w.params, double(w.bytes) / 1e6);
    fmt::print("dtypes:       {}\n", dts);
    fmt::print("weights:      {:.2f} bits per weight\n", quant::bits_per_weight(weight_types));
    if (args.has("--tensors"))
      for (auto& t : info.tensors)
        fmt::print("  {:<28} {:<5} {:<14} {:>12} bytes\n", t.name, dtype_name(t.dtype), shape_to_string(t.shape),
                   t.nbytes);
    // A compressed member: what it kept of its parent's heads and neurons, per layer.
    std::vector<ParentLayer> parent = parent_layers(m.provenance);
    if (parent.size() != size_t(c.n_layers())) parent.clear();
    auto of = [&](int kept, int l, int ParentLayer::*total) {
      return parent.empty() ? std::to_string(kept) : fmt::format("{}/{}", kept, parent[size_t(l)].*total);
    };
    fmt::print("layers:       {}{}\n  {:>5} {:>7} {:>9} {:<18} {:>9}\n", c.n_layers(),
               parent.empty() ? "" : " (kept/parent's)", "layer", "heads", "kv_heads", "q_per_kv", "ffn");
    for (int l = 0; l < c.n_layers(); l++) {
      const LayerShape& s = c.layers[size_t(l)];
      fmt::print("  {:>5} {:>7} {:>9} {:<18} {:>9}\n", l, of(s.n_heads(), l, &ParentLayer::heads),
                 of(s.n_kv_heads(), l, &ParentLayer::kv_heads), join(s.q_per_kv), of(s.ffn_dim, l, &ParentLayer::ffn));
    }
    if (m.tokenizer)
      fmt::print("tokenizer:    {}, {} pieces, bos {}, eos {}\n", m.tokenizer->type, m.tokenizer->pieces.size(),
                 m.tokenizer->bos, m.tokenizer->eos);
    else
      fmt::print("tokenizer:    none\n");
    if (m.tokenizer) fmt::print("chat:         {}\n", chat_template_summary(*m.tokenizer));
    const std::vector<std::string> prov = provenance_summary(m.provenance);
    for (size_t i = 0; i < prov.size(); i++) fmt::print("{}{}\n", i ? "              " : "provenance:   ", prov[i]);
    fmt::print("checksums:    header ok; data {}\n",
               verify ? (info.data_crc_ok ? "ok" : "MISMATCH") : "not verified (use --verify)");
    fmt::print("weights:      {}\n", weights);
  }
  if (verify && !info.data_crc_ok) fail("{}: tensor data checksum mismatch (the file is corrupt)", path);
  if (bad) fail("{}: tensor '{}' holds a non-finite value ({}) at index {}", path, bad->tensor, bad->what, bad->index);
  return 0;
}

}  // namespace zip::cli
