// Hugging Face export: round trips through the HF importers (tensor for tensor, identical
// logits) for Llama, GPT-2, BERT (model, classifier, sentence-transformers folder), tokenizer
// files, and the refusal of per-layer shapes.
#include "distill/random_init.h"
#include "engine/encoder.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/export.h"
#include "models/import.h"
#include "tests/export_util.h"
#include "tests/fixtures.h"

using namespace zip;

namespace {

// Exports to a fresh folder (its path in *dir when asked) and imports it back.
Model hf_round_trip(const Model& m, ExportResult* r = nullptr, std::string* dir_out = nullptr) {
  const std::string dir = ztest::temp_dir() + "/hf";
  if (dir_out) *dir_out = dir;
  ExportResult res = export_hf(m, dir);
  if (r) *r = res;
  return import_model(dir, {});
}

std::vector<float> bert_hidden(const Model& m, const std::vector<int>& ids) {
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be);
  const std::vector<int> types(ids.size(), 0);
  EncoderOutput o = run_encoder(ctx, ids, types);
  std::vector<float> out = o.hidden;
  out.insert(out.end(), o.pooled.begin(), o.pooled.end());
  out.insert(out.end(), o.logits.begin(), o.logits.end());
  return out;
}

}  // namespace

TEST_CASE("hf export: Llama (LlamaForCausalLM, q/k back to rotate_half) and GPT-2 round-trip") {
  for (const Model* m : {&ztest::tiny_llama(), &ztest::tiny_gpt2()}) {
    ExportResult r;
    std::string dir;
    Model back = hf_round_trip(*m, &r, &dir);
    CHECK(r.arch == (m->config.arch == Arch::Llama ? "LlamaForCausalLM" : "GPT2LMHeadModel"));
    back.provenance = m->provenance;
    ztest::check_same_model(*m, back);
    const std::vector<int> ids = {1, 5, 9, 2, 7, 3};
    CHECK(ztest::all_logits(*m, ids) == ztest::all_logits(back, ids));
    const auto cfg = ztest::load_json(dir + "/config.json");
    if (m->config.arch == Arch::Llama) CHECK(cfg["head_dim"] == m->config.head_dim);
  }
}

TEST_CASE("hf export: BERT as BertModel, BertForSequenceClassification and a sentence-transformers folder") {
  Model st = ztest::tiny_bert();
  st.config.labels.clear();
  st.tensors.erase("classifier");
  st.tensors.erase("classifier.bias");
  st.config.pooling = "mean";
  st.config.normalize = true;
  Model cls = ztest::tiny_bert();
  cls.config.labels = {"neg", "pos"};
  cls.config.pooler = true;
  cls = distill::random_init(cls.config, 3);
  std::string dir;
  for (const Model* m : std::vector<const Model*>{&ztest::tiny_bert(), &cls, &st}) {
    const Model back = hf_round_trip(*m, nullptr, &dir);
    ztest::check_same_model(*m, back);
    const std::vector<int> ids = {2, 15, 9, 27, 3};
    CHECK(bert_hidden(*m, ids) == bert_hidden(back, ids));
  }
  CHECK(file_exists(dir + "/modules.json"));
}

TEST_CASE("hf export: tokenizer.json + tokenizer_config.json round-trip (byte-level BPE, WordPiece, chat template)") {
  TokenizerData gpt2 = load_tokenizer(ztest::shared("models/gpt2-tokenizer"));
  gpt2.chat_template = "{{ messages[0]['content'] }}";
  TokenizerData bert = load_tokenizer(ztest::shared("models/bert-base-uncased-vocab"));
  for (const Model* base : {&ztest::tiny_llama(), &ztest::tiny_gpt2(), &ztest::tiny_bert()}) {
    const TokenizerData& tok = base->config.arch == Arch::BERT ? bert : gpt2;
    ModelConfig c = base->config;
    c.vocab_size = int(tok.pieces.size());
    if (c.arch == Arch::GPT2) c.layers.resize(1);
    Model m = distill::random_init(c, 5);
    m.tokenizer = std::make_shared<const TokenizerData>(tok);
    std::string dir;
    const Model back = hf_round_trip(m, nullptr, &dir);
    REQUIRE(back.tokenizer);
    CHECK(*back.tokenizer == tok);
    const auto tc = ztest::load_json(dir + "/tokenizer_config.json");
    if (c.arch != Arch::BERT) CHECK(tc["chat_template"] == gpt2.chat_template);
  }
}

TEST_CASE("hf export: per-layer shapes are refused, pointing to GGUF") {
  CHECK_THROWS_WITH_AS(export_hf(ztest::stories260K_sliced(), ztest::temp_dir() + "/sliced"),
                       doctest::Contains("--to gguf"), Error);
}

TEST_CASE("hf export: zip export --to hf, then zip convert") {
  const std::string dir = ztest::temp_dir() + "/cli-hf", zlm = ztest::temp_dir() + "/cli-hf.zlm";
  auto r = ztest::run_zip("export " + ztest::shell_quote(ztest::tiny_gpt2_zlm()) + " --to hf -o " +
                          ztest::shell_quote(dir));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.err.find("GPT2LMHeadModel") != std::string::npos);
  r = ztest::run_zip("convert " + ztest::shell_quote(dir) + " -o " + ztest::shell_quote(zlm));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  Model a = load_zlm(ztest::tiny_gpt2_zlm()), b = load_zlm(zlm);
  b.provenance = a.provenance;
  ztest::check_same_model(a, b);
}
