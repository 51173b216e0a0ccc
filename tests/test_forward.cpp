// Whole-model inference against the golden references (float64, independent implementation).
#include <cmath>

#include "engine/error.h"
#include "engine/forward.h"
#include "engine/generate.h"
#include "models/import.h"
#include "compress/slice.h"
#include "tests/residual_recorder.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

const Model& stories() {
  static Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  return m;
}

std::vector<float> all_logits(const Model& m, Backend& be, const std::vector<int>& ids) {
  InferenceContext ctx(m, be);
  const float* p = ctx.eval(ids, true);
  return std::vector<float>(p, p + ids.size() * size_t(m.config.vocab_size));
}

std::vector<int> ids_of(const nlohmann::json& j) { return j.get<std::vector<int>>(); }

}  // namespace

TEST_CASE("forward: stories260K logits agree with the golden reference") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/stories260K/logits_prompt2.f32"));
  auto ids = ids_of(g["logits_prompt2_ids"]);
  for (int threads : {1, 2}) {
    auto be = make_cpu_backend(threads);
    CHECK(ztest::max_rel_err(all_logits(stories(), *be, ids), ref) <= 2e-5);
  }
  auto rb = make_ref_backend();
  CHECK(ztest::max_rel_err(all_logits(stories(), *rb, ids), ref) <= 2e-5);
}

TEST_CASE("forward: prefill in chunks and token-by-token decode give the same logits") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/stories260K/logits_prompt2.f32"));
  auto ids = ids_of(g["logits_prompt2_ids"]);
  auto be = make_cpu_backend(2);
  InferenceContext ctx(stories(), *be, 0, /*max_batch*/ 5);  // forces several chunks
  std::vector<float> got;
  for (size_t i = 0; i < ids.size(); i++) {
    const float* p = ctx.eval(&ids[i], 1);
    got.insert(got.end(), p, p + 512);
  }
  CHECK(ztest::max_rel_err(got, ref) <= 2e-5);
  ctx.reset();
  const float* p = ctx.eval(ids, true);
  CHECK(ztest::max_rel_err(std::vector<float>(p, p + ref.size()), ref) <= 2e-5);
}

TEST_CASE("forward: stories260K greedy generations equal the golden ids and text") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  const Model& m = stories();
  REQUIRE(m.tokenizer);
  Tokenizer tok(m.tokenizer);
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be);
  for (auto& c : g["greedy"]) {
    std::string prompt = c["prompt"];
    auto want = ids_of(c["ids"]);
    std::vector<int> ids = tok.encode(prompt, true);
    GenerateOptions opt;
    opt.max_new_tokens = 200;
    opt.sampling.temperature = 0;
    std::string text = prompt;
    generate(ctx, &tok, ids, opt, [&](int id, const std::string& piece) {
      ids.push_back(id);
      text += piece;
      return true;
    });
    INFO("prompt: " << prompt);
    CHECK(ids == want);
    CHECK(text == c["text"].get<std::string>());
  }
}

TEST_CASE("forward: stories260K-sliced (per-layer shapes, removed modules) agrees with the golden logits") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K-sliced/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/stories260K-sliced/logits.f32"));
  Model s = slice_model(stories(), parse_slice_spec(g["slice"], stories().config));
  CHECK(s.config.layers[1].q_per_kv == std::vector<int>{2, 1, 2});
  CHECK(s.config.layers[2].has_attention() == false);
  CHECK(s.config.layers[3].q_per_kv == std::vector<int>{1, 1});
  CHECK(s.config.layers[3].has_ffn() == false);
  auto ids = ids_of(g["input_ids"][0]);
  auto be = make_cpu_backend(2);
  CHECK(ztest::max_rel_err(all_logits(s, *be, ids), ref) <= 2e-5);
  auto rb = make_ref_backend();
  CHECK(ztest::max_rel_err(all_logits(s, *rb, ids), ref) <= 2e-5);
}

TEST_CASE("slice: invalid specs are errors") {
  const ModelConfig& c = stories().config;
  auto bad = [&](const char* js) {
    INFO(js);
    CHECK_THROWS_AS(parse_slice_spec(nlohmann::json::parse(js), c), Error);
  };
  bad(R"({"0": {"kv_heads": [0, 1], "q_heads": [0, 4], "ffn_neurons": [0]}})");  // q head 4 reads KV head 2
  bad(R"({"0": {"kv_heads": [1, 0], "ffn_neurons": [0]}})");                     // unsorted
  bad(R"({"0": {"kv_heads": [0, 0], "ffn_neurons": [0]}})");                     // duplicate
  bad(R"({"0": {"kv_heads": [4], "ffn_neurons": [0]}})");                        // out of range
  bad(R"({"0": {"kv_heads": [0], "ffn_neurons": [172]}})");                      // out of range
  bad(R"({"0": {"kv_heads": [0, 1], "q_heads": [0], "ffn_neurons": [0]}})");     // KV head 1 without query heads
  bad(R"({"7": {"kv_heads": [0], "ffn_neurons": [0]}})");                        // no layer 7
  bad(R"({"x": {"kv_heads": [0], "ffn_neurons": [0]}})");
  bad(R"({"0": {"kv_heads": [0], "ffn_neurons": [0], "extra": 1}})");
  bad(R"({"0": {"kv_heads": [0]}})");
  bad(R"([1, 2])");
}

TEST_CASE("forward: observer sees every linear input and module timing covers every module") {
  struct Counter : ForwardObserver {
    std::map<std::pair<int, int>, int> rows;
    int residuals = 0;
    void on_linear_input(int l, LinearKind k, const float*, int r, int) override { rows[{l, int(k)}] += r; }
    void on_residual(int, const float*, int, int) override { residuals++; }
  } obs;
  auto g = ztest::load_json(ztest::shared("golden/stories260K-sliced/index.json"));
  Model s = slice_model(stories(), parse_slice_spec(g["slice"], stories().config));
  auto be = make_cpu_backend(1);
  InferenceContext ctx(s, *be);
  ModuleTimes times;
  ctx.set_observer(&obs);
  ctx.set_timing(&times);
  std::vector<int> ids = {1, 403, 407, 261, 378};
  ctx.eval(ids);
  ctx.eval(&ids[1], 1);
  CHECK(obs.residuals == 2 * (s.config.n_layers() + 1));
  CHECK(obs.rows[{0, int(LinearKind::O)}] == 6);
  CHECK(obs.rows[{0, int(LinearKind::Down)}] == 6);
  CHECK(obs.rows.count({2, int(LinearKind::O)}) == 0);  // layer 2 has no attention
  CHECK(obs.rows.count({3, int(LinearKind::Down)}) == 0);  // layer 3 has no FFN
  CHECK(obs.rows[{-1, int(LinearKind::Output)}] == 2);
  CHECK(times.calls == 2);
  CHECK(times.attn_ns[0] > 0);
  CHECK(times.attn_ns[2] == 0);
  CHECK(times.ffn_ns[3] == 0);
  double modules = times.head_ns;
  for (int l = 0; l < s.config.n_layers(); l++) modules += times.attn_ns[size_t(l)] + times.ffn_ns[size_t(l)];
  CHECK(modules <= times.total_ns);
}

TEST_CASE("forward: bad input - prompt longer than the context, bad token ids") {
  auto be = make_cpu_backend(1);
  InferenceContext ctx(stories(), *be, 16);
  std::vector<int> ids(17, 5);
  CHECK_THROWS_AS(ctx.eval(ids), Error);
  std::vector<int> bad = {1, 512};
  CHECK_THROWS_AS(ctx.eval(bad), Error);
  bad = {-1};
  CHECK_THROWS_AS(ctx.eval(bad), Error);
}

TEST_CASE("forward: batched decoding of several sequences equals decoding each alone") {
  const Model& m = stories();
  Tokenizer tok(m.tokenizer);
  auto be = make_cpu_backend(2);
  std::vector<std::vector<int>> prompts = {tok.encode("Once upon a time", true), tok.encode("The little dog", true),
                                           tok.encode("", true)};
  GenerateOptions opt;
  opt.max_new_tokens = 40;
  opt.sampling.temperature = 0;
  // Alone.
  std::vector<std::vector<int>> alone(prompts.size());
  InferenceContext single(m, *be);
  for (size_t i = 0; i < prompts.size(); i++)
    generate(single, &tok, prompts[i], opt, [&](int id, const std::string&) {
      alone[i].push_back(id);
      return true;
    });
  // Together, with a small max_batch so the prefill spans several batches.
  InferenceContext batched(m, *be, 0, 7, 3);
  std::vector<std::vector<int>> together(prompts.size());
  GenerateStats st = generate_batch(batched, &tok, prompts, opt, [&](int s, int id, const std::string&) {
    together[size_t(s)].push_back(id);
    return true;
  });
  for (size_t i = 0; i < prompts.size(); i++) CHECK(together[i] == alone[i]);
  CHECK(st.new_tokens == int(alone[0].size() + alone[1].size() + alone[2].size()));
  // Logits of a mixed batch row equal the single-sequence logits.
  batched.reset();
  single.reset();
  std::vector<int> toks = {1, 1, 403, 291}, seqs = {0, 1, 0, 1};
  const float* lb = batched.eval_batch(toks.data(), seqs.data(), 4, true);
  std::vector<float> rows(lb, lb + 4 * 512);
  std::vector<int> s0 = {1, 403};
  const float* ls = single.eval(s0, true);
  CHECK(ztest::max_rel_err(std::vector<float>(rows.begin(), rows.begin() + 512), std::vector<float>(ls, ls + 512)) < 1e-6);
  CHECK(ztest::max_rel_err(std::vector<float>(rows.begin() + 1024, rows.begin() + 1536),
                           std::vector<float>(ls + 512, ls + 1024)) < 1e-6);
}

TEST_CASE("forward: resuming at a layer from the observed residual stream equals the full pass") {
  ztest::ResidualRecorder keep;
  auto g = ztest::load_json(ztest::shared("golden/stories260K-sliced/index.json"));
  Model s = slice_model(stories(), parse_slice_spec(g["slice"], stories().config));
  auto be = make_cpu_backend(2);
  std::vector<int> ids = {1, 403, 407, 261, 378, 290, 11};
  const size_t V = size_t(s.config.vocab_size);
  InferenceContext full(s, *be);
  full.set_observer(&keep);
  const float* p = full.eval(ids, true);
  std::vector<float> ref(p, p + ids.size() * V);
  for (int l = 0; l <= s.config.n_layers(); l++) {
    InferenceContext ctx(s, *be);
    const float* q = ctx.eval_from_layer(l, keep.x[size_t(l)].data(), int(ids.size()), true);
    CHECK(ztest::max_rel_err(std::vector<float>(q, q + ids.size() * V), ref) <= 1e-6);
    CHECK(ctx.pos() == int(ids.size()));
    // Last row only, as eval() without all_logits.
    ctx.reset();
    q = ctx.eval_from_layer(l, keep.x[size_t(l)].data(), int(ids.size()));
    CHECK(ztest::max_rel_err(std::vector<float>(q, q + V), std::vector<float>(ref.end() - ptrdiff_t(V), ref.end())) <= 1e-6);
  }
  InferenceContext ctx(s, *be, 0, 4);
  CHECK_THROWS_AS(ctx.eval_from_layer(0, keep.x[0].data(), int(ids.size())), Error);  // over max_batch
  CHECK_THROWS_AS(ctx.eval_from_layer(s.config.n_layers() + 1, keep.x[0].data(), 2), Error);
  CHECK_THROWS_AS(ctx.eval_from_layer(-1, keep.x[0].data(), 2), Error);
}
