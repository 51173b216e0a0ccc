// Compression on a quantised runtime (--env ...,dtype=q8_0): the environment names the weight
// type every timed model runs in; members are pruned in float, then quantised, evaluated and
// written in that type; the report gives the quantised dense model beside them.
#include <filesystem>
#include <set>

#include "compress/latency.h"
#include "compress/latency_source.h"
#include "compress/pipeline.h"
#include "compress/report.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

std::string stories_model() {
  static std::string path = [] {
    std::string p = ztest::temp_dir() + "/stories260K-quantized-env.zlm";
    save_zlm(import_model(ztest::shared("models/stories260K/stories260K.bin"), {}), p);
    return p;
  }();
  return path;
}

std::set<std::string> matrix_types(const Model& m) {
  std::set<std::string> types;
  for (const auto& [name, t] : m.tensors)
    if (t.ndim() == 2 && name.rfind("tokenizer.", 0) != 0) types.insert(dtype_name(t.dtype));
  return types;
}

// A stories260K family at q8_0 with the synthetic latency source (no timing).
CompressOptions q8_options(const std::string& out) {
  CompressOptions o;
  o.targets = {1.5};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 24, o.calib.len = 64, o.calib.heldout = 8;
  o.search_windows = 8, o.block = 8, o.evaluations = 4, o.threads = 2;
  o.out_dir = out;
  o.env = parse_env("cpu:threads=2,dtype=q8_0");
  SyntheticCosts k;
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k);
  return o;
}

}  // namespace

TEST_CASE("compress env: dtype= names a quantised runtime; absent, the key of older tables is unchanged") {
  const Env e = parse_env("cpu:threads=1,dtype=q8_0");
  REQUIRE(e.weights);
  CHECK(*e.weights == quant::QuantMix::Q8_0);
  CHECK(env_to_string(e) == "cpu:threads=1,batch=1,ctx=256,phase=decode,dtype=q8_0");
  CHECK(parse_env(env_to_string(e)) == e);
  CHECK(env_from_json(env_to_json(e)) == e);
  CHECK(*parse_env("cpu:dtype=q4_k").weights == quant::QuantMix::Q4_K_M);
  const Env plain = parse_env("cpu");
  CHECK_FALSE(plain.weights);
  CHECK(env_to_string(plain) == "cpu:threads=2,batch=1,ctx=256,phase=decode");
  CHECK_FALSE(env_to_json(plain).contains("dtype"));
  CHECK_FALSE(plain == e);
  CHECK_THROWS_AS(parse_env("cpu:dtype=f32"), UsageError);  // f32 is what no dtype means
  CHECK_THROWS_AS(parse_env("cpu:dtype=q9_9"), UsageError);
  CHECK_THROWS_AS(parse_env("cpu:dtype=q8_0,dtype=q4_0"), UsageError);
  CHECK_THROWS_AS(env_from_json({{"device", "cpu"}, {"dtype", "int3"}}), Error);
  CHECK(quant::mix_block_elems(quant::QuantMix::Q8_0) == 32);
  CHECK(quant::mix_block_elems(quant::QuantMix::Q4_K_M) == 32);  // Q5_0 / Q8_0 where rows are not whole 256-blocks
  CHECK(quant::mix_block_elems(quant::QuantMix::BF16) == 1);
}

TEST_CASE("compress env dtype: the engine times quantised weights (table and pair timings run on a Q8_0 model)") {
  const Model m = load_zlm(stories_model());
  Env env = parse_env("cpu:threads=1,ctx=16,dtype=q8_0");
  TimingOptions t;
  t.warmup = 1, t.reps = 1;
  CHECK(measure_model(m, env, t).median > 0);
  const LatencyTable table = measure_latency_table(m, env, {{4, 4}}, {64}, t, nullptr);
  CHECK(table.env == env);
  CHECK(table.t_dense > 0);
  // A model that already has block weights runs as it is (not quantised again).
  SpeedupMeasurement s = measure_speedup(m, m, env, t);
  CHECK(s.speedup > 0);
}

TEST_CASE("compress env dtype: members are pruned in float, written in Q8_0, and the report shows the dense Q8_0 model") {
  const std::string tmp = ztest::temp_dir() + "/compress-q8";
  CompressOptions o = q8_options(tmp);
  o.eval_file = ztest::shared("data/tinystories/TinyStories-valid-subset.txt");
  o.eval_tokens = 2048, o.eval_ctx = 64;
  const nlohmann::json report = compress_family(stories_model(), o);

  const Model member = load_zlm(tmp + "/ziplm-1.50x.zlm");
  CHECK(matrix_types(member).count("q8_0") == 1);
  CHECK(matrix_types(member).count("f32") == 0);
  const nlohmann::json& dep = report["dense"]["deployed"];
  CHECK(dep["dtype"] == "q8_0");
  const double ppl = report["dense"]["ppl"].get<double>(), ppl_q8 = dep["ppl"].get<double>();
  CHECK(ppl_q8 != ppl);                               // evaluated on other weights
  CHECK(std::abs(ppl_q8 / ppl - 1) < 0.05);           // Q8_0 of a tiny model: close to f32
  CHECK(report["env"].get<std::string>().find("dtype=q8_0") != std::string::npos);
  const std::string md = read_file(tmp + "/report.md");
  CHECK(md.find("weights in q8_0") != std::string::npos);
  CHECK(render_summary_table(report).find("dense q8_0") != std::string::npos);
}

TEST_CASE("compress cli: --env dtype= refuses --dtype and an FFN step that is not whole blocks (bad input)") {
  const std::string base = ztest::shell_quote(ztest::zip_bin()) + " compress " + ztest::shell_quote(stories_model()) +
                           " --calib " + ztest::shell_quote(ztest::shared("data/tinystories")) + " --speedup 1.5 -o " +
                           ztest::shell_quote(ztest::temp_dir() + "/compress-q8-bad");
  ztest::CmdResult r = ztest::run_cmd(base + " --env cpu:dtype=q8_0 --dtype bf16");
  CHECK(r.status == 2);
  CHECK(r.err.find("exclude each other") != std::string::npos);
  r = ztest::run_cmd(base + " --env cpu:dtype=q4_k_m --ffn-step 48");
  CHECK(r.status == 2);
  CHECK(r.err.find("48 is not a multiple of 32") != std::string::npos);
  r = ztest::run_cmd(base + " --env cpu:dtype=q3_k");
  CHECK(r.status == 2);
  CHECK(r.err.find("dtype=q3_k") != std::string::npos);
}

TEST_CASE("compress env dtype: a member is distilled in float, then quantised; --gradual with dtype= is refused") {
  const std::string tmp = ztest::temp_dir() + "/compress-q8-kd";
  CompressOptions o = q8_options(tmp);
  o.distill_tokens = 512, o.distill_batch = 4, o.distill_seq = 32;
  const nlohmann::json report = compress_family(stories_model(), o);
  REQUIRE(report["members"].size() == 1);
  CHECK(report["members"][0].contains("distill"));
  CHECK(matrix_types(load_zlm(tmp + "/ziplm-1.50x.zlm")).count("q8_0") == 1);

  o.out_dir = tmp + "-gradual";
  o.gradual = true;
  CHECK_THROWS_AS(compress_family(stories_model(), o), UsageError);
}
