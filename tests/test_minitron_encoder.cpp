// `--method minitron` on an encoder: tiny-random-bert given a WordPiece vocabulary and mean
// pooling (a sentence-transformers model in miniature), calibrated on whole sentences, a
// synthetic latency table, a few distillation steps, STS-B pairs for --eval. The hidden size is
// kept (every candidate's), the search is scored by the pooled encoder loss, the members are
// distilled with the encoder form over the kept layers' pairs, and a run stopped mid-search
// resumes to the same member.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "compress/band.h"
#include "compress/minitron_distill.h"
#include "compress/pipeline.h"
#include "compress/run_state.h"
#include "engine/backend.h"
#include "engine/encoder.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

// 6 probes, the 2 best in band distilled 4 steps each, the winner 4 steps (512 tokens / 4 × 32).
CompressOptions options(const std::string& out) {
  CompressOptions o;
  o.methods = {PruneMethod::Minitron};
  o.targets = {1.5};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 32, o.calib.len = 32, o.calib.heldout = 8, o.calib.sentences = true;
  o.search_windows = 8;
  o.ffn_step = 16, o.threads = 2;
  o.nas_probe = 6, o.nas_candidates = 2, o.nas_steps = 4;
  o.distill_batch = 4, o.distill_tokens = 512;
  o.out_dir = out;
  SyntheticCosts k;
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k);
  o.eval_file = ztest::stsb_head_tsv();
  return o;
}

}  // namespace

TEST_CASE("minitron encoder_layer_map: student layer i to the dense layer it was kept from, the last to the last") {
  using P = std::vector<std::pair<int, int>>;
  CHECK(encoder_layer_map(3, {0, 1, 2}) == P{{1, 1}, {2, 2}, {3, 3}});  // all kept: ZipLM's k -> k
  CHECK(encoder_layer_map(3, {0, 2}) == P{{1, 1}, {2, 3}});
  CHECK(encoder_layer_map(6, {0, 2, 3}) == P{{1, 1}, {2, 3}, {3, 6}});  // layer 3 kept, read at the output
  CHECK(encoder_layer_map(3, {1}) == P{{1, 3}});
  CHECK_THROWS(encoder_layer_map(3, {2, 1}));
  CHECK_THROWS(encoder_layer_map(3, {0, 3}));
}

TEST_CASE("compress --method minitron on an encoder: in band, hidden size kept, pooled scores, STS, member embeds") {
  const std::string out = ztest::temp_dir() + "/minitron-bert";
  const nlohmann::json report = compress_family(ztest::pooled_bert_zlm(), options(out));
  CHECK(report["complete"] == true);
  CHECK(report["method"] == "minitron");
  CHECK(report["search_loss"] == "pooled");
  CHECK(report["options"]["dim_step"] == "fixed (encoder)");
  CHECK(report["dense"].contains("spearman"));
  REQUIRE(report["members"].size() == 1);
  const nlohmann::json& m = report["members"][0];
  CHECK(m["guarantee_met"] == true);
  CHECK(!outside_band(m["measured_speedup"].get<double>() / 1.5));
  REQUIRE(m["candidates"].size() >= 2);
  int distilled = 0;
  for (const auto& c : m["candidates"]) {
    CHECK(c["shape"]["dim"] == 64);  // the hidden size is not an axis for encoders
    CHECK(c["shape"]["q_per_kv"] == 1);
    const double loss = c["oneshot_kl"];  // the pooled encoder loss: 1 − cos in [0, 2]
    CHECK(loss >= 0);
    CHECK(loss <= 2);
    if (c["selected"] == true) {
      distilled++;
      CHECK(!outside_band(c["measured_speedup"].get<double>() / 1.5));
      CHECK(c["kd_kl"].get<double>() < c["oneshot_kl"].get<double>());  // distillation helps
    }
  }
  CHECK(distilled == 2);
  const auto& winner = m["candidates"][m["winner"].get<size_t>()];
  CHECK(m["shape"] == winner["shape"]);
  // The encoder form: a layer pair per student layer, the last read against the dense output.
  const nlohmann::json& kd = m["kd"];
  CHECK_HAS(kd["loss"].get<std::string>(), "last layer");
  CHECK(kd["final_steps"] == 4);
  const int layers = winner["shape"]["layers"];
  REQUIRE(kd["layer_map"].size() == size_t(layers));
  CHECK(kd["layer_map"].back() == nlohmann::json::array({layers, 3}));
  // STS Spearman and the pooled loss, no KL: an encoder has no next-token distribution.
  CHECK(m["eval_pairs"] == 60);
  CHECK(m.contains("spearman"));
  CHECK(!m.contains("kl"));
  CHECK_HAS(read_file(out + "/report.md"), "loss (pooled) one-shot");

  const Model member = load_zlm(out + "/" + m["file"].get<std::string>());
  CHECK(member.config.dim == 64);
  CHECK(member.config.n_layers() == layers);
  CHECK(member.config.pooling == "mean");
  auto be = make_cpu_backend(1);
  InferenceContext ctx(member, *be);
  const EncoderOutput e = run_encoder(ctx, Tokenizer(member.tokenizer).encode("a small dog runs."), {});
  REQUIRE(e.embedding.size() == 64);
  double norm = 0;
  for (float x : e.embedding) norm += double(x) * x;
  CHECK(std::isfinite(norm));
  CHECK(norm > 0);
}

TEST_CASE("compress --method minitron on an encoder: --dim-step is refused") {
  CompressOptions o = options(ztest::temp_dir() + "/minitron-bert-dim");
  o.dim_step = 16;
  CHECK_THROWS_AS(compress_family(ztest::pooled_bert_zlm(), o), UsageError);
}

TEST_CASE("compress --method minitron --obs-update on an encoder: refit candidates, member in band") {
  CompressOptions o = options(ztest::temp_dir() + "/minitron-bert-obs");
  o.obs_update = true;
  o.distill_tokens = 0, o.nas_steps = 0;  // the one-shot refit members alone
  const nlohmann::json report = compress_family(ztest::pooled_bert_zlm(), o);
  REQUIRE(report["members"].size() == 1);
  const nlohmann::json& m = report["members"][0];
  CHECK(m["guarantee_met"] == true);
  CHECK(m["shape"]["dim"] == 64);
  CHECK(m["kd"]["final_steps"] == 0);
  CHECK(m.contains("spearman"));
}

TEST_CASE("compress --method minitron on an encoder --resume: stopped after a short distillation, the same member") {
  const std::string tmp = ztest::temp_dir();
  CompressOptions o = options(tmp + "/mb-whole");
  compress_family(ztest::pooled_bert_zlm(), o);

  o.out_dir = tmp + "/mb-stopped";
  o.after_kd = [](int done) {
    if (done == 1) throw Error("stopped");
  };
  CHECK_THROWS_WITH(compress_family(ztest::pooled_bert_zlm(), o), "stopped");
  REQUIRE(load_run_state(o.out_dir));
  o.after_kd = nullptr;
  o.resume = true;
  std::vector<std::string> log;
  o.log = [&log](const std::string& s) { log.push_back(s); };
  compress_family(ztest::pooled_bert_zlm(), o);
  bool kept = false;
  int short_kds = 0;
  for (const std::string& s : log) {
    kept |= s.find("the candidate selection as recorded") != std::string::npos;
    short_kds += s.find("after 4 KD steps") != std::string::npos;
  }
  CHECK(kept);
  CHECK(short_kds == 1);  // the first candidate's distillation is not run again
  CHECK(read_file(o.out_dir + "/minitron-1.50x.zlm") == read_file(tmp + "/mb-whole/minitron-1.50x.zlm"));
  CHECK(load_run_state(o.out_dir)->complete);
}
