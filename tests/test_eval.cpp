// Evaluation protocols against the golden references.
#include <algorithm>
#include <cmath>
#include <random>

#include "engine/eval/log_softmax.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/similarity.h"
#include "engine/file_io.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;

namespace {
const Model& stories() {
  static Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  return m;
}
}  // namespace

TEST_CASE("eval: stories260K perplexity, lines protocol, matches the golden tokens and perplexity") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"))["perplexity"];
  std::string text = read_file(ztest::shared(g["file"].get<std::string>()));
  auto be = make_cpu_backend(2);
  InferenceContext ctx(stories(), *be, 512);
  Tokenizer tok(stories().tokenizer);
  PerplexityOptions opt;
  opt.lines = true;
  opt.ctx = 512;
  PerplexityResult r = eval_perplexity(ctx, nullptr, tok, text, opt);
  CHECK(r.tokens == g["tokens"].get<int64_t>());
  CHECK(std::fabs(r.ppl / g["ppl"].get<double>() - 1) < 1e-3);
  CHECK(std::fabs(r.nll - g["nll_per_token"].get<double>()) < 1e-5);
}

TEST_CASE("eval: stories260K perplexity, stream protocol, matches the golden tokens and perplexity; KL to itself is 0") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"))["perplexity_stream"];
  std::string text = read_file(ztest::shared(g["file"].get<std::string>()));
  auto be = make_cpu_backend(2);
  InferenceContext ctx(stories(), *be, 128), ref(stories(), *be, 128);
  Tokenizer tok(stories().tokenizer);
  PerplexityOptions opt;
  opt.ctx = g["ctx"];
  opt.stride = g["stride"];
  PerplexityResult r = eval_perplexity(ctx, &ref, tok, text, opt);
  CHECK(r.tokens == g["tokens"].get<int64_t>());
  CHECK(std::fabs(r.nll - g["nll_per_token"].get<double>()) < 1e-5);
  CHECK(std::fabs(r.ppl / g["ppl"].get<double>() - 1) < 1e-3);
  CHECK(std::fabs(r.kl) < 1e-9);
  CHECK(r.top1 == 1.0);
}

TEST_CASE("eval: stream windows score every position exactly once when they overlap") {
  Tokenizer tok(stories().tokenizer);
  std::string text = read_file(ztest::shared("data/tinystories/TinyStories-valid-subset.txt")).substr(0, 3000);
  int n = int(tok.encode(text, true).size());
  for (auto [ctx, stride] : {std::pair{16, 15}, {16, 5}, {16, 1}, {7, 3}}) {
    PerplexityOptions opt;
    opt.ctx = ctx, opt.stride = stride;
    int64_t scored = 0;
    for (auto& s : perplexity_spans(tok, text, opt)) {
      CHECK(int(s.ids.size()) <= ctx);
      scored += int64_t(s.ids.size()) - s.first;
    }
    CHECK(scored == n - 1);
  }
  // Disjoint windows (stride = ctx): the first token of each window has no context and is not scored.
  PerplexityOptions disjoint;
  disjoint.ctx = disjoint.stride = 16;
  auto spans = perplexity_spans(tok, text, disjoint);
  int64_t scored_disjoint = 0;
  for (auto& s : spans) scored_disjoint += int64_t(s.ids.size()) - s.first;
  CHECK(scored_disjoint == n - int64_t(spans.size()));
  PerplexityOptions opt;
  opt.ctx = 16, opt.stride = 8, opt.max_tokens = 100;
  int64_t scored = 0;
  for (auto& s : perplexity_spans(tok, text, opt)) scored += int64_t(s.ids.size()) - s.first;
  CHECK(scored == 99);
}

TEST_CASE("eval: the SIMD log-sum-exp and long dot product match long double (1e-6)") {
  std::mt19937 rng(7);
  for (int n : {1, 7, 17, 4095, 4097, 49152}) {
    for (float offset : {0.0f, 80.0f, -1000.0f}) {
      std::normal_distribution<float> d(offset, 4.0f);
      std::vector<float> row(static_cast<size_t>(n)), p(static_cast<size_t>(n));
      for (auto& x : row) x = d(rng);
      if (n > 4) row[3] = -INFINITY;  // a masked logit
      long double mx = *std::max_element(row.begin(), row.end()), s = 0, dot = 0;
      for (float x : row) s += std::exp((long double)x - mx);
      const long double lse = mx + std::log(s);
      CHECK(std::abs((long double)log_sum_exp(row.data(), n) - lse) <= 1e-6L);
      // The dense side of a KL row: probabilities (0 where masked) against finite logits.
      for (int i = 0; i < n; i++) p[size_t(i)] = float(std::exp((long double)row[size_t(i)] - lse));
      if (n > 4) row[3] = 0.0f;
      for (int i = 0; i < n; i++) dot += (long double)p[size_t(i)] * row[size_t(i)];
      CHECK(std::abs((long double)dot_long(p.data(), row.data(), n) - dot) <= 1e-6L * std::max(1.0L, std::abs(dot)));
    }
  }
}

TEST_CASE("eval: spearman with ties matches hand-computed values") {
  // ranks of x: 1, 2.5, 2.5, 4; of y: 4, 3, 2, 1 -> pearson of ranks = -0.9486833
  CHECK(std::fabs(spearman({1, 2, 2, 3}, {4, 3, 2, 1}) - (-0.9486832980505138)) < 1e-12);
  CHECK(std::fabs(spearman({1, 2, 3, 4, 5}, {2, 4, 6, 8, 100}) - 1.0) < 1e-12);
  CHECK(std::fabs(pearson({1, 2, 3}, {1, 2, 4}) - 0.9819805060619657) < 1e-12);
}

TEST_CASE("eval: bad input - empty text, a text shorter than one window, malformed pair files") {
  Tokenizer tok(stories().tokenizer);
  PerplexityOptions opt;
  CHECK_THROWS_AS(perplexity_spans(tok, "", opt), Error);
  opt.lines = true;
  CHECK_THROWS_AS(perplexity_spans(tok, "\n \r\n\n", opt), Error);
  std::string dir = ztest::temp_dir();
  write_file_atomic(dir + "/a.tsv", "sentence1\tsentence2\tscore\nA\tB\tnot-a-number\n");
  CHECK_THROWS_AS(load_sentence_pairs(dir + "/a.tsv"), Error);
  write_file_atomic(dir + "/b.tsv", "s1\ts2\tscore\nA\tB\t1\n");
  CHECK_THROWS_AS(load_sentence_pairs(dir + "/b.tsv"), Error);
  write_file_atomic(dir + "/c.tsv", "sentence1\tsentence2\tscore\nA\tB\n");
  CHECK_THROWS_AS(load_sentence_pairs(dir + "/c.tsv"), Error);
  write_file_atomic(dir + "/d.tsv", "");
  CHECK_THROWS_AS(load_sentence_pairs(dir + "/d.tsv"), Error);
}
