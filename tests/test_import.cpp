// Importers: llama2.c checkpoints, Hugging Face LlamaForCausalLM safetensors (single and
// sharded), the RoPE row permutation, and clean errors on malformed input.
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/forward.h"
#include "models/import.h"
#include "models/safetensors.h"
#include "tests/safetensors_writer.h"
#include "tests/test_util.h"

using nlohmann::json;
using ztest::entry_of;
using ztest::make_hf_dir;
using ztest::safetensors_bytes;
using ztest::StEntry;
using ztest::write_bytes;

namespace {

const std::string kStories = "models/stories260K/stories260K.bin";
const std::string kTinyLlama = "models/tiny-random-llama";

std::string raw_header(uint64_t n, const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

// The tiny-random-llama checkpoint as entries, to be edited and re-written by error tests.
std::vector<StEntry> tiny_entries() {
  zip::SafetensorsFile f = zip::read_safetensors(ztest::shared(kTinyLlama + "/model.safetensors"));
  std::vector<StEntry> out;
  for (const auto& [name, t] : f.tensors) out.push_back(entry_of(name, t));
  return out;
}
json tiny_config() { return ztest::load_json(ztest::shared(kTinyLlama + "/config.json")); }

// A temp HF directory with the given config and tensors.

std::string import_error(const std::string& src, zip::ImportOptions opt = {}) {
  try {
    zip::import_model(src, opt);
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "(no error)";
}
std::string safetensors_error(const std::string& path) {
  try {
    zip::read_safetensors(path);
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "(no error)";
}

zip::ModelConfig uniform_config(int dim, int vocab, int seq, int hd, float eps, bool tied, int layers, int heads,
                                int kv, int ffn) {
  zip::ModelConfig c;
  c.dim = dim;
  c.vocab_size = vocab;
  c.max_seq_len = seq;
  c.head_dim = hd;
  c.norm_eps = eps;
  c.rope_theta = 10000.0f;
  c.tied_embeddings = tied;
  c.layers.assign(size_t(layers), zip::uniform_layer(heads, kv, ffn));
  return c;
}

}  // namespace

TEST_CASE("llama2c import: stories260K config, params, tokenizer, tensors") {
  std::string path = ztest::shared(kStories);
  zip::Model m = zip::import_model(path, {});
  json g = ztest::load_json(ztest::shared("golden/stories260K/index.json"))["config"];
  zip::ModelConfig want = uniform_config(g["dim"], g["vocab_size"], g["max_seq_len"], g["head_dim"],
                                         g["norm_eps"].get<float>(), g["tied_embeddings"], g["n_layers"],
                                         g["n_heads"], g["n_kv_heads"], g["hidden_dim"]);
  CHECK(m.config == want);
  CHECK(m.config.dim == 64);
  CHECK(m.config.layers[0].ffn_dim == 172);
  CHECK(m.config.n_params() == 260032);
  REQUIRE(m.tokenizer);
  CHECK(m.tokenizer->pieces.size() == 512);
  CHECK(m.find("output") == nullptr);
  CHECK(m.get("tok_embd").dtype == zip::DType::F32);
  CHECK(m.provenance["source_format"] == "llama2.c legacy v0");

  // Weights are the file's floats in order: the embedding starts right after the header, and
  // the final norm is followed by the legacy RoPE tables (max_seq_len × head_dim floats).
  std::string raw = zip::read_file(path);
  CHECK(std::memcmp(m.get("tok_embd").data, raw.data() + 28, 512 * 64 * 4) == 0);
  size_t norm_off = raw.size() - size_t(512 * 8 + 64) * 4;
  CHECK(std::memcmp(m.get("output_norm").data, raw.data() + norm_off, 64 * 4) == 0);

  // --dtype: weights converted, norms stay f32.
  zip::ImportOptions o;
  o.dtype = zip::DType::BF16;
  o.dtype_given = true;
  zip::Model b = zip::import_model(path, o);
  CHECK(b.get("blk.0.attn_q").dtype == zip::DType::BF16);
  CHECK(b.get("blk.0.attn_norm").dtype == zip::DType::F32);
}

TEST_CASE("llama2c import: explicit --tokenizer and a checkpoint without one") {
  std::string dir = ztest::temp_dir();
  write_bytes(dir + "/model.bin", zip::read_file(ztest::shared(kStories)));
  zip::Model none = zip::import_model(dir + "/model.bin", {});  // warns on stderr
  CHECK(!none.tokenizer);
  zip::ImportOptions o;
  o.tokenizer_path = ztest::shared("models/stories260K/tok512.bin");
  zip::Model with = zip::import_model(dir + "/model.bin", o);
  REQUIRE(with.tokenizer);
  CHECK(with.tokenizer->pieces.size() == 512);
  // A tokenizer larger than the model's vocabulary is refused.
  o.tokenizer_path = ztest::shared("models/llama2-tokenizer-32k/tokenizer.bin");
  CHECK_HAS(import_error(dir + "/model.bin", o), "more than the model's vocabulary");
}

TEST_CASE("hf import: tiny-random-llama config, shapes, RoPE rows") {
  std::string dir = ztest::shared(kTinyLlama);
  zip::Model m = zip::import_model(dir, {});
  CHECK(m.config == uniform_config(64, 512, 128, 24, 1e-6f, false, 3, 4, 2, 160));
  CHECK(m.get("blk.0.attn_q").shape == std::vector<int64_t>{96, 64});
  CHECK(m.get("blk.2.attn_k").shape == std::vector<int64_t>{48, 64});
  CHECK(m.get("blk.1.attn_v").shape == std::vector<int64_t>{48, 64});
  CHECK(m.get("blk.1.attn_output").shape == std::vector<int64_t>{64, 96});
  CHECK(m.get("blk.1.ffn_down").shape == std::vector<int64_t>{64, 160});
  CHECK(m.get("output").shape == std::vector<int64_t>{512, 64});
  CHECK(!m.tokenizer);
  CHECK(m.provenance["source_dtype"] == "bf16");
  for (const auto& [name, t] : m.tensors) CHECK(t.dtype == zip::DType::F32);

  // q/k rows follow the permutation; every other tensor is the bf16 value widened exactly.
  zip::SafetensorsFile f = zip::read_safetensors(dir + "/model.safetensors");
  auto src = [&](const char* n) { return f.tensors.at(n).to_floats(); };
  std::vector<float> q = src("model.layers.1.self_attn.q_proj.weight"), qi = m.get("blk.1.attn_q").to_floats();
  std::vector<float> k = src("model.layers.1.self_attn.k_proj.weight"), ki = m.get("blk.1.attn_k").to_floats();
  for (int h = 0; h < 4; h++)
    for (int i = 0; i < 12; i++)
      for (int c = 0; c < 64; c++) {
        CHECK(qi[size_t((h * 24 + 2 * i) * 64 + c)] == q[size_t((h * 24 + i) * 64 + c)]);
        CHECK(qi[size_t((h * 24 + 2 * i + 1) * 64 + c)] == q[size_t((h * 24 + i + 12) * 64 + c)]);
        if (h < 2) CHECK(ki[size_t((h * 24 + 2 * i + 1) * 64 + c)] == k[size_t((h * 24 + i + 12) * 64 + c)]);
      }
  CHECK(m.get("blk.2.ffn_up").to_floats() == src("model.layers.2.mlp.up_proj.weight"));
  CHECK(m.get("output").to_floats() == src("lm_head.weight"));
  CHECK(m.get("blk.0.attn_v").to_floats() == src("model.layers.0.self_attn.v_proj.weight"));

  // A bf16 target keeps the source values bit for bit.
  zip::ImportOptions o;
  o.dtype = zip::DType::BF16;
  o.dtype_given = true;
  zip::Model b = zip::import_model(dir + "/config.json", o);
  CHECK(b.get("blk.1.attn_q").dtype == zip::DType::BF16);
  CHECK(b.get("blk.1.attn_q").to_floats() == qi);
}

// Hugging Face rotate_half RoPE on head vector x at position p.
static std::vector<double> rope_half(const std::vector<double>& x, int p) {
  size_t hd = x.size(), half = hd / 2;
  std::vector<double> y(hd);
  for (size_t i = 0; i < half; i++) {
    double f = p * std::pow(10000.0, -2.0 * double(i) / double(hd)), c = std::cos(f), s = std::sin(f);
    y[i] = x[i] * c - x[i + half] * s;
    y[i + half] = x[i + half] * c + x[i] * s;
  }
  return y;
}
// llama2.c / GGUF RoPE on adjacent pairs.
static std::vector<double> rope_adjacent(const std::vector<double>& x, int p) {
  size_t hd = x.size();
  std::vector<double> y(hd);
  for (size_t i = 0; i < hd; i += 2) {
    double f = p * std::pow(10000.0, -double(i) / double(hd)), c = std::cos(f), s = std::sin(f);
    y[i] = x[i] * c - x[i + 1] * s;
    y[i + 1] = x[i + 1] * c + x[i] * s;
  }
  return y;
}

TEST_CASE("hf import: RoPE permutation on a hand-made case") {
  // 2 heads of head_dim 6, 1 column holding the row index.
  std::vector<float> rows(12);
  for (int i = 0; i < 12; i++) rows[size_t(i)] = float(i);
  zip::Tensor w = zip::Tensor::from_floats(rows, {12, 1});
  std::vector<float> got = zip::hf_rope_rows_to_adjacent(w, 2, 6).to_floats();
  CHECK(got == std::vector<float>{0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11});
  CHECK_THROWS_AS(zip::hf_rope_rows_to_adjacent(w, 3, 6), zip::Error);

  // The permuted weights under adjacent-pair RoPE give the same rotated vectors (up to the same
  // permutation) and hence the same attention scores as HF's weights under rotate_half.
  const int hd = 8, cols = 5;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> wq(hd * cols), wk(hd * cols), x(cols), x2(cols);
  for (auto* v : {&wq, &wk, &x, &x2})
    for (float& e : *v) e = nd(rng);
  std::vector<float> wq2 = zip::hf_rope_rows_to_adjacent(zip::Tensor::from_floats(wq, {hd, cols}), 1, hd).to_floats();
  std::vector<float> wk2 = zip::hf_rope_rows_to_adjacent(zip::Tensor::from_floats(wk, {hd, cols}), 1, hd).to_floats();
  auto mv = [&](const std::vector<float>& W, const std::vector<float>& v) {
    std::vector<double> y(hd, 0.0);
    for (int r = 0; r < hd; r++)
      for (int c = 0; c < cols; c++) y[size_t(r)] += double(W[size_t(r * cols + c)]) * v[size_t(c)];
    return y;
  };
  std::vector<double> q_hf = rope_half(mv(wq, x), 5), k_hf = rope_half(mv(wk, x2), 2);
  std::vector<double> q_ad = rope_adjacent(mv(wq2, x), 5), k_ad = rope_adjacent(mv(wk2, x2), 2);
  double dot_hf = 0, dot_ad = 0;
  for (int i = 0; i < hd / 2; i++) {
    CHECK(q_ad[size_t(2 * i)] == doctest::Approx(q_hf[size_t(i)]).epsilon(1e-12));
    CHECK(q_ad[size_t(2 * i + 1)] == doctest::Approx(q_hf[size_t(i + hd / 2)]).epsilon(1e-12));
  }
  for (int i = 0; i < hd; i++) dot_hf += q_hf[size_t(i)] * k_hf[size_t(i)], dot_ad += q_ad[size_t(i)] * k_ad[size_t(i)];
  CHECK(dot_ad == doctest::Approx(dot_hf).epsilon(1e-12));
}

TEST_CASE("safetensors: sharded tiny-random-llama imports identically") {
  std::vector<StEntry> all = tiny_entries();
  std::string dir = ztest::temp_dir();
  write_bytes(dir + "/config.json", zip::read_file(ztest::shared(kTinyLlama + "/config.json")));
  std::vector<StEntry> shard[2];
  json map = json::object();
  for (size_t i = 0; i < all.size(); i++) {
    int s = i < all.size() / 2 ? 0 : 1;
    shard[s].push_back(all[i]);
    map[all[i].name] = fmt::format("model-0000{}-of-00002.safetensors", s + 1);
  }
  for (int s = 0; s < 2; s++)
    write_bytes(dir + fmt::format("/model-0000{}-of-00002.safetensors", s + 1), safetensors_bytes(shard[s]));
  write_bytes(dir + "/model.safetensors.index.json", json{{"metadata", {{"total_size", 1}}}, {"weight_map", map}}.dump());

  zip::Model a = zip::import_model(ztest::shared(kTinyLlama), {});
  zip::Model b = zip::import_model(dir, {});
  CHECK(a.config == b.config);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const zip::Tensor& u = b.get(name);
    REQUIRE(u.shape == t.shape);
    CHECK(u.dtype == t.dtype);
    CHECK(std::memcmp(u.data, t.data, t.nbytes()) == 0);
  }
}

TEST_CASE("safetensors: reader views, metadata and alignment") {
  std::string dir = ztest::temp_dir();
  std::string f32(16, '\0'), f16(6, '\0');
  float v[4] = {1, -2, 3.5f, 0};
  std::memcpy(f32.data(), v, 16);
  // F16 first (6 bytes) puts the F32 tensor at an odd-of-4 offset: the reader must copy it.
  std::string file = safetensors_bytes({{"h", "F16", {3}, f16}, {"x", "F32", {2, 2}, f32}, {"e", "F32", {0, 4}, ""}});
  write_bytes(dir + "/a.safetensors", file);
  zip::SafetensorsFile f = zip::read_safetensors(dir + "/a.safetensors");
  REQUIRE(f.tensors.size() == 3);
  CHECK(f.tensors.at("x").to_floats() == std::vector<float>{1, -2, 3.5f, 0});
  CHECK(f.tensors.at("x").shape == std::vector<int64_t>{2, 2});
  CHECK(f.tensors.at("e").numel() == 0);
  CHECK(f.metadata.is_null());

  // __metadata__ is kept, not treated as a tensor.
  std::string hdr = R"({"__metadata__":{"format":"pt"},"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  write_bytes(dir + "/m.safetensors", raw_header(hdr.size(), hdr, "abcd"));
  zip::SafetensorsFile g = zip::read_safetensors(dir + "/m.safetensors");
  CHECK(g.tensors.size() == 1);
  CHECK(g.metadata["format"] == "pt");
}

TEST_CASE("safetensors: invalid and corrupt files are clean errors") {
  std::string dir = ztest::temp_dir();
  auto err_of = [&](const std::string& name, const std::string& bytes) {
    write_bytes(dir + "/" + name, bytes);
    return safetensors_error(dir + "/" + name);
  };
  std::string real = zip::read_file(ztest::shared(kTinyLlama + "/model.safetensors"));
  CHECK_HAS(err_of("trunc.safetensors", real.substr(0, real.size() / 2)), "outside the data section");
  CHECK_HAS(err_of("trunc_hdr.safetensors", real.substr(0, 100)), "exceeds the file");
  CHECK_HAS(err_of("short.safetensors", "abc"), "too short");
  CHECK_HAS(err_of("empty.safetensors", ""), "too short");
  CHECK_HAS(err_of("huge.safetensors", raw_header(uint64_t(1) << 62, "{}")), "header length");
  CHECK_HAS(err_of("garbage.safetensors", raw_header(11, "{\"a\": [1, 2")), "invalid JSON");
  CHECK_HAS(err_of("notobj.safetensors", raw_header(4, "[1] ")), "not a JSON object");
  std::string past = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1000]}})";
  CHECK_HAS(err_of("past.safetensors", raw_header(past.size(), past, std::string(16, '\0'))), "outside the data");
  std::string wrap = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[18446744073709551615,16]}})";
  CHECK_HAS(err_of("wrap.safetensors", raw_header(wrap.size(), wrap, std::string(16, '\0'))), "outside the data");
  std::string mism = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})";
  CHECK_HAS(err_of("mism.safetensors", raw_header(mism.size(), mism, std::string(16, '\0'))), "needs 16");
  std::string big = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})";
  CHECK_HAS(err_of("big.safetensors", raw_header(big.size(), big, std::string(16, '\0'))), "too large");
  std::string neg = R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})";
  CHECK_HAS(err_of("neg.safetensors", raw_header(neg.size(), neg, std::string(16, '\0'))), "bad dimension");
  std::string i64 = R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
  std::string e = err_of("i64.safetensors", raw_header(i64.size(), i64, std::string(16, '\0')));
  CHECK_HAS(e, "'ids'");
  CHECK_HAS(e, "unsupported dtype 'I64'");
  std::string nodt = R"({"w":{"shape":[4],"data_offsets":[0,16]}})";
  CHECK_HAS(err_of("nodt.safetensors", raw_header(nodt.size(), nodt, std::string(16, '\0'))), "missing 'dtype'");
  std::string badoff = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})";
  CHECK_HAS(err_of("badoff.safetensors", raw_header(badoff.size(), badoff, std::string(16, '\0'))), "data_offsets");
  std::string nested(200000, '[');
  CHECK_HAS(err_of("deep.safetensors", raw_header(nested.size() + 1, "{" + nested)), "invalid JSON");

  // Sharded: a tensor listed in the index but missing from its shard; a bad shard name.
  std::string sd = ztest::temp_dir();
  write_bytes(sd + "/s1.safetensors", safetensors_bytes({{"a", "F32", {1}, std::string(4, '\0')}}));
  write_bytes(sd + "/model.safetensors.index.json", R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})");
  std::string se;
  try {
    zip::load_safetensors_dir(sd);
  } catch (const zip::Error& x) {
    se = x.what();
  }
  CHECK_HAS(se, "tensor 'b' is listed in the index but missing from shard s1.safetensors");
  write_bytes(sd + "/model.safetensors.index.json", R"({"weight_map":{"a":"../s1.safetensors"}})");
  CHECK_THROWS_WITH_AS(zip::load_safetensors_dir(sd), doctest::Contains("shard must be a file name"), zip::Error);
  write_bytes(sd + "/model.safetensors.index.json", R"({"weight_map":{}})");
  CHECK_THROWS_WITH_AS(zip::load_safetensors_dir(sd), doctest::Contains("empty"), zip::Error);
}

TEST_CASE("hf import: invalid checkpoints are clean errors") {
  const std::vector<StEntry> entries = tiny_entries();
  const json cfg = tiny_config();

  auto without = [&](const std::string& name) {
    std::vector<StEntry> e;
    for (const auto& x : entries)
      if (x.name != name) e.push_back(x);
    return e;
  };
  CHECK_HAS(import_error(make_hf_dir(cfg, without("model.layers.1.mlp.up_proj.weight"))),
            "missing tensor 'model.layers.1.mlp.up_proj.weight'");
  CHECK_HAS(import_error(make_hf_dir(cfg, without("lm_head.weight"))), "missing tensor 'lm_head.weight'");

  std::vector<StEntry> wrong = without("model.norm.weight");
  wrong.push_back({"model.norm.weight", "BF16", {32}, std::string(64, '\0')});
  std::string e = import_error(make_hf_dir(cfg, wrong));
  CHECK_HAS(e, "'model.norm.weight' has shape [32]");
  CHECK_HAS(e, "[64]");

  std::vector<StEntry> extra = entries;
  extra.push_back({"model.layers.0.self_attn.q_proj.bias", "BF16", {96}, std::string(192, '\0')});
  CHECK_HAS(import_error(make_hf_dir(cfg, extra)), "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
  // Known buffers are skipped.
  std::vector<StEntry> buf = entries;
  buf.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {12}, std::string(48, '\0')});
  CHECK_NOTHROW(zip::import_model(make_hf_dir(cfg, buf), {}));

  auto with = [&](const char* key, json v) {
    json c = cfg;
    c[key] = v;
    return import_error(make_hf_dir(c, entries));
  };
  CHECK_HAS(with("rope_scaling", {{"type", "linear"}, {"factor", 2.0}}), "'rope_scaling'");
  CHECK_HAS(with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}}), "not supported");
  CHECK_HAS(with("attention_bias", true), "'attention_bias' = true is not supported");
  CHECK_HAS(with("mlp_bias", true), "'mlp_bias'");
  CHECK_HAS(with("sliding_window", 4096), "'sliding_window' = 4096");
  CHECK_HAS(with("quantization_config", {{"quant_method", "gptq"}}), "'quantization_config'");
  CHECK_HAS(with("partial_rotary_factor", 0.5), "'partial_rotary_factor'");
  CHECK_HAS(with("rope_parameters", {{"rope_type", "yarn"}, {"rope_theta", 1e4}}), "'rope_parameters'");
  CHECK_HAS(with("hidden_act", "gelu"), "hidden_act 'gelu' is not supported");
  CHECK_HAS(with("architectures", {"MistralForCausalLM"}), "unsupported architecture 'MistralForCausalLM'");
  CHECK_HAS(with("model_type", "gpt2"), "unsupported architecture");
  CHECK_HAS(with("num_key_value_heads", 3), "not a multiple of num_key_value_heads 3");
  CHECK_HAS(with("num_key_value_heads", 8), "out of range");
  CHECK_HAS(with("hidden_size", "64"), "'hidden_size' must be an integer");
  CHECK_HAS(with("intermediate_size", 128), "'model.layers.0.mlp.gate_proj.weight' has shape [160, 64]");
  // Neutral values of those keys are fine.
  json ok = cfg;
  ok["rope_scaling"] = nullptr;
  ok["attention_bias"] = false;
  ok["mlp_bias"] = false;
  ok["sliding_window"] = nullptr;
  ok["pretraining_tp"] = 1;
  ok["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000.0}};
  CHECK_NOTHROW(zip::import_model(make_hf_dir(ok, entries), {}));

  // Tied embeddings: a stored lm_head is accepted only if identical to the embedding.
  json tied = cfg;
  tied["tie_word_embeddings"] = true;
  CHECK_HAS(import_error(make_hf_dir(tied, entries)), "lm_head.weight differs");
  zip::Model t = zip::import_model(make_hf_dir(tied, without("lm_head.weight")), {});
  CHECK(t.config.tied_embeddings);
  CHECK(t.find("output") == nullptr);

  std::string nocfg = ztest::temp_dir();
  CHECK_HAS(import_error(nocfg), "without config.json");
  std::string badjson = ztest::temp_dir();
  write_bytes(badjson + "/config.json", "{\"hidden_size\": ");
  CHECK_HAS(import_error(badjson), "invalid JSON");
  std::string noweights = ztest::temp_dir();
  write_bytes(noweights + "/config.json", cfg.dump());
  CHECK_HAS(import_error(noweights), "no model.safetensors");
  CHECK_HAS(import_error(ztest::shared(kTinyLlama + "/model.safetensors")), "pass the Hugging Face directory");

  // A truncated weights file inside an HF directory.
  std::string tr = ztest::temp_dir();
  write_bytes(tr + "/config.json", cfg.dump());
  std::string real = zip::read_file(ztest::shared(kTinyLlama + "/model.safetensors"));
  write_bytes(tr + "/model.safetensors", real.substr(0, real.size() - 10));
  CHECK_HAS(import_error(tr), "outside the data section");
}

TEST_CASE("llama2c import: invalid and corrupt checkpoints are clean errors") {
  std::string dir = ztest::temp_dir();
  std::string real = zip::read_file(ztest::shared(kStories));
  auto err_of = [&](const std::string& bytes) {
    write_bytes(dir + "/m.bin", bytes);
    return import_error(dir + "/m.bin");
  };
  auto with_header = [&](std::vector<int32_t> h) {
    std::string b = real;
    std::memcpy(b.data(), h.data(), 28);
    return err_of(b);
  };
  std::string e = err_of(real.substr(0, real.size() - 100));
  CHECK_HAS(e, "implies 1056540 bytes");
  CHECK_HAS(e, "truncated");
  CHECK_HAS(err_of(real + "xxxx"), "implies 1056540 bytes");
  CHECK_HAS(with_header({-64, 172, 5, 8, 4, 512, 512}), "dim out of range");
  CHECK_HAS(with_header({64, 172, 5, 6, 3, 512, 512}), "n_heads does not divide dim");
  CHECK_HAS(with_header({64, 172, 5, 8, 3, 512, 512}), "not a multiple of n_kv_heads");
  CHECK_HAS(with_header({64, 172, 5, 8, 4, 0, 512}), "vocab_size");
  CHECK_HAS(with_header({64, 172, 0, 8, 4, 512, 512}), "n_layers");
  CHECK_HAS(with_header({64, 172, 5, 8, 4, 512, -1}), "max_seq_len");
  CHECK_HAS(with_header({64, 172, 5, 64, 64, 512, 512}), "must be even");
  // Extreme but in-range values: the size check must not overflow into a match.
  CHECK_HAS(with_header({65536, 1 << 20, 4096, 2, 1, -(1 << 22), 1 << 22}), "implies");
  // Untied variant of stories260K: a negative vocab expects a classifier after the tables.
  CHECK_HAS(with_header({64, 172, 5, 8, 4, -512, 512}), "implies 1187612 bytes");
  std::string v1 = real;
  uint32_t magic = 0x616b3432, ver = 1;
  std::memcpy(v1.data(), &magic, 4);
  std::memcpy(v1.data() + 4, &ver, 4);
  CHECK_HAS(err_of(v1), "version 1 is not supported");
  CHECK_HAS(err_of(""), "shorter than its 28-byte header");
  CHECK_HAS(err_of("hello"), "shorter than its 28-byte header");
  CHECK_HAS(import_error(dir + "/does-not-exist.bin"), "cannot open");
  zip::ImportOptions o;
  o.dtype = zip::DType::I32;
  o.dtype_given = true;
  CHECK_HAS(import_error(ztest::shared(kStories), o), "--dtype");
}

TEST_CASE("hf import: tiny-random-llama logits match the golden reference") {
  zip::Model m = zip::import_model(ztest::shared(kTinyLlama), {});
  json idx = ztest::load_json(ztest::shared("golden/tiny-random-llama/index.json"));
  std::vector<float> ref = ztest::load_f32(ztest::shared("golden/tiny-random-llama/logits.f32"));
  REQUIRE(ref.size() == 2 * 24 * 512);
  auto backend = zip::make_ref_backend();
  zip::InferenceContext ctx(m, *backend);
  std::vector<float> got;
  for (const auto& seq : idx["input_ids"]) {
    ctx.reset();
    std::vector<int> ids = seq.get<std::vector<int>>();
    const float* l = ctx.eval(ids, /*all_logits=*/true);
    got.insert(got.end(), l, l + ids.size() * 512);
  }
  double err = ztest::max_rel_err(got, ref);
  INFO("max rel err " << err);
  CHECK(err <= 2e-5);
}

TEST_CASE("llama2c import: stories260K logits match the golden reference") {
  zip::Model m = zip::import_model(ztest::shared(kStories), {});
  json idx = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  std::vector<float> ref = ztest::load_f32(ztest::shared("golden/stories260K/logits_prompt2.f32"));
  std::vector<int> ids = idx["logits_prompt2_ids"].get<std::vector<int>>();
  REQUIRE(ref.size() == ids.size() * 512);
  auto backend = zip::make_ref_backend();
  zip::InferenceContext ctx(m, *backend);
  const float* l = ctx.eval(ids, /*all_logits=*/true);
  double err = ztest::max_rel_err(std::vector<float>(l, l + ref.size()), ref);
  INFO("max rel err " << err);
  CHECK(err <= 2e-5);
}
