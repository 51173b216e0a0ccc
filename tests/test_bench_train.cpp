// zip bench --train: the model-FLOP count against a hand count, the command end to end on
// stories260K (sane JSON; no timing assertions: speed is checked by bench/, not by tests), the
// MFU field of the training log, the peak microbenchmark, and one-line errors on bad input.
#include <cmath>
#include <fstream>
#include <sstream>

#include "distill/throughput.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "kernels/cpu/peak_flops.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string q(const std::string& s) { return ztest::shell_quote(s); }

const std::string& dir() {
  static std::string d = ztest::temp_dir();
  return d;
}

// dim 8, head_dim 4, vocab 10; layer 0: 2 query heads on 1 KV head, FFN 6; layer 1: 2 KV heads
// of 1 query head each, FFN removed.
ModelConfig tiny(bool tied) {
  return config_from_json(nlohmann::json::parse(std::string(R"({"arch": "llama", "dim": 8, "vocab_size": 10,
      "max_seq_len": 16, "head_dim": 4, "norm_eps": 1e-5, "rope_theta": 10000, "tied_embeddings": )") +
                                                (tied ? "true" : "false") + R"(,
      "layers": [{"q_per_kv": [2], "ffn_dim": 6}, {"q_per_kv": [1, 1], "ffn_dim": 0}]})"));
}

using ztest::check_clean_failure;
using ztest::count_lines;

}  // namespace

TEST_CASE("bench train: model FLOPs per token of a tiny config match a hand count") {
  // Layer 0: q 8x8, k 4x8, v 4x8, o 8x8, gate/up 6x8, down 8x6 = 64+32+32+64+48+48+48 = 336.
  // Layer 1: q 8x8, k 8x8, v 8x8, o 8x8 = 256. LM head 10x8 = 80 (tied: the embedding, once).
  // N = 672. Attention at T = 5, causal: mean 3 visible keys; per layer 4 * 2 heads * 4 * 3 = 96.
  for (bool tied : {true, false}) {
    INFO("tied " << tied);
    distill::ModelFlops f = distill::model_flops(tiny(tied), 5);
    CHECK(f.matmul_params == 672);
    CHECK(f.attention == 192);
    CHECK(f.forward() == 2 * 672 + 192);
    ModelConfig c = tiny(tied);
    CHECK(distill::train_flops_per_token(c, nullptr, 5) == 3 * 1536);
    CHECK(distill::train_flops_per_token(c, &c, 5) == 4 * 1536);
  }
  // A real tied model: N is every weight but the 1-D norms (the embedding counts once, as the head).
  const ModelConfig& s = ztest::stories260K().config;
  int64_t norms = 0;
  for (const TensorSpec& t : expected_tensors(s))
    if (t.shape.size() == 1) norms += t.shape[0];
  CHECK(distill::model_flops(s, 32).matmul_params == double(s.n_params() - norms));
}

TEST_CASE("bench train: zip bench --train on stories260K exits 0 with sane JSON") {
  const std::string& m = ztest::stories260K_zlm();
  SUBCASE("distillation") {
    auto r = ztest::run_zip("bench --train --teacher " + q(m) + " --student " + q(m) +
                            " --batch 2 --seq 16 --warmup 1 --steps 2 -t 2 --json");
    REQUIRE_MESSAGE(r.status == 0, r.err);
    CHECK(count_lines(r.out) == 1);
    auto j = nlohmann::json::parse(r.out);
    double med = j["tokens_per_s"]["median"];
    CHECK(med > 0);
    CHECK(double(j["tokens_per_s"]["min"]) <= med);
    CHECK(med <= double(j["tokens_per_s"]["max"]));
    ModelConfig c = load_zlm(m).config;
    CHECK(double(j["flops_per_token"]) == doctest::Approx(distill::train_flops_per_token(c, &c, 16)));
    for (const char* p : {"teacher_fwd", "student_fwd", "loss", "backward", "optimizer", "other"}) {
      INFO(p);
      REQUIRE(j["phase_s"].contains(p));
      CHECK(double(j["phase_s"][p]) >= 0);
    }
    CHECK(double(j["peak"]["f32"]) > 0);
    CHECK(double(j["mfu"]) > 0);
    CHECK(double(j["mfu"]) == doctest::Approx(double(j["achieved_flops"]) / double(j["peak"]["f32"])));
    CHECK(int64_t(j["peak_rss_bytes"]) > 0);
    CHECK(double(j["first_loss"]) == doctest::Approx(0).epsilon(1e-6));  // student = teacher: KL 0
  }
  SUBCASE("training, text output") {
    std::string cfg = dir() + "/cfg.json";
    std::ofstream(cfg) << R"({"arch": "llama", "dim": 32, "max_seq_len": 64, "head_dim": 8, "n_layers": 2,
        "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 64, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000})";
    auto r = ztest::run_zip("bench --train --config " + q(cfg) + " --tokenizer " + q(m) +
                            " --batch 2 --seq 16 --warmup 0 --steps 2 -t 1");
    REQUIRE_MESSAGE(r.status == 0, r.err);
    for (const char* s : {"tokens/s", "forward", "backward", "optimizer", "MFU", "peak memory"}) {
      INFO(s);
      CHECK(r.out.find(s) != std::string::npos);
    }
  }
}

TEST_CASE("bench train: the training log carries tokens_per_s and mfu") {
  const std::string& m = ztest::stories260K_zlm();
  std::string data = dir() + "/tiny.bin";
  auto r = ztest::run_zip("tokenize " + q(m) + " " + q(ztest::shared("data/tinystories/TinyStories-valid-subset.txt")) +
                          " --lines -o " + q(data));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::string out = dir() + "/d.zlm";
  r = ztest::run_zip("distill --teacher " + q(m) + " --student " + q(m) + " --data " + q(data) +
                     " --steps 2 --batch 2 --seq 16 -t 1 -o " + q(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::istringstream log(read_file(out + ".log.jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(log, line)) {
    auto j = nlohmann::json::parse(line);
    CHECK(double(j["tokens_per_s"]) > 0);
    REQUIRE(j.contains("mfu"));
    CHECK(double(j["mfu"]) > 0);
    n++;
  }
  CHECK(n == 2);
}

TEST_CASE("bench train: bad input gives a one-line error and exit code 1 or 2") {
  const std::string& m = ztest::stories260K_zlm();
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(m)));
  check_clean_failure(ztest::run_zip("bench --train"));
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(m) + " --student " + q(m) + " --config x.json"));
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(dir() + "/missing.zlm") + " --student " + q(m)));
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(m) + " --student " + q(m) + " --seq 100000"));
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(m) + " --student " + q(m) + " --batch 0"));
  std::string bad = dir() + "/bad.json";
  std::ofstream(bad) << "{ not json";
  check_clean_failure(ztest::run_zip("bench --train --config " + q(bad) + " --tokenizer " + q(m)));
  std::string novocab = dir() + "/novocab.json";
  std::ofstream(novocab) << R"({"arch": "llama", "dim": 32, "max_seq_len": 64, "head_dim": 8, "n_layers": 2,
      "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 64, "norm_eps": 1e-5, "rope_theta": 10000})";
  auto r = ztest::run_zip("bench --train --config " + q(novocab));
  check_clean_failure(r);
  CHECK(r.err.find("vocab_size") != std::string::npos);
  check_clean_failure(ztest::run_zip("bench --train --teacher " + q(m) + " --student " + q(m) + " extra.zlm"));
}

TEST_CASE("bench train: the peak microbenchmark reports positive figures") {
  cpu::PeakOptions o;
  o.threads = 2, o.reps = 2, o.run_ms = 2;
  cpu::PeakFlops p = cpu::measure_peak_flops(o);
  MESSAGE(p.isa << ": f32 " << p.f32_1t / 1e9 << " GFLOP/s on 1 thread, " << p.f32_nt / 1e9 << " on 2; bf16 "
                << p.bf16_1t / 1e9 << ", " << p.bf16_nt / 1e9);
  CHECK(p.threads == 2);
  CHECK(p.f32_1t > 0);
  CHECK(p.f32_nt > 0);
#if defined(__AVX512BF16__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  CHECK(p.has_bf16());
#else
  CHECK(!p.has_bf16());
#endif
  o.single_thread = false, o.bf16 = false;
  p = cpu::measure_peak_flops(o);
  CHECK(p.f32_1t == 0);
  CHECK(p.bf16_nt == 0);
  CHECK(p.f32_nt > 0);
}
