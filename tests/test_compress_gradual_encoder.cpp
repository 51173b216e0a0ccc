// Distilled and gradual families of an encoder (compress/distilled_family.h): tiny-random-bert
// given a WordPiece vocabulary and mean pooling, so it is calibrated on whole sentences and judged
// on pooled embeddings; a synthetic latency table; STS-B pairs for --eval. Gradual members are
// pruned from the distilled member before them; distillation brings each closer to the dense
// model; an interrupted distillation resumes to the bytes of an uninterrupted run.
#include <filesystem>
#include <fstream>

#include "compress/pipeline.h"
#include "compress/run_state.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

CompressOptions options(const std::string& out) {
  CompressOptions o;
  o.targets = {1.5, 2.0};
  o.gradual = true;
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 32, o.calib.len = 32, o.calib.heldout = 8, o.calib.sentences = true;
  o.search_windows = 8;
  o.ffn_step = 16, o.block = 8, o.evaluations = 4, o.threads = 2;
  o.out_dir = out;
  SyntheticCosts k;
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k);
  o.eval_file = ztest::stsb_head_tsv();
  o.distill_tokens = 2048, o.distill_batch = 4, o.distill_ckpt_every = 3;  // 16 steps of 4 × 32 (--calib-len)
  return o;
}

}  // namespace

TEST_CASE("compress gradual encoder: members pruned from the distilled member before them, STS before and after") {
  const std::string out = ztest::temp_dir() + "/gradual-bert";
  const nlohmann::json report = compress_family(ztest::pooled_bert_zlm(), options(out));
  REQUIRE(report["members"].size() == 2);
  const nlohmann::json &first = report["members"][0], &second = report["members"][1];
  REQUIRE(first["file"] == "ziplm-1.50x.zlm");
  REQUIRE(second["file"] == "ziplm-2.00x.zlm");
  CHECK(first["parent"] == "dense");
  CHECK(second["parent"] == "ziplm-1.50x.zlm");
  CHECK(load_zlm(out + "/ziplm-2.00x.zlm").provenance["parent"]["hash"] == zlm_content_hash(out + "/ziplm-1.50x.zlm"));
  for (const nlohmann::json* m : {&first, &second}) {
    INFO((*m)["file"]);
    const nlohmann::json& d = (*m)["distill"];
    CHECK(d["steps"] == 16);
    CHECK(d["seq"] == 32);  // the calibration window length
    CHECK_HAS(d["loss"].get<std::string>(), "last layer");
    // The pooled search loss improves; STS is reported before and after; no KL for an encoder.
    CHECK(d["after"]["calib_loss"].get<double>() < d["before"]["calib_loss"].get<double>());
    CHECK(d["before"].contains("spearman"));
    CHECK(d["after"]["spearman"] == (*m)["spearman"]);
    CHECK((*m)["eval_pairs"] == 60);
    CHECK(!d["after"].contains("kl"));
    CHECK(!m->contains("kl"));
    const double ratio = d["after"]["measured_speedup"].get<double>() / (*m)["target"].get<double>();
    CHECK(ratio >= 0.97);
    CHECK(ratio <= 1.10);
  }
  const std::string md = read_file(out + "/report.md");
  CHECK_HAS(md, "between the last layers' token outputs");
  CHECK(md.find("KL to the dense model") == std::string::npos);
}

TEST_CASE("compress gradual encoder: an interrupted distillation resumes to the bytes of an uninterrupted run") {
  const std::string tmp = ztest::temp_dir();
  CompressOptions o = options(tmp + "/gb-whole");
  o.distill_tokens = 768;  // 6 steps
  compress_family(ztest::pooled_bert_zlm(), o);

  o.out_dir = tmp + "/gb-stopped";
  o.after_distill_step = [](int member, int step) {
    if (member == 1 && step == 4) throw Error("stopped");  // checkpoint at step 3
  };
  CHECK_THROWS_WITH(compress_family(ztest::pooled_bert_zlm(), o), "stopped");
  REQUIRE(load_run_state(o.out_dir));
  CHECK(load_run_state(o.out_dir)->members.size() == 1);
  CHECK(fs::exists(o.out_dir + "/.kd/ziplm-2.00x.ckpt/ckpt-00000003.bin"));
  o.after_distill_step = nullptr;
  o.resume = true;
  std::vector<std::string> log;
  o.log = [&log](const std::string& s) { log.push_back(s); };
  compress_family(ztest::pooled_bert_zlm(), o);
  bool resumed = false;
  for (const std::string& s : log) resumed |= s.find("resuming at step 3") != std::string::npos;
  CHECK(resumed);
  for (const char* name : {"ziplm-1.50x.zlm", "ziplm-2.00x.zlm"}) {
    INFO(name);
    CHECK(read_file(o.out_dir + "/" + name) == read_file(tmp + "/gb-whole/" + name));
  }
  CHECK(load_run_state(o.out_dir)->complete);
}
