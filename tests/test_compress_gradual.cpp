// Distilled and gradual families (compress/distilled_family.h) on stories260K with a synthetic
// latency table and a few distillation steps: gradual members are pruned from the distilled
// member before them and timed against the original dense model; distillation improves a
// member on held-out windows; a kill during the second member's distillation resumes to the
// bytes of an uninterrupted run; bad inputs are usage errors.
#include <array>
#include <csignal>
#include <filesystem>

#include "compress/distilled_family.h"
#include "compress/pipeline.h"
#include "compress/run_state.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

std::string stories_model() {
  static std::string path = [] {
    std::string p = ztest::temp_dir() + "/stories260K-gradual.zlm";
    save_zlm(import_model(ztest::shared("models/stories260K/stories260K.bin"), {}), p);
    return p;
  }();
  return path;
}

CompressOptions options(const std::string& out) {
  CompressOptions o;
  o.targets = {1.5, 2.0};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 24, o.calib.len = 64, o.calib.heldout = 16;
  o.search_windows = 8;
  o.block = 8, o.evaluations = 4, o.threads = 2;
  o.out_dir = out;
  SyntheticCosts k;
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k);
  o.distill_tokens = 1024, o.distill_batch = 4, o.distill_seq = 32, o.distill_ckpt_every = 3;
  return o;
}

// The compress flags of the CLI tests (the same run as options()).
ztest::CmdResult cli_compress(const std::string& env, const std::string& out, const std::string& extra = "") {
  return ztest::run_cmd(env + " ZIP_COMPRESS_SYNTHETIC=skew=1.04 " + ztest::shell_quote(ztest::zip_bin()) + " compress " +
                        ztest::shell_quote(stories_model()) + " --calib " + ztest::shell_quote(ztest::shared("data/tinystories")) +
                        " --calib-samples 24 --calib-len 64 --heldout 8 --search-windows 8 --block 8 --evaluations 4 -t 2"
                        " --speedup 1.5,2 --distill-batch 4 --distill-seq 32 --distill-ckpt-every 3 -o " +
                        ztest::shell_quote(out) + " " + extra);
}

std::vector<std::array<int, 3>> shapes(const Model& m) {
  std::vector<std::array<int, 3>> s;
  for (const LayerShape& l : m.config.layers) s.push_back({l.n_heads(), l.n_kv_heads(), l.ffn_dim});
  return s;
}

}  // namespace

TEST_CASE("compress gradual: steps in increasing order, intermediate targets geometric between the asked ones") {
  CompressOptions o;
  o.targets = {2.0, 1.5};
  o.gradual = true;
  std::vector<FamilyStep> s = family_steps(o);
  REQUIRE(s.size() == 2);
  CHECK(s[0].target == 1.5);
  CHECK(s[1].target == 2.0);
  o.gradual_steps = 1;
  s = family_steps(o);
  REQUIRE(s.size() == 3);
  CHECK(s[1].target == doctest::Approx(1.73));  // 1.5 · (2 / 1.5)^(1/2) = 1.732, to two decimals
  CHECK(s[1].intermediate);
  CHECK(!s[2].intermediate);
  o.gradual = false, o.gradual_steps = 0;
  o.methods = {PruneMethod::ZipLM, PruneMethod::Uniform};
  CHECK(family_steps(o).size() == 4);  // one-shot: every method × target, as given
}

TEST_CASE("compress gradual: each member is pruned from the distilled member before it, timed against the dense model") {
  const std::string out = ztest::temp_dir() + "/gradual";
  CompressOptions o = options(out);
  o.gradual = true;
  o.keep_db = true;
  const nlohmann::json report = compress_family(stories_model(), o);
  REQUIRE(report["members"].size() == 2);
  const nlohmann::json &first = report["members"][0], &second = report["members"][1];
  REQUIRE(first["file"] == "ziplm-1.50x.zlm");
  REQUIRE(second["file"] == "ziplm-2.00x.zlm");
  CHECK(first["parent"] == "dense");
  CHECK(second["parent"] == "ziplm-1.50x.zlm");

  // The second member's provenance names the distilled first member (its hash) and its shapes,
  // and its shapes are within the first's.
  const Model dense = load_zlm(stories_model()), m1 = load_zlm(out + "/ziplm-1.50x.zlm"), m2 = load_zlm(out + "/ziplm-2.00x.zlm");
  const nlohmann::json& parent = m2.provenance["parent"];
  CHECK(parent["hash"] == zlm_content_hash(out + "/ziplm-1.50x.zlm"));
  CHECK(parent["file"] == "ziplm-1.50x.zlm");
  REQUIRE(parent["layers"].size() == m1.config.layers.size());
  for (size_t l = 0; l < m1.config.layers.size(); l++) {
    INFO("layer " << l);
    CHECK(parent["layers"][l][0] == shapes(m1)[l][0]);
    CHECK(parent["layers"][l][2] == shapes(m1)[l][2]);
    CHECK(shapes(m2)[l][0] <= shapes(m1)[l][0]);
    CHECK(shapes(m2)[l][1] <= shapes(m1)[l][1]);
    CHECK(shapes(m2)[l][2] <= shapes(m1)[l][2]);
  }
  CHECK(m2.provenance["dense"]["hash"] == zlm_content_hash(stories_model()));
  // Its database was built on the first member (keyed by its hash), beside the dense model's.
  CHECK(fs::is_directory(out + "/.db/" + parent["hash"].get<std::string>()));

  // Speedups against the dense model and its table: the synthetic source measures the table's
  // prediction, so the measured speedup is T_dense(dense) / prediction(member), never against the parent.
  const LatencyTable t = LatencyTable::from_json(report["latency_table"]);
  CHECK(t.t_dense == doctest::Approx(t.predict(dense.config)));
  for (const auto& [m, j] : {std::pair{&m1, &first}, std::pair{&m2, &second}}) {
    const double sp = t.t_dense / t.predict(m->config);
    CHECK((*j)["measured_speedup"].get<double>() == doctest::Approx(sp));
    CHECK((*j)["distill"]["after"]["measured_speedup"].get<double>() == doctest::Approx(sp));
    CHECK(sp / (*j)["target"].get<double>() >= 0.97);
    CHECK(sp / (*j)["target"].get<double>() <= 1.10);
    // Distilled: closer to the dense model on the search windows than as stitched.
    CHECK((*j)["distill"]["after"]["kl"].get<double>() < (*j)["distill"]["before"]["kl"].get<double>());
    CHECK((*j)["kl"] == (*j)["distill"]["after"]["kl"]);
  }
  CHECK(report["gradual"]["steps"] == nlohmann::json::array({1.5, 2.0}));
  CHECK_HAS(read_file(out + "/report.md"), "## Distillation");
  CHECK(!fs::exists(out + "/.kd"));  // checkpoints go once their member is finished
}

TEST_CASE("compress --distill-tokens: a one-shot member is closer to the dense model after distillation, unseen windows too") {
  const std::string out = ztest::temp_dir() + "/oneshot-kd";
  CompressOptions o = options(out);
  o.targets = {2.0};
  o.distill_tokens = 2048;
  const nlohmann::json report = compress_family(stories_model(), o);
  REQUIRE(report["members"].size() == 1);
  const nlohmann::json& m = report["members"][0];
  const nlohmann::json &before = m["distill"]["before"], &after = m["distill"]["after"];
  CHECK(m["parent"] == "dense");
  CHECK(m["distill"]["tokens"] == 2048);
  CHECK(m["distill"]["steps"] == 16);  // 2048 / (4 × 32)
  // The search windows (held out of the distillation data) and the unseen windows (held out of
  // the search as well): both improve.
  CHECK(after["kl"].get<double>() < before["kl"].get<double>());
  CHECK(after["calib_loss"].get<double>() < before["calib_loss"].get<double>());
  CHECK(after["unseen_loss"].get<double>() < before["unseen_loss"].get<double>());
  // The written file is the distilled one: the member as stitched has the "before" loss.
  CHECK(m["calib_loss"] == after["calib_loss"]);
  CHECK(load_zlm(out + "/ziplm-2.00x.zlm").provenance["recipe"]["distill"]["tokens"] == 2048);
}

TEST_CASE("compress --distill-precision bf16: the member improves as in f32, and the report and file say which") {
  const std::string out = ztest::temp_dir() + "/oneshot-kd-bf16";
  CompressOptions o = options(out);
  o.targets = {2.0};
  o.distill_tokens = 2048;
  o.distill_precision = train::Precision::bf16;
  const nlohmann::json report = compress_family(stories_model(), o);
  REQUIRE(report["members"].size() == 1);
  const nlohmann::json& d = report["members"][0]["distill"];
  CHECK(d["after"]["kl"].get<double>() < 0.8 * d["before"]["kl"].get<double>());
  CHECK(d["after"]["unseen_loss"].get<double>() < d["before"]["unseen_loss"].get<double>());
  CHECK(report["options"]["distill"]["precision"] == "bf16");
  const Model m = load_zlm(out + "/ziplm-2.00x.zlm");
  CHECK(m.provenance["recipe"]["distill"]["precision"] == "bf16");
  for (const auto& [name, t] : m.tensors) CHECK(t.dtype == DType::F32);  // master weights written, not bf16 copies
}

TEST_CASE("compress cli: a kill during the second member's distillation resumes to the bytes of an uninterrupted run") {
  const std::string tmp = ztest::temp_dir();
  const std::string flags = "--gradual --distill-tokens 1024";
  ztest::CmdResult whole = cli_compress("", tmp + "/g-whole", flags);
  REQUIRE(whole.status == 0);

  const std::string out = tmp + "/g-killed";
  ztest::CmdResult killed = cli_compress("ZIP_COMPRESS_TEST_KILL_KD=1:4", out, flags);  // after step 4; checkpoint at 3
  CHECK(killed.status == 128 + SIGKILL);
  std::optional<RunState> st = load_run_state(out);
  REQUIRE(st);
  CHECK(st->members.size() == 1);
  CHECK(st->stages["before_kd"].contains("1"));
  CHECK(fs::exists(out + "/.kd/ziplm-2.00x.ckpt/ckpt-00000003.bin"));
  const double killed_total = st->stages["wall_s"]["total"].get<double>();
  CHECK(killed_total > 0);
  CHECK(st->stages["wall_s"]["processes"] == 1);

  // Other distillation options cannot continue it.
  ztest::CmdResult refused = cli_compress("", out, "--gradual --distill-tokens 2048 --resume");
  CHECK(refused.status == 2);
  CHECK_HAS(refused.err, "distill.tokens");

  ztest::CmdResult resumed = cli_compress("", out, flags + " --resume");
  REQUIRE(resumed.status == 0);
  CHECK_HAS(resumed.err, "resume: kept ziplm 1.50x");
  CHECK_HAS(resumed.err, "continuing its distillation");
  CHECK_HAS(resumed.err, "resuming at step 3");
  for (const char* name : {"ziplm-1.50x.zlm", "ziplm-2.00x.zlm"}) {
    INFO(name);
    CHECK(read_file(out + "/" + name) == read_file(tmp + "/g-whole/" + name));
  }
  CHECK(load_run_state(out)->complete);
  CHECK(!fs::exists(out + "/.kd"));
  // The report's wall times cover both processes, not only the resume.
  const nlohmann::json report = nlohmann::json::parse(read_file(out + "/report.json"));
  CHECK(report["wall_s"]["processes"] == 2);
  CHECK(report["wall_s"]["total"].get<double>() > killed_total);
  CHECK(report["wall_s"]["latency"].get<double>() >= st->stages["wall_s"]["latency"].get<double>());
  CHECK_HAS(read_file(out + "/report.md"), "(over 2 processes: resumed;");
}

TEST_CASE("compress cli: bad distillation and gradual inputs are one-line usage errors") {
  const std::string tmp = ztest::temp_dir();
  for (const std::string& bad : {std::string("--distill-tokens -5"), std::string("--distill-tokens 64 --distill-data ") + tmp + "/none.bin",
                                 std::string("--gradual --baselines uniform"), std::string("--gradual-steps 2"),
                                 std::string("--distill-tokens 64 --distill-precision f16")}) {
    INFO(bad);
    ztest::CmdResult r = cli_compress("", tmp + "/bad", bad);
    CHECK(r.status == 2);
    ztest::check_clean_failure(r);
  }
  // A quantized parent: one line naming the way back.
  const std::string q = tmp + "/stories-q8.zlm";
  REQUIRE(ztest::run_zip("quantize " + ztest::shell_quote(stories_model()) + " -o " + ztest::shell_quote(q) + " --type q8_0").status == 0);
  ztest::CmdResult r = ztest::run_zip("compress " + ztest::shell_quote(q) + " --calib " + ztest::shell_quote(ztest::shared("data/tinystories")) +
                                      " --speedup 1.5 --gradual --distill-tokens 64 -o " + ztest::shell_quote(tmp + "/bad-q"));
  CHECK(r.status == 2);
  CHECK_HAS(r.err, "needs float weights");
  ztest::check_clean_failure(r);
  // --gradual with one target is a plain member (pruned from the dense model) with distillation.
  ztest::CmdResult one = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.0 " + ztest::shell_quote(ztest::zip_bin()) + " compress " +
                                        ztest::shell_quote(stories_model()) + " --calib " + ztest::shell_quote(ztest::shared("data/tinystories")) +
                                        " --calib-samples 24 --calib-len 64 --heldout 8 --search-windows 8 --block 8 --evaluations 4 -t 2"
                                        " --speedup 1.5 --gradual --distill-tokens 256 --distill-batch 2 --distill-seq 32 -o " +
                                        ztest::shell_quote(tmp + "/one"));
  CHECK(one.status == 0);
  CHECK(fs::exists(tmp + "/one/ziplm-1.50x.zlm"));
}
