// Sampling options, stop strings and zip bench.
#include <map>

#include "engine/generate.h"
#include "engine/sampler.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;

TEST_CASE("generate: greedy sampler with a repetition penalty avoids recent tokens") {
  std::vector<float> logits = {1.0f, 3.0f, 2.9f, -1.0f};
  SamplingParams p;
  p.temperature = 0;
  p.repeat_penalty = 1.5f;
  Sampler s(p);
  CHECK(s.sample(logits.data(), 4) == 1);
  s.accept(1);  // 3.0 / 1.5 = 2.0 < 2.9
  CHECK(s.sample(logits.data(), 4) == 2);
  s.accept(2);  // 2.9 / 1.5 = 1.93 < 2.0 -> back to 1
  CHECK(s.sample(logits.data(), 4) == 1);
}

TEST_CASE("generate: min-p keeps only tokens close to the best one") {
  std::vector<float> logits = {5.0f, 4.9f, 0.0f, -3.0f};  // p ~ 0.52, 0.47, 0.003, 0.0002
  SamplingParams p;
  p.temperature = 1;
  p.top_k = 0;
  p.top_p = 1;
  p.min_p = 0.5f;
  Sampler s(p);
  std::map<int, int> counts;
  for (int i = 0; i < 2000; i++) counts[s.sample(logits.data(), 4)]++;
  CHECK(counts[2] == 0);
  CHECK(counts[3] == 0);
  CHECK(counts[0] > 800);
  CHECK(counts[1] > 700);
}

TEST_CASE("generate: stop strings end generation and are never emitted, even across tokens") {
  static Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  Tokenizer tok(m.tokenizer);
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be);
  GenerateOptions opt;
  opt.max_new_tokens = 200;
  opt.sampling.temperature = 0;
  std::string full;
  generate(ctx, &tok, tok.encode("Once upon a time", true), opt, [&](int, const std::string& t) {
    full += t;
    return true;
  });
  REQUIRE(full.find(" in the park") != std::string::npos);
  for (std::string stop : {std::string(" in the park"), std::string("Lily. She"), std::string("ZZZ-never")}) {
    opt.stop = {stop};
    std::string text;
    GenerateStats st = generate(ctx, &tok, tok.encode("Once upon a time", true), opt, [&](int, const std::string& t) {
      text += t;
      return true;
    });
    INFO(stop);
    size_t at = full.find(stop);
    if (at == std::string::npos) {
      CHECK(text == full);
      CHECK(st.stop_reason != "stop");
    } else {
      CHECK(text == full.substr(0, at));
      CHECK(st.stop_reason == "stop");
    }
  }
}

TEST_CASE("cli: zip bench prints prefill and decode throughput as JSON") {
  std::string dir = ztest::temp_dir();
  auto c = ztest::run_zip("convert " + ztest::shared("models/stories260K/stories260K.bin") + " -o " + dir + "/s.zlm");
  REQUIRE(c.status == 0);
  auto r = ztest::run_zip("bench " + dir + "/s.zlm --batch 1,3 --prompt 16 --gen 8 --reps 2 -t 1 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["results"].size() == 2);
  CHECK(j["results"][1]["batch"] == 3);
  CHECK(j["results"][0]["prefill_tps"]["median"].get<double>() > 0);
  CHECK(j["results"][1]["decode_tps"]["min"].get<double>() > 0);
  CHECK(j["peak_rss_bytes"].get<int64_t>() > 0);
  auto bad = ztest::run_zip("bench " + dir + "/s.zlm --batch 1,x");
  CHECK(bad.status == 2);
  auto too_long = ztest::run_zip("bench " + dir + "/s.zlm --prompt 500 --gen 100");
  CHECK(too_long.status == 1);
}
