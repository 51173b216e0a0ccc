// GGUF export: round trips through the GGUF importer (tensor for tensor, identical logits), the
// deci padding (exact in the engine, removed again on import), tokenizer metadata, the CLI.
#include <fstream>

#include "distill/random_init.h"
#include "engine/file_io.h"
#include "engine/error.h"
#include "engine/quant/quantize_model.h"
#include "engine/zlm.h"
#include "models/export.h"
#include "models/gguf.h"
#include "models/gguf_writer.h"
#include "models/import.h"
#include "tests/export_util.h"
#include "tests/fixtures.h"

using namespace zip;

namespace {

Model gguf_round_trip(const Model& m, ExportResult* r = nullptr, const std::string& name = "m.gguf") {
  const std::string path = ztest::temp_dir() + "/" + name;
  ExportResult res = export_gguf(m, path);
  if (r) *r = res;
  return import_model(path, {});
}

// stories260K with FFN-free layers (one in the middle, the last), attention-free layers (the
// first, one in the middle) and uneven query groups: every case llama.cpp's deci cannot run as it is.
Model awkward_llama() {
  Model m = ztest::stories260K_sliced();
  ModelConfig& c = m.config;
  REQUIRE(c.n_layers() >= 4);
  auto drop_ffn = [&](int l) {
    c.layers[size_t(l)].ffn_dim = 0;
    for (const char* w : {"ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}) m.tensors.erase(layer_tensor(l, w));
  };
  auto drop_attention = [&](int l) {
    c.layers[size_t(l)].q_per_kv.clear();
    for (const char* w : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output"}) m.tensors.erase(layer_tensor(l, w));
  };
  drop_ffn(1);
  drop_ffn(c.n_layers() - 1);
  drop_attention(0);  // llama.cpp reads head_dim from layer 0
  drop_attention(2);
  m.validate();
  return m;
}

bool uneven_groups(const ModelConfig& c) {
  for (const LayerShape& s : c.layers)
    for (int g : s.q_per_kv)
      if (g != s.q_per_kv[0]) return true;
  return false;
}

}  // namespace

TEST_CASE("gguf export: GPT-2 round-trips as 'gpt2' (fused attn_qkv) tensor for tensor") {
  const Model& m = ztest::tiny_gpt2();
  ExportResult r;
  const Model back = gguf_round_trip(m, &r, "gpt2.gguf");
  CHECK(r.arch == "gpt2");
  ztest::check_same_model(m, back);
  const std::vector<int> ids = {1, 5, 9, 2, 7, 3};
  CHECK(ztest::all_logits(m, ids) == ztest::all_logits(back, ids));
}

TEST_CASE("gguf export: uniform Llama models round-trip as 'llama' tensor for tensor") {
  for (const Model* m : {&ztest::tiny_llama(), &ztest::stories260K()}) {
    ExportResult r;
    const Model back = gguf_round_trip(*m, &r);
    CHECK(r.arch == "llama");
    CHECK(r.padded_params == 0);
    ztest::check_same_model(*m, back);
    const std::vector<int> ids = {1, 5, 9, 2, 7, 3};
    CHECK(ztest::all_logits(*m, ids) == ztest::all_logits(back, ids));
  }
}

TEST_CASE("gguf export: a q5_0 model round-trips with its Q5_0 tensors kept byte for byte") {
  // tiny-random-llama: every row a multiple of 32 (dim 64, ffn 160, 4 heads × 24), so no f16 fallback.
  Model m = ztest::tiny_llama();
  quant::quantize_model(m, quant::QuantMix::Q5_0, 1);
  REQUIRE(m.get("blk.0.attn_q").dtype == DType::Q5_0);
  REQUIRE(m.get("blk.0.ffn_down").dtype == DType::Q5_0);
  const Model back = gguf_round_trip(m, nullptr, "q5.gguf");
  ztest::check_same_model(m, back);
  CHECK(back.get("blk.0.ffn_up").dtype == DType::Q5_0);
  const std::vector<int> ids = {1, 5, 9, 2, 7, 3};
  CHECK(ztest::all_logits(m, ids) == ztest::all_logits(back, ids));
}

TEST_CASE("gguf export: per-layer shapes as 'deci', padded for llama.cpp, unpadded on import") {
  const Model m = awkward_llama();
  REQUIRE(uneven_groups(m.config));
  ExportResult r;
  const std::string path = ztest::temp_dir() + "/awkward.gguf";
  r = export_gguf(m, path);
  CHECK(r.arch == "deci");
  CHECK(r.padded_params > 0);
  CHECK(r.notes.size() == 3);

  // What llama.cpp sees: per-layer arrays, a zero FFN where it needs one, even groups.
  const gguf::File f = gguf::read_file(path);
  const gguf::Value* ffn = f.find("deci.feed_forward_length");
  const gguf::Value* heads = f.find("deci.attention.head_count");
  const gguf::Value* kv = f.find("deci.attention.head_count_kv");
  REQUIRE((ffn && heads && kv && ffn->count == uint64_t(m.config.n_layers())));
  for (int l = 0; l < m.config.n_layers(); l++) {
    const LayerShape& s = m.config.layers[size_t(l)];
    CAPTURE(l);
    const bool needs_ffn = !s.has_ffn() && (s.has_attention() || l + 1 == m.config.n_layers());
    CHECK(ffn->int_at(uint64_t(l)) == (needs_ffn ? 1 : s.ffn_dim));
    CHECK(kv->int_at(uint64_t(l)) == (l == 0 && !s.has_attention() ? 1 : s.n_kv_heads()));
    if (kv->int_at(uint64_t(l)) > 0) CHECK(heads->int_at(uint64_t(l)) % kv->int_at(uint64_t(l)) == 0);
    CHECK(heads->int_at(uint64_t(l)) >= s.n_heads());
  }
  CHECK(f.find("deci.attention.key_length")->u == uint64_t(m.config.head_dim));

  const Model back = import_model(path, {});
  ztest::check_same_model(m, back);
  const std::vector<int> ids = {1, 50, 90, 20, 70, 30, 11};
  CHECK(ztest::all_logits(m, ids) == ztest::all_logits(back, ids));

  // The padded model itself (the key renamed, so the importer keeps the padding) computes the
  // same logits: the padding is exact, up to the order of float sums.
  std::string bytes = read_file(path);
  const size_t at = bytes.find("zip.layer_shapes");
  REQUIRE(at != std::string::npos);
  bytes[at + 15] = 'z';
  const std::string padded_path = ztest::temp_dir() + "/awkward-padded.gguf";
  ztest::write_file_bytes(padded_path, bytes);
  const Model padded = import_model(padded_path, {});
  CHECK(padded.config != m.config);
  CHECK(ztest::max_rel_err(ztest::all_logits(padded, ids), ztest::all_logits(m, ids)) < 1e-5);
}

TEST_CASE("gguf export: padding that is not zero is refused on import") {
  const std::string path = ztest::temp_dir() + "/awkward-bad.gguf";
  export_gguf(awkward_llama(), path);
  std::string bytes = read_file(path);
  const gguf::File f = gguf::read_file(path);
  const gguf::TensorInfo* down = f.find_tensor("blk.1.ffn_down.weight");
  REQUIRE(down);
  // The writer ends the file with the last tensor, so the data section starts this far from the end.
  const size_t data_start = bytes.size() - size_t(f.tensors.back().offset + f.tensors.back().n_bytes);
  const float one = 1.0f;
  std::memcpy(bytes.data() + data_start + down->offset, &one, 4);
  const std::string bad = ztest::temp_dir() + "/awkward-bad2.gguf";
  ztest::write_file_bytes(bad, bytes);
  CHECK_THROWS_WITH_AS(import_model(bad, {}), doctest::Contains("ffn_down is not zero"), Error);
}

TEST_CASE("gguf export: tokenizers round-trip (SentencePiece, byte-level BPE with merges, chat template)") {
  // stories260K: SentencePiece. A one-layer model around the GPT-2 vocabulary: byte-level BPE.
  Model bpe_model = ztest::tiny_llama();
  TokenizerData gpt2 = load_tokenizer(ztest::shared("models/gpt2-tokenizer"));
  gpt2.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}";
  for (Model* m : {&bpe_model}) {
    ModelConfig c = m->config;
    c.vocab_size = int(gpt2.pieces.size()) + 3;  // three rows more than pieces: padded vocabulary
    Model big = distill::random_init(c, 7);
    big.tokenizer = std::make_shared<const TokenizerData>(gpt2);
    const Model back = gguf_round_trip(big, nullptr, "bpe.gguf");
    REQUIRE(back.tokenizer);
    const TokenizerData& t = *back.tokenizer;
    CHECK(t.pieces.size() == gpt2.pieces.size() + 3);
    CHECK(t.types.back() == kUnused);
    TokenizerData trimmed = t;
    trimmed.pieces.resize(gpt2.pieces.size());
    trimmed.types.resize(gpt2.pieces.size());
    trimmed.scores.resize(gpt2.pieces.size());
    CHECK(trimmed == gpt2);
  }
  const Model sp = gguf_round_trip(ztest::stories260K(), nullptr, "sp.gguf");
  CHECK(*sp.tokenizer == *ztest::stories260K().tokenizer);
}

TEST_CASE("gguf export: BERT round-trips as 'bert' (model, classifier, sentence pooling, WordPiece vocabulary)") {
  Model cls = ztest::tiny_bert();
  cls.config.labels = {"neg", "pos"};
  cls.config.pooler = true;
  cls = distill::random_init(cls.config, 3);
  Model st = ztest::tiny_bert();
  st.config.labels.clear();
  st.tensors.erase("classifier");
  st.tensors.erase("classifier.bias");
  st.config.pooling = "mean";
  st.config.normalize = true;
  TokenizerData wp = load_tokenizer(ztest::shared("models/bert-base-uncased-vocab"));
  ModelConfig big = st.config;
  big.vocab_size = int(wp.pieces.size());
  Model with_vocab = distill::random_init(big, 9);
  with_vocab.tokenizer = std::make_shared<const TokenizerData>(wp);
  for (const Model* m : std::vector<const Model*>{&ztest::tiny_bert(), &cls, &st, &with_vocab}) {
    ExportResult r;
    const Model back = gguf_round_trip(*m, &r, "bert.gguf");
    CHECK(r.arch == "bert");
    ztest::check_same_model(*m, back);
  }
}

TEST_CASE("gguf export: GPT-2 and BERT pruned per layer are refused with a clear message") {
  for (const Model* base : {&ztest::tiny_gpt2(), &ztest::tiny_bert()}) {
    ModelConfig c = base->config;
    c.layers[0].ffn_dim /= 2;
    c.labels.clear();
    CHECK_THROWS_WITH_AS(export_gguf(distill::random_init(c, 1), ztest::temp_dir() + "/p.gguf"),
                         doctest::Contains("pruned per layer"), Error);
  }
}

TEST_CASE("gguf export: zip export --to gguf, then zip convert gives the same .zlm model") {
  const std::string dir = ztest::temp_dir(), gguf = dir + "/cli.gguf", zlm = dir + "/cli.zlm";
  auto r = ztest::run_zip("export " + ztest::shell_quote(ztest::stories260K_zlm()) + " --to gguf -o " +
                          ztest::shell_quote(gguf));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.find("llama") != std::string::npos);
  r = ztest::run_zip("convert " + ztest::shell_quote(gguf) + " -o " + ztest::shell_quote(zlm));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  ztest::check_same_model(load_zlm(ztest::stories260K_zlm()), load_zlm(zlm));
  r = ztest::run_zip("export " + ztest::shell_quote(ztest::stories260K_zlm()) + " --to onnx -o x");
  CHECK(r.status == 2);
  CHECK(r.err.find("--to must be gguf or hf") != std::string::npos);
}

TEST_CASE("gguf writer: block types are written as their ggml type, byte for byte; every value type reads back") {
  gguf::Writer w;
  w.set_u32("a.u32", 7);
  w.set_i32("a.i32", -3);
  w.set_f32("a.f32", 0.5f);
  w.set_bool("a.bool", true);
  w.set_str("a.str", "text");
  w.set_i32_array("a.arr", {1, -2, 3});
  w.set_u32("a.u32", 8);  // replaced in place
  const std::vector<std::pair<DType, gguf::GgmlType>> types = {
      {DType::F32, gguf::GgmlType::F32},   {DType::F16, gguf::GgmlType::F16},   {DType::BF16, gguf::GgmlType::BF16},
      {DType::Q8_0, gguf::GgmlType::Q8_0}, {DType::Q4_0, gguf::GgmlType::Q4_0}, {DType::Q4_K, gguf::GgmlType::Q4_K},
      {DType::Q6_K, gguf::GgmlType::Q6_K}, {DType::Q5_0, gguf::GgmlType::Q5_0}};
  std::vector<Tensor> ts;
  for (const auto& [dt, gt] : types) {
    // Arbitrary bytes: the writer copies blocks, it never interprets them.
    ts.push_back(Tensor::zeros(dt, {2, 256}));
    for (size_t b = 0; b < ts.back().nbytes(); b++) ts.back().ptr<uint8_t>()[b] = uint8_t(b * 131 + size_t(dt));
    w.add_tensor(std::string("t.") + dtype_name(dt), ts.back());
  }
  const std::string path = ztest::temp_dir() + "/types.gguf";
  w.write(path);
  const gguf::File f = gguf::read_file(path);
  CHECK(f.kv.size() == 6);
  CHECK(f.find("a.u32")->u == 8);
  CHECK(f.find("a.i32")->i == -3);
  CHECK(f.find("a.f32")->f == 0.5);
  CHECK(f.find("a.bool")->b);
  CHECK(f.find("a.str")->s == "text");
  CHECK(f.find("a.arr")->int_at(1) == -2);
  for (size_t i = 0; i < types.size(); i++) {
    const gguf::TensorInfo* t = f.find_tensor(std::string("t.") + dtype_name(types[i].first));
    REQUIRE(t);
    CHECK(t->type == uint32_t(types[i].second));
    CHECK(t->ne == std::vector<uint64_t>{256, 2});
    REQUIRE(t->n_bytes == ts[i].nbytes());
    CHECK(std::memcmp(t->data, ts[i].data, t->n_bytes) == 0);
    CHECK(uint64_t(t->data - f.tensors[0].data) % 32 == 0);
  }
  CHECK_THROWS_WITH_AS(gguf::ggml_type_of(DType::I32), doctest::Contains("no GGUF equivalent"), Error);
}
