// `zip compress --method minitron` end to end on stories260K with a synthetic latency source and
// a few distillation steps: members in band, the candidate table in report.json, the --params
// budget, bad flags, and --resume after a kill between members and mid-search.
#include <algorithm>
#include <csignal>
#include <filesystem>

#include "compress/band.h"
#include "compress/pipeline.h"
#include "compress/run.h"
#include "compress/run_state.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string stories_model() {
  static std::string path = [] {
    std::string p = ztest::temp_dir() + "/stories260K-minitron.zlm";
    save_zlm(import_model(ztest::shared("models/stories260K/stories260K.bin"), {}), p);
    return p;
  }();
  return path;
}

std::string q(const std::string& s) { return ztest::shell_quote(s); }

// A small search: 8 probes, 2 candidates distilled 4 steps each, the winner 4 steps more.
ztest::CmdResult minitron(const std::string& env, const std::string& out, const std::string& budget, const std::string& extra = "") {
  return ztest::run_cmd(env + " " + q(ztest::zip_bin()) + " compress " + q(stories_model()) + " --method minitron --calib " +
                        q(ztest::shared("data/tinystories")) +
                        " --calib-samples 24 --calib-len 64 --heldout 8 --search-windows 8 -t 2 --dim-step 16"
                        " --nas-probe 8 --nas-candidates 2 --nas-steps 4 --distill-batch 4 --distill-seq 32 --distill-tokens 512 " +
                        budget + " -o " + q(out) + " " + extra);
}

}  // namespace

TEST_CASE("compress --method minitron: speedup members in band, candidate table, loadable") {
  const std::string out = ztest::temp_dir() + "/minitron-speedup";
  const ztest::CmdResult r = minitron("ZIP_COMPRESS_SYNTHETIC=skew=1.05", out, "--speedup 1.5,2");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const nlohmann::json report = ztest::load_json(out + "/report.json");
  CHECK(report["complete"] == true);
  CHECK(report["method"] == "minitron");
  REQUIRE(report["members"].size() == 2);
  for (const auto& m : report["members"]) {
    const double target = m["target"];
    CHECK(m["method"] == "minitron");
    CHECK(m["guarantee_met"] == true);
    CHECK(!outside_band(m["measured_speedup"].get<double>() / target));
    // The candidate table: every row has its shape, parameters, predicted speed and one-shot KL;
    // the distilled rows their measured speed and KL after the short distillation.
    REQUIRE(m["candidates"].size() >= 2);
    int distilled = 0;
    for (const auto& c : m["candidates"]) {
      CHECK(c["shape"]["layers"].get<int>() >= 1);
      CHECK(c["params"].get<int64_t>() > 0);
      CHECK(c["predicted_speedup"].get<double>() > 1.0);
      CHECK(c.contains("oneshot_kl"));
      if (c["selected"] == true) {
        distilled++;
        CHECK(!outside_band(c["measured_speedup"].get<double>() / target));
        CHECK(c["kd_kl"].get<double>() < c["oneshot_kl"].get<double>());  // distillation helps
      }
    }
    CHECK(distilled == 2);
    const auto& winner = m["candidates"][m["winner"].get<size_t>()];
    CHECK(winner["selected"] == true);
    for (const auto& c : m["candidates"])
      if (c["selected"] == true) CHECK(winner["kd_kl"].get<double>() <= c["kd_kl"].get<double>());
    CHECK(m["shape"] == winner["shape"]);
    CHECK(m["params"] == winner["params"]);
    CHECK(m["kd"]["final_steps"] == 4);  // 512 tokens / (4 × 32)
    const std::string file = out + "/" + m["file"].get<std::string>();
    const Model member = load_zlm(file);
    CHECK(member.config.n_layers() == winner["shape"]["layers"].get<int>());
    CHECK(member.config.dim == winner["shape"]["dim"].get<int>());
    CHECK(member.provenance["recipe"]["method"] == "minitron");
    const ztest::CmdResult run = ztest::run_zip("run " + q(file) + " -p 'Once upon a time' -n 8");
    CHECK(run.status == 0);
  }
  CHECK_HAS(read_file(out + "/report.md"), "Minitron candidates, 1.50x");
  CHECK(!std::filesystem::exists(out + "/.minitron-kd"));  // final KD checkpoints removed once done
}

TEST_CASE("compress --method minitron --params 0.5: a member within ±5 % of half the parameters") {
  const std::string out = ztest::temp_dir() + "/minitron-params";
  const ztest::CmdResult r = minitron("", out, "--params 0.5");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const nlohmann::json report = ztest::load_json(out + "/report.json");
  REQUIRE(report["members"].size() == 1);
  const auto& m = report["members"][0];
  const Model dense = load_zlm(stories_model()), member = load_zlm(out + "/minitron-p0.50.zlm");
  const double ratio = double(weight_count(member)) / (0.5 * double(weight_count(dense)));
  CHECK(ratio >= 0.95);
  CHECK(ratio <= 1.05);
  CHECK(m["params"].get<int64_t>() == weight_count(member));
  CHECK(!m.contains("measured_speedup"));  // a budget by parameters times nothing
  // Its target reads as the budget it had, not as a 0.00x speedup.
  CHECK(r.out.find("0.50 params") != std::string::npos);
  CHECK(r.out.find("0.00x") == std::string::npos);
  CHECK(read_file(out + "/report.md").find("0.50 params") != std::string::npos);
  for (const auto& c : m["candidates"]) {
    const double cr = c["params"].get<double>() / (0.5 * double(weight_count(dense)));
    CHECK(cr >= 0.95);
    CHECK(cr <= 1.05);
  }
}

TEST_CASE("compress --method minitron: bad flags get one line and exit 2") {
  const std::string out = ztest::temp_dir() + "/minitron-bad";
  for (const char* budget : {"--params 1.5", "--params 0", "--params -0.2", "--params 1", "--params 0.5 --speedup 1.5"}) {
    const ztest::CmdResult r = minitron("", out, budget);
    INFO(budget);
    CHECK(r.status == 2);
    ztest::check_clean_failure(r);
  }
  ztest::CmdResult r = minitron("", out, "");  // no budget
  CHECK(r.status == 2);
  ztest::check_clean_failure(r);
  r = ztest::run_zip("compress " + q(stories_model()) + " --calib " + q(ztest::shared("data/tinystories")) + " --params 0.5 -o " + q(out));
  CHECK(r.status == 2);  // --params is minitron's
  CHECK_HAS(r.err, "--method minitron");
  r = minitron("", out, "--params 0.5 --baselines uniform");
  CHECK(r.status == 2);
  ztest::check_clean_failure(r);
  // A quantized model: one line naming how to get float weights.
  const std::string q8 = ztest::temp_dir() + "/stories-q8.zlm";
  REQUIRE(ztest::run_zip("quantize " + q(stories_model()) + " -o " + q(q8) + " --type q8_0").status == 0);
  r = ztest::run_cmd(q(ztest::zip_bin()) + " compress " + q(q8) + " --method minitron --calib " + q(ztest::shared("data/tinystories")) +
                     " --params 0.5 -o " + q(out));
  CHECK(r.status == 2);
  ztest::check_clean_failure(r);
  CHECK_HAS(r.err, "float weights");
}

TEST_CASE("compress --method minitron --resume: after a kill between members and mid-search, the same members") {
  const std::string tmp = ztest::temp_dir();
  const std::string env = "ZIP_COMPRESS_SYNTHETIC=skew=1.05";
  const ztest::CmdResult whole = minitron(env, tmp + "/mn-whole", "--speedup 1.5,2");
  REQUIRE(whole.status == 0);
  const nlohmann::json full = ztest::load_json(tmp + "/mn-whole/report.json");

  // Killed after the first member: the second is built on resume, the first kept.
  std::string out = tmp + "/mn-killed";
  ztest::CmdResult r = minitron(env + " ZIP_COMPRESS_TEST_KILL_AFTER=1", out, "--speedup 1.5,2");
  CHECK(r.status == 128 + SIGKILL);
  CHECK(minitron(env, out, "--speedup 1.5,2").status == 2);  // refuses to overwrite without --resume
  r = minitron(env, out, "--speedup 1.5,2", "--resume");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_HAS(r.err, "resume: kept minitron 1.50x");
  for (const char* f : {"/minitron-1.50x.zlm", "/minitron-2.00x.zlm"})
    CHECK(read_file(out + f) == read_file(tmp + "/mn-whole" + f));

  // Killed after the first short distillation of the first member: the selection and that
  // candidate's score are kept, the rest is run, and the members are the same files.
  out = tmp + "/mn-killed-kd";
  r = minitron(env + " ZIP_COMPRESS_TEST_KILL_AFTER_KD=1", out, "--speedup 1.5,2");
  CHECK(r.status == 128 + SIGKILL);
  const std::optional<RunState> st = load_run_state(out);
  REQUIRE(st);
  REQUIRE(st->stages.contains("minitron_candidates 1.50x"));
  r = minitron(env, out, "--speedup 1.5,2", "--resume");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_HAS(r.err, "the candidate selection as recorded");
  CHECK(r.err.find("short KD 1/2") == std::string::npos);  // not run again
  for (const char* f : {"/minitron-1.50x.zlm", "/minitron-2.00x.zlm"})
    CHECK(read_file(out + f) == read_file(tmp + "/mn-whole" + f));
  CHECK(ztest::load_json(out + "/report.json")["members"][0]["candidates"] == full["members"][0]["candidates"]);
}

TEST_CASE("compress --method minitron: a target no candidate reaches is missed: rounds aimed again, -failed file, exit 3") {
  const std::string out = ztest::temp_dir() + "/minitron-miss";
  // Nothing measures faster than 1.6x: every round's candidates miss 2x, each round aims further.
  const ztest::CmdResult r = minitron("ZIP_COMPRESS_SYNTHETIC=max=1.6", out, "--speedup 2");
  INFO(r.err);
  CHECK(r.status == kExitMissed);
  CHECK_HAS(r.err, "missed minitron 2.00x: measured 1.600x");
  CHECK_HAS(r.err, "aiming through the measured scale");
  CHECK(std::filesystem::exists(out + "/minitron-2.00x-failed.zlm"));
  CHECK(!std::filesystem::exists(out + "/minitron-2.00x.zlm"));
  const nlohmann::json report = ztest::load_json(out + "/report.json");
  const auto& m = report["members"][0];
  CHECK(m["guarantee_met"] == false);
  int last_round = 0, selected = 0;
  for (const auto& c : m["candidates"]) last_round = std::max(last_round, c["round"].get<int>()), selected += c["selected"] == true;
  CHECK(last_round == 3);  // four rounds (the default --max-rounds)
  CHECK(selected == 1);    // the one nearest the band is distilled
}
