// The latency table: environment parsing, JSON round trips, prediction, uniform level slices,
// and measurement on tiny models (structure only: no assertion depends on how fast anything runs).
#include <cmath>
#include <random>

#include "engine/cuda.h"
#include "engine/error.h"
#include "models/import.h"
#include "compress/latency.h"
#include "engine/backend_registry.h"
#include "compress/slice.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

const Model& stories() {
  static Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  return m;
}
const Model& bert() {
  static Model m = import_model(ztest::shared("models/tiny-random-bert"), {});
  return m;
}

std::string usage_error(const std::string& s) {
  try {
    parse_env(s);
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a UsageError: ") + e.what();
  }
  return "no error";
}

// Structural checks of a measured table against the model it was measured on.
void check_measured(const LatencyTable& t, const ModelConfig& c, const std::set<AttnLevel>& want_a,
                    const std::set<int>& want_f) {
  std::set<AttnLevel> a = want_a;
  std::set<int> f = want_f;
  a.insert({0, 0});
  f.insert(0);
  a.insert({c.layers[0].n_heads(), c.layers[0].n_kv_heads()});
  f.insert(c.layers[0].ffn_dim);
  CHECK(t.attn.size() == a.size());
  CHECK(t.ffn.size() == f.size());
  for (auto& lv : a) {
    REQUIRE(t.attn.count(lv));
    CHECK(std::isfinite(t.attn.at(lv)));
    CHECK(t.attn.at(lv) >= 0);
  }
  for (int w : f) {
    REQUIRE(t.ffn.count(w));
    CHECK(std::isfinite(t.ffn.at(w)));
    CHECK(t.ffn.at(w) >= 0);
  }
  CHECK(std::isfinite(t.t_dense));
  CHECK(t.t_dense > 0);
  // T_fixed by its definition, summed here layer by layer.
  double sum = 0;
  for (auto& s : c.layers) sum += t.attn.at({s.n_heads(), s.n_kv_heads()}) + t.ffn.at(s.ffn_dim);
  CHECK(t.t_fixed == doctest::Approx(t.t_dense - sum).epsilon(1e-12));
  CHECK(t.predict(c) == doctest::Approx(t.t_dense).epsilon(1e-12));
  CHECK_THROWS_AS(t.attn_time(c.layers[0].n_heads() + 1, 1), Error);
  CHECK_THROWS_AS(t.ffn_time(c.layers[0].ffn_dim + 1), Error);
  // The table survives JSON.
  LatencyTable back = LatencyTable::from_json(nlohmann::json::parse(t.to_json().dump()));
  CHECK(back.attn == t.attn);
  CHECK(back.ffn == t.ffn);
}

}  // namespace

TEST_CASE("latency: env parsing, defaults, canonical form") {
  Env d = parse_env("cpu");
  CHECK(d == Env{});
  CHECK(d.device == "cpu");
  CHECK(d.threads == 2);
  CHECK(d.batch == 1);
  CHECK(d.ctx == 256);
  CHECK(d.phase == Phase::Decode);
  CHECK(env_to_string(d) == "cpu:threads=2,batch=1,ctx=256,phase=decode");

  Env e = parse_env("cpu:phase=prefill,ctx=64,threads=4,batch=3");  // any order
  CHECK(e.threads == 4);
  CHECK(e.batch == 3);
  CHECK(e.ctx == 64);
  CHECK(e.phase == Phase::Prefill);
  CHECK(env_to_string(e) == "cpu:threads=4,batch=3,ctx=64,phase=prefill");
  CHECK(parse_env(env_to_string(e)) == e);

  Env p = parse_env("cpu:ctx=512");  // the rest default
  CHECK(p.ctx == 512);
  CHECK(p.threads == 2);
  CHECK(p.phase == Phase::Decode);
  CHECK(parse_env("cuda:batch=8").device == "cuda");  // syntax only; the backend is checked later

  // JSON round trip.
  CHECK(env_from_json(env_to_json(e)) == e);
  CHECK(env_from_json(nlohmann::json::parse(env_to_json(d).dump())) == d);
  CHECK(env_to_json(e)["phase"] == "prefill");
  CHECK_THROWS_AS(env_from_json(nlohmann::json{{"device", "cpu"}, {"speed", 3}}), Error);
  CHECK_THROWS_AS(env_from_json(nlohmann::json{{"threads", 0}}), Error);
  CHECK_THROWS_AS(env_from_json(nlohmann::json{{"phase", "train"}}), Error);
}

TEST_CASE("latency: env errors are one-line usage errors") {
  CHECK_HAS(usage_error("cpu:threads=2,gpu=1"), "unknown key 'gpu'");
  CHECK_HAS(usage_error("cpu:threads=0"), "threads=0");
  CHECK_HAS(usage_error("cpu:threads=two"), "threads=two");
  CHECK_HAS(usage_error("cpu:batch=1x"), "batch=1x");
  CHECK_HAS(usage_error("cpu:ctx="), "ctx=");
  CHECK_HAS(usage_error("cpu:ctx=-5"), "ctx=-5");
  CHECK_HAS(usage_error("cpu:phase=train"), "phase=train");
  CHECK_HAS(usage_error("cpu:batch=2,batch=3"), "batch given twice");
  CHECK_HAS(usage_error("tpu:threads=2"), "unknown device 'tpu'");
  CHECK_HAS(usage_error("threads=2"), "expected a device first");
  CHECK_HAS(usage_error(""), "expected a device first");
  CHECK_HAS(usage_error("cpu:threads"), "not key=value");
  CHECK_HAS(usage_error("cpu:"), "not key=value");
  CHECK_HAS(usage_error("cpu:threads=2,"), "trailing comma");
  for (const char* s : {"cpu:threads=0", "cpu:gpu=1", "tpu"}) {
    std::string m = usage_error(s);
    CHECK(m.find('\n') == std::string::npos);
    CHECK(m.rfind("--env", 0) == 0);
  }
  // Timing runs on engine's make_backend(env.device, env.threads): no GPU, no CUDA backend.
  if (!cuda_available()) {
    const Env cuda = parse_env("cuda");
    CHECK_THROWS_AS(make_backend(cuda.device, cuda.threads), Error);
  }
  const Env cpu = parse_env("cpu:threads=1");
  CHECK(make_backend(cpu.device, cpu.threads) != nullptr);
}

TEST_CASE("latency: synthetic table predicts the dense model exactly and pruned models by hand") {
  const ModelConfig& c = stories().config;  // 5 layers, 8 query heads in 4 KV groups, FFN 172
  SyntheticCosts k;
  k.t_fixed = 0.003, k.attn_base = 1e-4, k.per_q = 3e-5, k.per_kv = 2e-5, k.ffn_base = 5e-5, k.per_neuron = 1e-6;
  Env env = parse_env("cpu:threads=1,ctx=64");
  LatencyTable t = synthetic_latency_table(c, env, k, {{6, 3}, {2, 1}}, {100, 50});
  double dense_layer = (1e-4 + 8 * 3e-5 + 4 * 2e-5) + (5e-5 + 172 * 1e-6);
  CHECK(t.t_dense == doctest::Approx(0.003 + 5 * dense_layer).epsilon(1e-12));
  CHECK(t.t_fixed == doctest::Approx(0.003).epsilon(1e-9));
  CHECK(t.predict(c) == doctest::Approx(t.t_dense).epsilon(1e-12));
  CHECK(t.attn_time(0, 0) == 0);
  CHECK(t.ffn_time(0) == 0);
  CHECK(t.attn_time(6, 3) == doctest::Approx(1e-4 + 6 * 3e-5 + 3 * 2e-5));
  CHECK(t.ffn_time(50) == doctest::Approx(5e-5 + 50 * 1e-6));
  // A pruned assignment: layer by layer, computed independently.
  std::vector<AttnLevel> a = {{8, 4}, {6, 3}, {0, 0}, {2, 1}, {6, 3}};
  std::vector<int> f = {172, 100, 50, 0, 0};
  double want = 0.003;
  for (size_t l = 0; l < a.size(); l++) {
    if (a[l].first) want += 1e-4 + a[l].first * 3e-5 + a[l].second * 2e-5;
    if (f[l]) want += 5e-5 + f[l] * 1e-6;
  }
  CHECK(predict_time(t, a, f) == doctest::Approx(want).epsilon(1e-12));
  CHECK(t.predict(a, f) < t.t_dense);
  // Unknown levels and mismatched lists are errors naming the level.
  try {
    t.attn_time(5, 3);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_HAS(e.what(), "5 query heads and 3 KV heads");
  }
  try {
    t.ffn_time(99);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_HAS(e.what(), "width 99");
  }
  CHECK_THROWS_AS(t.predict({{8, 4}}, {172, 172}), Error);
  CHECK_THROWS_AS(t.predict({{8, 4}}, {171}), Error);

  // JSON round trip of the whole table.
  nlohmann::json j = nlohmann::json::parse(t.to_json().dump());
  CHECK(j["attention"].size() == t.attn.size());
  CHECK(j["env_string"] == env_to_string(env));
  LatencyTable b = LatencyTable::from_json(j);
  CHECK(b.env == t.env);
  CHECK(b.t_dense == t.t_dense);
  CHECK(b.t_fixed == t.t_fixed);
  CHECK(b.attn == t.attn);
  CHECK(b.ffn == t.ffn);
  CHECK(b.method.reps == t.method.reps);
  CHECK(b.info == t.info);
  nlohmann::json bad = j;
  bad["attention"].push_back({6, 3, 1.0});  // duplicate level
  CHECK_THROWS_AS(LatencyTable::from_json(bad), Error);
  bad = j;
  bad.erase("t_fixed");
  CHECK_THROWS_AS(LatencyTable::from_json(bad), Error);
  bad = j;
  bad["ffn"][0] = {1, 2, 3};
  CHECK_THROWS_AS(LatencyTable::from_json(bad), Error);
}

TEST_CASE("latency: feasible attention levels match a brute force over query-head subsets") {
  for (std::vector<int> groups : {std::vector<int>{2, 2, 2, 2}, std::vector<int>{3, 1, 2}, std::vector<int>{1, 1, 1}}) {
    LayerShape s{groups, 16};
    std::vector<int> kv_of_q = s.kv_of_q();
    int n = s.n_heads();
    std::set<AttnLevel> brute;
    for (int mask = 0; mask < (1 << n); mask++) {
      std::set<int> kv;
      int q = 0;
      for (int h = 0; h < n; h++)
        if (mask >> h & 1) q++, kv.insert(kv_of_q[size_t(h)]);
      brute.insert({q, int(kv.size())});
    }
    CHECK(feasible_attention_levels(s) == brute);
  }
}

TEST_CASE("latency: uniform level slices give every layer the level, heads spread over groups") {
  const Model& m = stories();
  for (auto [a, f] : {std::pair<AttnLevel, int>{{5, 3}, 100}, {{3, 3}, 1}, {{8, 4}, 0}, {{0, 0}, 172}, {{1, 1}, 7}}) {
    Model s = slice_model(m, uniform_level_spec(m.config, a, f));
    for (auto& ls : s.config.layers) {
      CHECK(ls.n_heads() == a.first);
      CHECK(ls.n_kv_heads() == a.second);
      CHECK(ls.ffn_dim == f);
      if (!ls.q_per_kv.empty()) {  // as even as possible
        auto [lo, hi] = std::minmax_element(ls.q_per_kv.begin(), ls.q_per_kv.end());
        CHECK(*hi - *lo <= 1);
      }
    }
  }
  // Uneven groups {3, 1, 2}: 2 KV heads take the two largest groups, which hold 5 query heads.
  ModelConfig c = m.config;
  for (auto& ls : c.layers) ls.q_per_kv = {3, 1, 2};
  SliceSpec sp = uniform_level_spec(c, {5, 2}, 10);
  CHECK(sp.at(0).kv_heads == std::vector<int>{0, 2});
  CHECK(*sp.at(0).q_heads == std::vector<int>{0, 1, 2, 4, 5});
  sp = uniform_level_spec(c, {4, 2}, 10);  // 2 + 2, not 3 + 1
  CHECK(*sp.at(0).q_heads == std::vector<int>{0, 1, 4, 5});
  CHECK_THROWS_AS(uniform_level_spec(c, {6, 2}, 10), Error);
  CHECK_THROWS_AS(uniform_level_spec(m.config, {9, 4}, 10), Error);
  CHECK_THROWS_AS(uniform_level_spec(m.config, {2, 3}, 10), Error);
  CHECK_THROWS_AS(uniform_level_spec(m.config, {0, 1}, 10), Error);
  CHECK_THROWS_AS(uniform_level_spec(m.config, {4, 2}, 173), Error);
}

TEST_CASE("latency: levels are paired proportionally into timed models") {
  using P = std::vector<std::pair<size_t, size_t>>;
  CHECK(pair_levels(1, 1) == P{{0, 0}});
  CHECK(pair_levels(3, 3) == P{{0, 0}, {1, 1}, {2, 2}});
  // 3 attention levels over 5 models: every FFN level once, each attention level beside FFNs of its size.
  CHECK(pair_levels(3, 5) == P{{0, 0}, {1, 1}, {1, 2}, {2, 3}, {2, 4}});
  CHECK(pair_levels(4, 1) == P{{0, 0}, {1, 0}, {2, 0}, {3, 0}});
  for (size_t na : {1, 2, 7, 15}) {
    for (size_t nf : {1, 3, 49}) {
      P p = pair_levels(na, nf);
      REQUIRE(p.size() == std::max(na, nf));
      CHECK(p.front() == std::pair<size_t, size_t>{0, 0});
      CHECK(p.back() == std::pair<size_t, size_t>{na - 1, nf - 1});
      std::set<size_t> sa, sf;
      for (size_t i = 0; i < p.size(); i++) {
        sa.insert(p[i].first), sf.insert(p[i].second);
        if (i) CHECK((p[i].first >= p[i - 1].first && p[i].second >= p[i - 1].second));
      }
      CHECK(sa.size() == na);  // every level is timed
      CHECK(sf.size() == nf);
    }
  }
  CHECK_THROWS_AS(pair_levels(0, 3), Error);
}

TEST_CASE("latency: measured table on stories260K, decode and prefill") {
  const Model& m = stories();
  TimingOptions opt{0, 1};
  std::set<AttnLevel> a = {{4, 2}, {3, 3}};
  std::set<int> f = {86, 17};
  for (const char* es : {"cpu:threads=1,batch=2,ctx=24,phase=decode", "cpu:threads=1,batch=1,ctx=16,phase=decode",
                         "cpu:threads=2,batch=2,ctx=16,phase=prefill"}) {
    CAPTURE(es);
    Env env = parse_env(es);
    std::vector<std::pair<int, int>> calls;
    LatencyTable t = measure_latency_table(m, env, a, f, opt, [&](int d, int n) { calls.push_back({d, n}); });
    check_measured(t, m.config, a, f);
    CHECK(t.env == env);
    CHECK(t.method.reps == 1);
    CHECK(t.info.contains("wall_s"));
    // Every sliced model was scaled by the dense model's speed in the moment it was timed.
    const auto& sc = t.info.at("bracket_scale");
    CHECK(sc.at("min").get<double>() > 0);
    CHECK(sc.at("min").get<double>() <= sc.at("median").get<double>());
    CHECK(sc.at("median").get<double>() <= sc.at("max").get<double>());
    // Dense + max(3 other attention levels, 3 other FFN levels) models.
    REQUIRE(calls.size() == 4);
    for (size_t i = 0; i < calls.size(); i++) CHECK(calls[i] == std::pair<int, int>{int(i) + 1, 4});
    Measurement mm = measure_model(slice_model(m, uniform_level_spec(m.config, {4, 2}, 86)), env, {0, 3});
    CHECK(std::isfinite(mm.median));
    CHECK(mm.min > 0);
    CHECK(mm.min <= mm.median);
    CHECK(mm.median <= mm.max);
    // Side by side: both models timed, the speedup is the ratio of the medians.
    SpeedupMeasurement sp = measure_speedup(m, slice_model(m, uniform_level_spec(m.config, {4, 2}, 86)), env, {1, 3});
    CHECK(sp.base.min > 0);
    CHECK(sp.model.min > 0);
    CHECK(sp.base.min <= sp.base.median);
    CHECK(sp.model.median <= sp.model.max);
    // The median of paired ratios lies within what the extremes allow.
    CHECK(sp.speedup >= sp.base.min / sp.model.max);
    CHECK(sp.speedup <= sp.base.max / sp.model.min);
    CHECK_THROWS_AS(measure_speedup(m, m, env, {0, 0}), Error);
  }
  // The environment must fit the model; levels must fit the layers; layers must be uniform.
  CHECK_THROWS_AS(measure_latency_table(m, parse_env("cpu:ctx=512"), {}, {}, opt), UsageError);  // 512 + 1 > 512
  CHECK_THROWS_AS(measure_model(m, parse_env("cpu:ctx=600,phase=prefill"), opt), UsageError);
  CHECK_THROWS_AS(measure_latency_table(m, parse_env("cpu:ctx=8"), {{9, 4}}, {}, opt), Error);
  CHECK_THROWS_AS(measure_latency_table(m, parse_env("cpu:ctx=8"), {}, {200}, opt), Error);
  CHECK_THROWS_AS(measure_latency_table(m, parse_env("cpu:ctx=8"), {}, {}, {0, 0}), Error);
  SliceSpec uneven;
  uneven[1] = uniform_level_spec(m.config, {4, 2}, 172).at(1);
  CHECK_THROWS_AS(measure_latency_table(slice_model(m, uneven), parse_env("cpu:ctx=8"), {}, {}, opt), Error);
}

TEST_CASE("latency: measured table on tiny-random-bert (encoder, prefill only)") {
  const Model& m = bert();  // 3 layers, 4 heads (MHA), FFN 128, 128 positions
  TimingOptions opt{1, 2};
  std::set<AttnLevel> a = {{2, 2}, {1, 1}};
  std::set<int> f = {64};
  Env env = parse_env("cpu:threads=1,batch=2,ctx=20,phase=prefill");
  LatencyTable t = measure_latency_table(m, env, a, f, opt);
  check_measured(t, m.config, a, f);
  CHECK_THROWS_AS(t.attn_time(2, 1), Error);  // MHA: no grouped levels measured
  Measurement mm = measure_model(m, env, opt);
  CHECK(mm.median > 0);
  // Encoders have no decode step, and 200 positions exceed the model's 128.
  CHECK_THROWS_AS(measure_latency_table(m, parse_env("cpu:ctx=16,phase=decode"), a, f, opt), UsageError);
  CHECK_THROWS_AS(measure_model(m, parse_env("cpu:ctx=200,phase=prefill"), opt), UsageError);
}

TEST_CASE("latency: isotonic fit pools adjacent violators") {
  using V = std::vector<double>;
  CHECK(isotonic_fit({}) == V{});
  CHECK(isotonic_fit({1, 2, 3}) == V{1, 2, 3});
  CHECK(isotonic_fit({3, 1}) == V{2, 2});
  CHECK(isotonic_fit({0, 4, 2, 3, 6, 5}) == V{0, 3, 3, 3, 5.5, 5.5});
  // Least squares: the fit keeps the sum, is non-decreasing, and no non-decreasing candidate
  // on a grid is closer.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; trial++) {
    V v;
    for (int i = 0; i < 4; i++) v.push_back(double(rng() % 7));
    V w = isotonic_fit(v);
    double sv = 0, sw = 0, err = 0;
    for (size_t i = 0; i < v.size(); i++) sv += v[i], sw += w[i], err += (w[i] - v[i]) * (w[i] - v[i]);
    CHECK(sw == doctest::Approx(sv));
    for (size_t i = 1; i < w.size(); i++) CHECK(w[i - 1] <= w[i] + 1e-12);
    bool closer = false;
    for (int a = 0; a < 13; a++)
      for (int b = a; b < 13; b++)
        for (int c = b; c < 13; c++)
          for (int d = c; d < 13; d++) {
            V g = {a / 2.0, b / 2.0, c / 2.0, d / 2.0};
            double e = 0;
            for (size_t i = 0; i < 4; i++) e += (g[i] - v[i]) * (g[i] - v[i]);
            closer |= e < err - 1e-9;
          }
    CHECK(!closer);
  }
}


TEST_CASE("latency: measured levels are replaced by their least-squares affine fit") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> noise(-0.2, 0.2);
  // GQA: t = 3 + 2q + 5kv (+ noise); FFN: t = 1 + 0.25w (+ noise); absent levels cost 0.5.
  LatencyTable t;
  t.attn[{0, 0}] = 0.5;
  for (int kv = 1; kv <= 3; kv++)
    for (int q = kv; q <= 3 * kv; q++) t.attn[{q, kv}] = 3 + 2 * q + 5 * kv + noise(rng);
  t.ffn[0] = 0.5;
  for (int w = 32; w <= 512; w += 32) t.ffn[w] = 1 + 0.25 * w + noise(rng);
  // The least-squares fit of the same points, by the closed form for one variable (FFN).
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [w, v] : t.ffn)
    if (w > 0) n++, sx += w, sy += v, sxx += double(w) * w, sxy += w * v;
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), icept = (sy - slope * sx) / n;
  nlohmann::json fit = fit_levels(t);
  CHECK(fit["ffn"]["fit"] == "affine");
  CHECK(fit["attention"]["fit"] == "affine");
  CHECK(fit["ffn"]["per_neuron"].get<double>() == doctest::Approx(slope).epsilon(1e-9));
  for (const auto& [w, v] : t.ffn) CHECK(v == doctest::Approx(w == 0 ? 0.5 : icept + slope * w).epsilon(1e-9));
  CHECK(fit["attention"]["per_q_head"].get<double>() == doctest::Approx(2).epsilon(0.05));
  CHECK(fit["attention"]["per_kv_head"].get<double>() == doctest::Approx(5).epsilon(0.05));
  CHECK(t.attn[{0, 0}] == 0.5);
  // Residuals of a least-squares fit are orthogonal to its columns: Σ r = Σ r·q = Σ r·kv = 0.
  LatencyTable raw;
  std::mt19937 rng2(5);
  raw.attn[{0, 0}] = 0.5;
  for (int kv = 1; kv <= 3; kv++)
    for (int q = kv; q <= 3 * kv; q++) raw.attn[{q, kv}] = 3 + 2 * q + 5 * kv + noise(rng2);
  double r1 = 0, rq = 0, rk = 0;
  for (const auto& [a, v] : raw.attn)
    if (a.first > 0) {
      const double r = v - t.attn[a];
      r1 += r, rq += r * a.first, rk += r * a.second;
    }
  CHECK(std::abs(r1) < 1e-9);
  CHECK(std::abs(rq) < 1e-9);
  CHECK(std::abs(rk) < 1e-9);

  // Multi-head attention (kv = q at every level): fitted in q alone.
  LatencyTable mha;
  mha.attn[{0, 0}] = 0;
  for (int q = 1; q <= 6; q++) mha.attn[{q, q}] = 1 + 3 * q + (q % 2 ? 0.1 : -0.1);
  mha.ffn[0] = 0, mha.ffn[64] = 2, mha.ffn[128] = 3, mha.ffn[192] = 4.5;
  fit = fit_levels(mha);
  CHECK(fit["attention"]["fit"] == "affine");
  CHECK(fit["attention"]["per_kv_head"].get<double>() == 0.0);
  for (int q = 2; q <= 6; q++) CHECK(mha.attn[{q, q}] - mha.attn[{q - 1, q - 1}] == doctest::Approx(fit["attention"]["per_q_head"].get<double>()));

  // A column the line cannot describe (time falling with width): made monotone instead.
  LatencyTable odd;
  odd.attn[{0, 0}] = 0, odd.attn[{1, 1}] = 2, odd.attn[{2, 1}] = 1;
  odd.ffn[0] = 0, odd.ffn[32] = 5, odd.ffn[64] = 4, odd.ffn[96] = 3;
  fit = fit_levels(odd);
  CHECK(fit["ffn"]["fit"] == "monotone");
  CHECK(fit["attention"]["fit"] == "monotone");
  CHECK(odd.ffn[32] == doctest::Approx(4));
  CHECK(odd.ffn[96] == doctest::Approx(4));
  CHECK(odd.attn[{1, 1}] == doctest::Approx(1.5));
}
