// Regression pin of the compression pipeline: stories260K, the synthetic latency table, every
// method at 1.5x and 2x. The members' tensor data, their headers (provenance aside: it records
// paths and wall times) and the report's numbers must stay exactly what tests/data/compress_pin.json
// recorded, so that reshaping the code cannot change a result unnoticed.
//
// Floating-point results depend on the instruction set the build targets (FMA contraction,
// vector widths): on the ISA the pin was recorded with, everything must match bit for bit; on
// another, the levels must match exactly and the numbers to 1e-6 (the test says which it checked).
// Re-record after an intended change: ZIP_PIN_WRITE=1 build/zip_tests -tc='compress pin*'.
#include <cstdlib>
#include <filesystem>

#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "compress/pipeline.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

// The instruction-set features the compiler was allowed to use for this build.
std::string build_isa() {
  std::string s;
#ifdef __AVX512F__
  s += "avx512f,";
#endif
#ifdef __AVX512BF16__
  s += "avx512bf16,";
#endif
#ifdef __AVX2__
  s += "avx2,";
#endif
#ifdef __FMA__
  s += "fma,";
#endif
#ifdef __aarch64__
  s += "aarch64,";
#endif
  return s.empty() ? "baseline" : s;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// What a member file must keep: its tensor bytes (the stored data CRC, checked against the data)
// and its header without the provenance.
nlohmann::json file_pin(const std::string& path) {
  ZlmInfo info = inspect_zlm(path, /*verify_data=*/true);
  REQUIRE(info.data_crc_ok);
  nlohmann::json h = info.header;
  h.erase("provenance");
  return {{"data_crc", info.data_crc}, {"header_fnv", fmt::format("{:016x}", fnv1a(h.dump()))}};
}

nlohmann::json member_pin(const nlohmann::json& m, const std::string& dir) {
  nlohmann::json p = {{"method", m["method"]}, {"target", m["target"]}, {"feasible", m["feasible"]}};
  if (!m["feasible"].get<bool>()) return p;
  for (const char* k : {"rounds", "params", "guarantee_met", "db_method"}) p[k] = m[k];
  p["recipe"] = {{"attn_levels", m["recipe"]["attn_levels"]}, {"ffn_levels", m["recipe"]["ffn_levels"]}};
  nlohmann::json num;
  for (const char* k : {"predicted_speedup", "measured_speedup", "calib_loss", "unseen_loss", "kl", "max_speedup",
                        "search_loss", "search_loss_dp", "table_scale"})
    if (m.contains(k)) num[k] = m[k];
  p["numbers"] = num;
  p["file"] = file_pin(dir + "/" + m["file"].get<std::string>());
  return p;
}

void check_numbers(const nlohmann::json& got, const nlohmann::json& want, bool exact) {
  REQUIRE(got.size() == want.size());
  for (const auto& [k, v] : want.items()) {
    INFO(k);
    REQUIRE(got.contains(k));
    if (exact) CHECK(got[k].get<double>() == v.get<double>());
    else CHECK(got[k].get<double>() == doctest::Approx(v.get<double>()).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("compress pin: stories260K family with the synthetic table gives the recorded members and report") {
  const std::string tmp = ztest::temp_dir();
  const std::string model = tmp + "/stories260K-pin.zlm";
  save_zlm(import_model(ztest::shared("models/stories260K/stories260K.bin"), {}), model);

  CompressOptions o;
  o.methods = {PruneMethod::ZipLM, PruneMethod::Magnitude, PruneMethod::ZipLMNoUpdate, PruneMethod::Uniform};
  o.targets = {1.5, 2.0};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 24, o.calib.len = 64, o.calib.heldout = 12;
  o.search_windows = 8;
  o.ffn_step = 32, o.block = 8;
  o.evaluations = 10;
  o.threads = 2;
  o.out_dir = tmp + "/pin";
  SyntheticCosts k;
  k.t_fixed = 2e-4;
  k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6;
  k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k, 1.04);  // pruned modules 4 % slower than the table: a corrected round
  nlohmann::json report = compress_family(model, o);

  nlohmann::json got = {{"isa", build_isa()}, {"dense_calib_loss", report["dense"]["calib_loss"]},
                        {"members", nlohmann::json::array()}};
  for (const auto& m : report["members"]) got["members"].push_back(member_pin(m, o.out_dir));

  const std::string pin_path = "tests/data/compress_pin.json";
  if (const char* w = std::getenv("ZIP_PIN_WRITE"); w && std::string(w) == "1") {
    write_file_atomic(pin_path, got.dump(1) + "\n");
    MESSAGE("recorded " << pin_path);
  }
  const nlohmann::json want = ztest::load_json(pin_path);
  const bool exact = want["isa"] == got["isa"];
  if (!exact)
    MESSAGE("pin recorded for ISA '" << want["isa"].get<std::string>() << "', this build targets '" << build_isa()
                                     << "': levels compared exactly, numbers to 1e-6, file bytes not compared");
  check_numbers(nlohmann::json{{"d", got["dense_calib_loss"]}}, nlohmann::json{{"d", want["dense_calib_loss"]}}, exact);
  REQUIRE(got["members"].size() == want["members"].size());
  for (size_t i = 0; i < want["members"].size(); i++) {
    const nlohmann::json &g = got["members"][i], &w = want["members"][i];
    INFO("member " << w["method"] << " " << w["target"]);
    for (const char* key : {"method", "target", "feasible", "rounds", "params", "guarantee_met", "db_method", "recipe"})
      CHECK(g.value(key, nlohmann::json()) == w.value(key, nlohmann::json()));
    if (!w["feasible"].get<bool>()) continue;
    check_numbers(g["numbers"], w["numbers"], exact);
    if (exact) CHECK(g["file"] == w["file"]);
  }
}
