// zip verify: a finished family's members timed again against the dense model in the family's
// environment (a synthetic timing source stands in for the engine: ZIP_COMPRESS_SYNTHETIC).
#include <filesystem>

#include "engine/file_io.h"
#include "engine/zlm.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string q(const std::string& s) { return ztest::shell_quote(s); }

// One family, built once with an exact synthetic timing (skew 1).
std::string family() {
  static std::string out = [] {
    std::string o = ztest::temp_dir() + "/verify-family";
    const ztest::CmdResult r = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.0 " + q(ztest::zip_bin()) + " compress " + q(ztest::stories260K_zlm()) +
                                              " --calib " + q(ztest::shared("data/tinystories")) +
                                              " --calib-samples 24 --calib-len 64 --heldout 8 --search-windows 8 --block 8 --evaluations 4 -t 2"
                                              " --speedup 1.5,2 -o " + q(o));
    INFO(r.err);
    REQUIRE(r.status == 0);
    return o;
  }();
  return out;
}

}  // namespace

TEST_CASE("zip verify: members re-timed in band exit 0; slower than recorded exit 3 with the member named") {
  const std::string dir = family();
  ztest::CmdResult r = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.0 " + q(ztest::zip_bin()) + " verify " + q(dir) + " --json");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const nlohmann::json report = ztest::load_json(dir + "/report.json");
  REQUIRE(j.size() == report["members"].size());
  for (size_t i = 0; i < j.size(); i++) {
    CHECK(j[i]["in_band"] == true);
    CHECK(j[i]["file"] == report["members"][i]["file"]);
    // The same timing source as the run: the speedup it recorded, measured again.
    CHECK(j[i]["measured_speedup"].get<double>() == doctest::Approx(report["members"][i]["measured_speedup"].get<double>()).epsilon(1e-6));
  }
  // Members 25 % slower on this "machine": every one outside the band, exit 3, one line says so.
  r = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.25 " + q(ztest::zip_bin()) + " verify " + q(dir));
  CHECK(r.status == 3);
  CHECK_HAS(r.out, "OUTSIDE [0.97, 1.10]");
  CHECK_HAS(r.err, "2 of 2 member(s) measured outside");
}

TEST_CASE("zip verify: bad input gets one line and a non-zero exit") {
  const std::string dir = family();
  // Not a compress folder.
  ztest::CmdResult r = ztest::run_zip("verify " + q(ztest::temp_dir()));
  CHECK(r.status != 0);
  ztest::check_clean_failure(r);
  CHECK_HAS(r.err, "report.json");
  // Another dense model than the family's.
  const std::string other = ztest::temp_dir() + "/verify-other.zlm";
  Model m = load_zlm(ztest::stories260K_zlm());
  m.provenance["note"] = "another file";
  m.tensors["blk.0.ffn_down"] = Tensor::from_floats(std::vector<float>(size_t(m.get("blk.0.ffn_down").numel()), 0.5f),
                                                    m.get("blk.0.ffn_down").shape);
  save_zlm(m, other);
  r = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.0 " + q(ztest::zip_bin()) + " verify " + q(dir) + " --dense " + q(other));
  CHECK(r.status != 0);
  ztest::check_clean_failure(r);
  CHECK_HAS(r.err, "not the model this family was pruned from");
  // A member file gone.
  const std::string copy = ztest::temp_dir() + "/verify-copy";
  std::filesystem::create_directories(copy);
  std::filesystem::copy_file(dir + "/report.json", copy + "/report.json");
  r = ztest::run_cmd("ZIP_COMPRESS_SYNTHETIC=skew=1.0 " + q(ztest::zip_bin()) + " verify " + q(copy));
  CHECK(r.status != 0);
  ztest::check_clean_failure(r);
  CHECK_HAS(r.err, "missing");
}
