// zip quantize, zip convert --dtype MIX, and what the other commands show or refuse for a
// quantized model (inspect, bench, slice, compress).
#include <fstream>

#include "tests/fixtures.h"
#include "tests/test_util.h"

namespace {

std::string quantized(const std::string& type) {
  const std::string out = ztest::temp_dir() + "/cli_" + type + ".zlm";
  const ztest::CmdResult r = ztest::run_zip("quantize " + ztest::stories260K_zlm() + " -o " + out + " --type " + type + " -t 2");
  INFO(r.err);
  REQUIRE(r.status == 0);
  return out;
}

}  // namespace

TEST_CASE("cli: zip quantize writes the mix; inspect shows the types and bits per weight; bench names them") {
  const std::string q = quantized("q4_0");
  ztest::CmdResult i = ztest::run_zip("inspect " + q + " --tensors");
  REQUIRE(i.status == 0);
  CHECK(i.out.find(".zlm v2") != std::string::npos);
  CHECK(i.out.find("q4_0 (") != std::string::npos);
  CHECK(i.out.find("bits per weight") != std::string::npos);
  CHECK(i.out.find("blk.0.attn_q                 q4_0") != std::string::npos);
  CHECK(i.out.find("blk.0.ffn_down               f16") != std::string::npos);  // 172 columns: f16 fallback
  ztest::CmdResult j = ztest::run_zip("inspect " + q + " --json");
  REQUIRE(j.status == 0);
  const auto js = nlohmann::json::parse(j.out);
  CHECK(js["bits_per_weight"].get<double>() > 4.0);
  CHECK(js["bits_per_weight"].get<double>() < 9.0);
  CHECK(js["provenance"]["quantize"]["type"] == "q4_0");
  ztest::CmdResult b = ztest::run_zip("bench " + q + " --device ref --prompt 4 --gen 2 --reps 1 --warmup 0");
  INFO(b.err);
  REQUIRE(b.status == 0);
  const std::string header = b.out.substr(0, b.out.find('\n'));
  CHECK(header.find("f16+q4_0+q8_0 weights |") != std::string::npos);  // by bytes, most first
  // Back to f32: a float model again (version 1 file).
  const std::string f = ztest::temp_dir() + "/cli_back.zlm";
  REQUIRE(ztest::run_zip("quantize " + q + " -o " + f + " --type f32").status == 0);
  CHECK(ztest::run_zip("inspect " + f).out.find(".zlm v1") != std::string::npos);
}

TEST_CASE("cli: zip convert --dtype takes the mix names; bad names are usage errors") {
  const std::string out = ztest::temp_dir() + "/cli_convert_q8.zlm";
  ztest::CmdResult c =
      ztest::run_zip("convert " + ztest::shared("models/stories260K/stories260K.bin") + " -o " + out + " --dtype q8_0");
  INFO(c.err);
  REQUIRE(c.status == 0);
  CHECK(ztest::run_zip("inspect " + out).out.find("q8_0 (") != std::string::npos);
  ztest::CmdResult bad = ztest::run_zip("quantize " + ztest::stories260K_zlm() + " -o /dev/null --type q5_k_m");
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--type must be f32, f16, bf16, q8_0, q4_0, q5_0, q4_k_m, q4_k_s or q6_k, got 'q5_k_m'") !=
        std::string::npos);
  CHECK(ztest::run_zip("convert " + ztest::stories260K_zlm() + " -o /dev/null --dtype i32").status == 2);
}

TEST_CASE("cli: slice and compress refuse a quantized model with one line naming the way back") {
  const std::string q = quantized("q8_0");
  const std::string spec = ztest::temp_dir() + "/empty_spec.json";
  std::ofstream(spec) << "{}\n";
  ztest::CmdResult s = ztest::run_zip("slice " + q + " --spec " + spec + " -o /dev/null");
  INFO(s.err);
  CHECK(s.status == 1);
  CHECK(s.err.find("zip slice needs float weights") != std::string::npos);
  ztest::CmdResult c = ztest::run_zip("compress " + q + " --calib " + ztest::shared("data/tinystories") + " --speedup 1.5 -o " + ztest::temp_dir() + "/cq");
  CHECK(c.status != 0);
  CHECK(c.err.find("zip compress needs float weights") != std::string::npos);
  CHECK(c.err.find("--type f32") != std::string::npos);
  ztest::check_clean_failure(c);
}
