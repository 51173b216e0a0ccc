// ZipLM's OBS update after Minitron's slicing (`--method minitron --obs-update`, METHODS.md
// §5.1) on stories260K: the refit projections are the ridge optimum over the kept heads and
// neurons (GQA: heads of the kept KV groups), and every one-shot candidate of the search fits
// the dense model better with the refit than without.
#include <map>

#include "compress/calibration.h"
#include "compress/slice_refit.h"
#include "engine/zlm.h"
#include "prune/ziplm/refit.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string q(const std::string& s) { return ztest::shell_quote(s); }

// One-shot KL of every probed candidate (no distillation), by shape.
std::map<std::string, double> oneshot_kl(const std::string& out, const std::string& extra) {
  const ztest::CmdResult r = ztest::run_cmd(
      q(ztest::zip_bin()) + " compress " + q(ztest::stories260K_zlm()) + " --method minitron --calib " + q(ztest::shared("data/tinystories")) +
      " --calib-samples 24 --calib-len 64 --heldout 8 --search-windows 8 -t 2 --dim-step 16 --nas-probe 8 --nas-candidates 2"
      " --nas-steps 0 --params 0.6 --db " + q(out + "-db") + " -o " + q(out) + " " + extra);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const nlohmann::json report = ztest::load_json(out + "/report.json");
  CHECK(report["options"]["obs_update"] == (extra == "--obs-update"));
  std::map<std::string, double> kl;
  for (const auto& c : report["members"][0]["candidates"]) kl[c["shape"].dump()] = c["oneshot_kl"].get<double>();
  return kl;
}

}  // namespace

TEST_CASE("minitron refit: W_O and W_2 of a width slice are the ridge optimum over the kept heads and neurons") {
  const Model m = load_zlm(ztest::stories260K_zlm());
  const ModelConfig& c = m.config;
  CalibOptions co;
  co.samples = 16, co.len = 64, co.heldout = 4;
  const CalibSet calib = sample_calibration(m, calibration_files({ztest::shared("data/tinystories")}), co);
  const std::vector<LayerStats> h = collect_layer_stats(m, calib, 2);
  // Layer 0: KV groups given (all their query heads), layer 2: explicit query heads, layer 3: no
  // FFN kept; other layers whole.
  SliceSpec spec;
  const int nkv = c.layers[0].n_kv_heads(), hd = c.head_dim;
  spec[0].kv_heads = {nkv - 1};
  spec[0].ffn_neurons = {0, 3, 5, 40, 41};
  spec[2].kv_heads = {0};
  spec[2].q_heads = std::vector<int>{0};
  spec[2].ffn_neurons = {7};
  spec[3].kv_heads = {0};
  Model sliced = slice_model(m, spec);
  const Model plain = sliced;
  refit_output_projections(m, spec, h, 0.01, 2, sliced);
  auto heads_of_group = [&](int l, int g) {
    std::vector<int> out;
    const std::vector<int> kv_of_q = c.layers[size_t(l)].kv_of_q();
    for (int i = 0; i < c.layers[size_t(l)].n_heads(); i++)
      if (kv_of_q[size_t(i)] == g) out.push_back(i);
    return out;
  };
  auto want = [&](int l, const char* w, int group, const std::vector<double>& H, const std::vector<int>& kept) {
    const Tensor& t = m.get(layer_tensor(l, w));
    const std::vector<float> W = t.to_floats();
    return ridge_refit(W.data(), int(t.dim(0)), int(t.dim(1)), group, H.data(), kept, 0.01);
  };
  CHECK(sliced.get(layer_tensor(0, "attn_output")).to_floats() == want(0, "attn_output", hd, h[0].h_attn, heads_of_group(0, nkv - 1)));
  CHECK(sliced.get(layer_tensor(0, "ffn_down")).to_floats() == want(0, "ffn_down", 1, h[0].h_ffn, spec[0].ffn_neurons));
  CHECK(sliced.get(layer_tensor(2, "attn_output")).to_floats() == want(2, "attn_output", hd, h[2].h_attn, {0}));
  CHECK(sliced.get(layer_tensor(2, "ffn_down")).to_floats() != plain.get(layer_tensor(2, "ffn_down")).to_floats());
  CHECK(sliced.find(layer_tensor(3, "ffn_down")) == nullptr);  // removed modules stay removed
  CHECK(sliced.get(layer_tensor(1, "ffn_down")).to_floats() == m.get(layer_tensor(1, "ffn_down")).to_floats());
  CHECK(sliced.get(layer_tensor(3, "attn_output")).to_floats() == want(3, "attn_output", hd, h[3].h_attn, heads_of_group(3, 0)));
  // Statistics of another shape are refused.
  std::vector<LayerStats> wrong = h;
  wrong[0].attn_cols += 1;
  Model again = slice_model(m, spec);
  CHECK_THROWS_AS(refit_output_projections(m, spec, wrong, 0.01, 1, again), Error);
}

TEST_CASE("compress --method minitron --obs-update: every one-shot candidate is closer to the dense model") {
  const std::string out = ztest::temp_dir() + "/minitron-refit";
  const auto plain = oneshot_kl(out + "-plain", "");
  const auto refit = oneshot_kl(out + "-obs", "--obs-update");
  REQUIRE(plain.size() >= 4);
  REQUIRE(plain.size() == refit.size());
  // A candidate that keeps every head and neuron (only hidden size or depth cut) has nothing to
  // refit: the same model up to rounding. Every other one is strictly closer with the refit.
  const ModelConfig& c = load_zlm(ztest::stories260K_zlm()).config;
  int pruned = 0;
  for (const auto& entry : plain) {
    const std::string& shape = entry.first;  // plain names: INFO captures them (clang rejects bindings)
    const double kl = entry.second;
    INFO(shape << ": " << kl << " -> " << (refit.count(shape) ? refit.at(shape) : -1.0));
    REQUIRE(refit.count(shape) == 1);
    const nlohmann::json j = nlohmann::json::parse(shape);
    const bool whole = j["kv_heads"] == c.layers[0].n_kv_heads() && j["kv_heads"].get<int>() * j["q_per_kv"].get<int>() == c.layers[0].n_heads() &&
                       j["ffn"] == c.layers[0].ffn_dim;
    if (whole) {
      CHECK(refit.at(shape) == doctest::Approx(kl).epsilon(1e-4));
    } else {
      CHECK(refit.at(shape) < kl);
      pruned++;
    }
  }
  CHECK(pruned >= 3);
  // --obs-update is Minitron's flag.
  const ztest::CmdResult r = ztest::run_zip("compress " + q(ztest::stories260K_zlm()) + " --calib " + q(ztest::shared("data/tinystories")) +
                                            " --speedup 1.5 --obs-update -o " + q(out + "-bad"));
  CHECK(r.status == 2);
  CHECK_HAS(r.err, "--obs-update");
  ztest::check_clean_failure(r);
}
