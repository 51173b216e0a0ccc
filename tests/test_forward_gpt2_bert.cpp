// GPT-2 and BERT forward passes against the golden references, and the slicing property:
// a sliced model computes what the full model computes with the removed structures zeroed.
#include <random>

#include "engine/encoder.h"
#include "engine/forward.h"
#include "engine/zlm.h"
#include "engine/error.h"
#include "models/import.h"
#include "compress/slice.h"
#include "tests/residual_recorder.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::vector<float> decoder_logits(const Model& m, Backend& be, const nlohmann::json& seqs) {
  std::vector<float> got;
  for (auto& seq : seqs) {
    InferenceContext ctx(m, be);
    auto ids = seq.get<std::vector<int>>();
    const float* p = ctx.eval(ids, true);
    got.insert(got.end(), p, p + ids.size() * size_t(m.config.vocab_size));
  }
  return got;
}

// Rows of `ref` [n_seq, T, D] (or [n_seq, D]) at unmasked positions.
std::vector<float> masked_rows(const std::vector<float>& all, const nlohmann::json& mask, int D) {
  std::vector<float> out;
  size_t T = mask[0].size();
  for (size_t s = 0; s < mask.size(); s++)
    for (size_t t = 0; t < T; t++)
      if (mask[s][t].get<int>()) out.insert(out.end(), all.begin() + long((s * T + t) * D), all.begin() + long((s * T + t + 1) * D));
  return out;
}

struct BertRun {
  std::vector<float> hidden, pooled, logits, mean;  // concatenated over sequences, unmasked rows
};

BertRun run_bert(const Model& m, Backend& be, const nlohmann::json& g) {
  BertRun r;
  InferenceContext ctx(m, be);
  for (size_t s = 0; s < g["input_ids"].size(); s++) {
    std::vector<int> ids, types;
    for (size_t t = 0; t < g["input_ids"][s].size(); t++)
      if (g["attention_mask"][s][t].get<int>()) {
        ids.push_back(g["input_ids"][s][t]);
        types.push_back(g["token_type_ids"][s][t]);
      }
    EncoderOutput o = run_encoder(ctx, ids, types);
    r.hidden.insert(r.hidden.end(), o.hidden.begin(), o.hidden.end());
    r.pooled.insert(r.pooled.end(), o.pooled.begin(), o.pooled.end());
    r.logits.insert(r.logits.end(), o.logits.begin(), o.logits.end());
    auto mean = mean_pool(o.hidden.data(), o.n_tokens, m.config.dim);
    r.mean.insert(r.mean.end(), mean.begin(), mean.end());
  }
  return r;
}

const Model& gpt2() {
  static Model m = import_model(ztest::shared("models/tiny-random-gpt2"), {});
  return m;
}
const Model& bert() {
  static Model m = import_model(ztest::shared("models/tiny-random-bert"), {});
  return m;
}

// A random slice spec: every layer keeps a random subset (possibly empty) of heads and neurons.
SliceSpec random_spec(const ModelConfig& c, std::mt19937& rng) {
  SliceSpec spec;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    LayerSlice ls;
    std::bernoulli_distribution keep_head(0.6), keep_neuron(0.5), drop_module(0.2);
    if (!drop_module(rng))
      for (int h = 0; h < s.n_kv_heads(); h++)
        if (keep_head(rng)) ls.kv_heads.push_back(h);
    if (!drop_module(rng))
      for (int f = 0; f < s.ffn_dim; f++)
        if (keep_neuron(rng)) ls.ffn_neurons.push_back(f);
    spec[l] = ls;
  }
  return spec;
}

// The full model with the removed structures' weights zeroed: Q/K/V rows (and biases) and W_O
// columns of removed heads; W_1 rows (and bias) and W_2 columns of removed neurons.
Model zeroed_copy(const Model& m, const SliceSpec& spec) {
  Model z;
  z.config = m.config;
  for (auto& [name, t] : m.tensors) z.tensors[name] = t.converted(DType::F32);
  int hd = m.config.head_dim;
  for (auto& [l, ls] : spec) {
    auto name = [&](const char* w) { return layer_tensor(l, w); };
    const LayerShape& s = m.config.layers[size_t(l)];
    auto zero_rows = [&](const std::string& n, int r0, int count) {
      Tensor& t = z.tensors.at(n);
      int64_t cols = t.ndim() == 2 ? t.dim(1) : 1;
      for (int r = r0; r < r0 + count; r++)
        for (int64_t c = 0; c < cols; c++) t.ptr<float>()[r * cols + c] = 0;
    };
    auto zero_cols = [&](const std::string& n, int c0, int count) {
      Tensor& t = z.tensors.at(n);
      for (int64_t r = 0; r < t.dim(0); r++)
        for (int c = c0; c < c0 + count; c++) t.ptr<float>()[r * t.dim(1) + c] = 0;
    };
    for (int h = 0; h < s.n_heads(); h++) {
      if (std::binary_search(ls.kv_heads.begin(), ls.kv_heads.end(), h)) continue;  // MHA: q head h = kv head h
      for (const char* w : {"attn_q", "attn_k", "attn_v"}) {
        zero_rows(name(w), h * hd, hd);
        zero_rows(name(w) + ".bias", h * hd, hd);
      }
      zero_cols(name("attn_output"), h * hd, hd);
    }
    for (int f = 0; f < s.ffn_dim; f++) {
      if (std::binary_search(ls.ffn_neurons.begin(), ls.ffn_neurons.end(), f)) continue;
      zero_rows(name("ffn_up"), f, 1);
      zero_rows(name("ffn_up") + ".bias", f, 1);
      zero_cols(name("ffn_down"), f, 1);
    }
  }
  return z;
}

}  // namespace

TEST_CASE("forward: tiny-random-gpt2 logits agree with the golden reference") {
  auto g = ztest::load_json(ztest::shared("golden/tiny-random-gpt2/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/tiny-random-gpt2/logits.f32"));
  auto be = make_cpu_backend(2);
  CHECK(ztest::max_rel_err(decoder_logits(gpt2(), *be, g["input_ids"]), ref) <= 2e-5);
  auto rb = make_ref_backend();
  CHECK(ztest::max_rel_err(decoder_logits(gpt2(), *rb, g["input_ids"]), ref) <= 2e-5);
}

TEST_CASE("forward: tiny-random-bert hidden states, pooler, classifier and mean pooling agree with the golden reference") {
  auto g = ztest::load_json(ztest::shared("golden/tiny-random-bert/index.json"));
  int D = 64;
  auto hidden = masked_rows(ztest::load_f32(ztest::shared("golden/tiny-random-bert/hidden.f32")), g["attention_mask"], D);
  auto pooled = ztest::load_f32(ztest::shared("golden/tiny-random-bert/pooled.f32"));
  auto logits = ztest::load_f32(ztest::shared("golden/tiny-random-bert/classifier_logits.f32"));
  auto mean = ztest::load_f32(ztest::shared("golden/tiny-random-bert/mean_pooled.f32"));
  REQUIRE(bert().config.labels.size() == 2);
  for (int threads : {1, 2}) {
    auto be = make_cpu_backend(threads);
    BertRun r = run_bert(bert(), *be, g);
    CHECK(ztest::max_rel_err(r.hidden, hidden) <= 2e-5);
    CHECK(ztest::max_rel_err(r.pooled, pooled) <= 2e-5);
    CHECK(ztest::max_rel_err(r.logits, logits) <= 2e-5);
    CHECK(ztest::max_rel_err(r.mean, mean) <= 2e-5);
  }
}

TEST_CASE("slice: random slices of tiny GPT-2 and BERT equal the zeroed full models (through a .zlm round trip)") {
  std::mt19937 rng(1234);
  auto be = make_cpu_backend(2);
  std::string dir = ztest::temp_dir();
  auto gg = ztest::load_json(ztest::shared("golden/tiny-random-gpt2/index.json"));
  auto gb = ztest::load_json(ztest::shared("golden/tiny-random-bert/index.json"));
  for (int trial = 0; trial < 6; trial++) {
    SliceSpec sg = random_spec(gpt2().config, rng);
    save_zlm(slice_model(gpt2(), sg), dir + "/g.zlm");
    Model sliced = load_zlm(dir + "/g.zlm");
    Model zeroed = zeroed_copy(gpt2(), sg);
    auto a = decoder_logits(sliced, *be, gg["input_ids"]), b = decoder_logits(zeroed, *be, gg["input_ids"]);
    CHECK(ztest::max_rel_err(a, b) <= 1e-5);

    SliceSpec sb = random_spec(bert().config, rng);
    save_zlm(slice_model(bert(), sb), dir + "/b.zlm");
    Model bsliced = load_zlm(dir + "/b.zlm");
    BertRun x = run_bert(bsliced, *be, gb), y = run_bert(zeroed_copy(bert(), sb), *be, gb);
    CHECK(ztest::max_rel_err(x.hidden, y.hidden) <= 1e-5);
    CHECK(ztest::max_rel_err(x.logits, y.logits) <= 1e-5);
  }
}

#include <fstream>

TEST_CASE("cli: zip run on an encoder prints label probabilities (best first) and embeddings as JSON") {
  // tiny-random-bert ships no vocabulary: give it the first 512 entries of the BERT vocabulary
  // ([PAD], [UNK], [CLS], [SEP], [MASK] and unused pieces), so any text is [CLS] [UNK]… [SEP].
  std::string dir = ztest::temp_dir();
  std::string src = ztest::shared("models/tiny-random-bert");
  REQUIRE(std::system(("cp '" + src + "/config.json' '" + src + "/model.safetensors' '" + dir + "/'").c_str()) == 0);
  {
    std::ifstream in(ztest::shared("models/bert-base-uncased-vocab/vocab.txt"));
    std::ofstream out(dir + "/vocab.txt");
    std::string line;
    for (int i = 0; i < 512 && std::getline(in, line); i++) out << line << "\n";
  }
  auto c = ztest::run_zip("convert '" + dir + "' -o '" + dir + "/b.zlm'");
  REQUIRE_MESSAGE(c.status == 0, c.err);
  auto r = ztest::run_zip("run '" + dir + "/b.zlm' -p 'hello world' -t 1");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  // Expected: the library's classifier on [CLS] [UNK] [UNK] [SEP].
  Model m = load_zlm(dir + "/b.zlm");
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be);
  EncoderOutput o = run_encoder(ctx, {101, 100, 100, 102}, {});
  auto p = softmax_probs(o.logits);
  int best = p[0] >= p[1] ? 0 : 1;
  std::string want = fmt::format("{}\t{:.6f}\n{}\t{:.6f}\n", m.config.labels[size_t(best)], p[size_t(best)],
                                 m.config.labels[size_t(1 - best)], p[size_t(1 - best)]);
  CHECK(r.out == want);
  auto j = ztest::run_zip("run '" + dir + "/b.zlm' -p 'hello world' --json");
  REQUIRE(j.status == 0);
  auto arr = nlohmann::json::parse(j.out);
  CHECK(arr.size() == 2);
  CHECK(arr[0]["label"] == m.config.labels[size_t(best)]);
}

TEST_CASE("forward: resuming at a layer equals the full pass for GPT-2 (decode) and BERT (encode)") {
  auto be = make_cpu_backend(2);
  std::vector<int> ids = {5, 17, 3, 99, 42, 7};
  for (const Model* m : {&gpt2(), &bert()}) {
    const bool causal = m->config.info().causal;
    CAPTURE(m->config.info().name);
    ztest::ResidualRecorder keep;
    InferenceContext full(*m, *be);
    full.set_observer(&keep);
    const size_t width = causal ? size_t(m->config.vocab_size) : size_t(m->config.dim);
    const float* p = causal ? full.eval(ids, true) : full.encode(ids.data(), nullptr, int(ids.size()));
    std::vector<float> ref(p, p + ids.size() * width);
    for (int l = 0; l <= m->config.n_layers(); l++) {
      InferenceContext ctx(*m, *be);
      const float* q = ctx.eval_from_layer(l, keep.x[size_t(l)].data(), int(ids.size()), true);
      CHECK(ztest::max_rel_err(std::vector<float>(q, q + ids.size() * width), ref) <= 1e-6);
    }
  }
}
