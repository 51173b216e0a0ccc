// The compression pipeline's parts tested on their own: the database file, module ids, stitching
// through the Ranking interface, the typed member report.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "compress/latency_source.h"
#include "compress/member.h"
#include "compress/module_id.h"
#include "compress/options.h"
#include "compress/ranking.h"
#include "compress/stitch.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "models/import.h"
#include "prune/ziplm/db_file.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

std::string write_sample_db(const std::string& name) {
  const std::string path = ztest::temp_dir() + "/" + name;
  std::vector<double> a = {1.5, -2.25, 3.0};
  std::vector<float> b = {0.5f, 0.25f};
  std::vector<int> c = {7, -8, 9, 10};
  write_db_file(path, {{"kind", "test"}, {"n", 3}},
                {{"a", ArrayType::F64, a.data(), a.size()}, {"b", ArrayType::F32, b.data(), b.size()},
                 {"c", ArrayType::I32, c.data(), c.size()}});
  return path;
}

// The one-line message DbFile::open throws for `path`, or "" when it opens.
std::string open_error(const std::string& path) {
  try {
    DbFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string bytes_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void put_bytes(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(s.data(), std::streamsize(s.size()));
}

}  // namespace

TEST_CASE("compress db file: arrays and meta read back as written") {
  DbFile f = DbFile::open(write_sample_db("sample.db"));
  CHECK(f.meta()["kind"] == "test");
  CHECK(f.f64("a") == std::vector<double>{1.5, -2.25, 3.0});
  CHECK(f.f32("b") == std::vector<float>{0.5f, 0.25f});
  CHECK(f.i32("c") == std::vector<int>{7, -8, 9, 10});
  CHECK_FALSE(f.has("d"));
  CHECK_THROWS_AS(f.f64("b"), Error);  // a type mismatch is an error, not a reinterpretation
}

TEST_CASE("compress db file: a corrupt or truncated db file is rejected with a one-line error") {
  const std::string good = bytes_of(write_sample_db("good.db"));
  REQUIRE(good.size() > 40);
  const std::string dir = ztest::temp_dir();
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::string flipped = good;
  flipped[good.size() / 2] = char(flipped[good.size() / 2] ^ 0x40);
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  const std::vector<Case> cases = {
      {"a flipped byte (corrupt)", flipped, "checksum mismatch"},
      {"truncated to half", good.substr(0, good.size() / 2), "damaged database file"},
      {"truncated to 10 bytes", good.substr(0, 10), "not a compression database file"},
      {"empty", "", "not a compression database file"},
      {"another file's magic", bad_magic, "not a compression database file"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string path = dir + "/damaged.db";
    put_bytes(path, c.bytes);
    const std::string msg = open_error(path);
    CHECK(msg.find(c.message) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK(open_error(dir + "/missing.db") != "");
}

TEST_CASE("compress module ids: one index per (layer, kind), recipes split and join") {
  for (int i = 0; i < module_count(6); i++) CHECK(module_index(module_at(i)) == i);
  CHECK(module_at(module_index({3, ModuleKind::Ffn})) == ModuleId{3, ModuleKind::Ffn});
  const std::vector<int> levels = {1, 2, 3, 4, 5, 6};
  const LayerLevels l = split_levels(levels);
  CHECK(l.attn == std::vector<int>{1, 3, 5});
  CHECK(l.ffn == std::vector<int>{2, 4, 6});
  CHECK(join_levels(l) == levels);
}

namespace {

// A ranking of the kind Minitron's activation importance will give: kept indices and an
// importance-based error per level, one module with updated weights (as OBS gives).
class FixedRanking : public Ranking {
 public:
  FixedRanking(const Model& dense, Tensor updated) : updated_(std::move(updated)) {
    for (const LayerShape& s : dense.config.layers) {
      ModuleLevelSet a, f;
      a.structures = s.n_heads(), f.structures = int(s.ffn_dim);
      std::vector<int> all_q(size_t(s.n_heads())), all_f(size_t(s.ffn_dim)), half_f;
      for (int i = 0; i < s.n_heads(); i++) all_q[size_t(i)] = i;
      for (int i = 0; i < int(s.ffn_dim); i++) {
        all_f[size_t(i)] = i;
        if (i % 2 == 1) half_f.push_back(i);
      }
      a.kept = {all_q, {0, 1, s.n_heads() - 1}}, a.error = {0, 0.3};
      f.kept = {all_f, half_f}, f.error = {0, 0.2};
      attn_.push_back(a), ffn_.push_back(f);
    }
  }
  std::string key() const override { return "fixed"; }
  const ModuleLevelSet& levels(ModuleId m) const override {
    return m.kind == ModuleKind::Attention ? attn_.at(size_t(m.layer)) : ffn_.at(size_t(m.layer));
  }
  std::optional<Tensor> output_weight(const Model&, ModuleId m, int level) const override {
    if (m == ModuleId{1, ModuleKind::Ffn} && level == 1) return updated_;
    return std::nullopt;
  }
  std::string cache_dir() const override { return ztest::temp_dir(); }

 private:
  std::vector<ModuleLevelSet> attn_, ffn_;
  Tensor updated_;
};

void check_same(const Tensor& a, const Tensor& b) {
  CHECK(a.shape == b.shape);
  CHECK(a.dtype == b.dtype);
  CHECK(a.to_floats() == b.to_floats());
}

}  // namespace

TEST_CASE("compress stitch: the dense model sliced to the kept indices, with the level's updated weights in place") {
  const Model dense = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  const ModelConfig& c = dense.config;
  const int half = int(c.layers[1].ffn_dim) / 2;
  std::vector<float> w(size_t(c.dim) * size_t(half));
  for (size_t i = 0; i < w.size(); i++) w[i] = float(i % 97) * 0.01f - 0.3f;
  const Tensor updated = Tensor::from_floats(w, {c.dim, half}, dense.get(layer_tensor(1, "ffn_down")).dtype);
  FixedRanking r(dense, updated);

  // Layer 0 dense, layer 1 both modules pruned, the rest: attention pruned only.
  std::vector<int> levels(size_t(module_count(c.n_layers())), 0);
  levels[size_t(module_index({1, ModuleKind::Attention}))] = 1;
  levels[size_t(module_index({1, ModuleKind::Ffn}))] = 1;
  for (int l = 2; l < c.n_layers(); l++) levels[size_t(module_index({l, ModuleKind::Attention}))] = 1;
  const Model m = stitch_model(dense, r, levels);

  const SliceSpec spec = levels_slice(dense, r, levels);
  CHECK(spec.at(1).q_heads == std::vector<int>{0, 1, c.layers[1].n_heads() - 1});
  CHECK(spec.at(1).ffn_neurons == r.levels({1, ModuleKind::Ffn}).kept[1]);
  const Model sliced = slice_model(dense, spec);
  REQUIRE(m.tensors.size() == sliced.tensors.size());
  for (const auto& [name, t] : m.tensors) {
    INFO(name);
    if (name == layer_tensor(1, "ffn_down")) check_same(t, updated);
    else check_same(t, sliced.get(name));
  }
  // Shapes: layer 1 keeps 3 query heads and half the FFN; layer 0 is whole.
  CHECK(m.config.layers[0] == c.layers[0]);
  CHECK(m.config.layers[1].n_heads() == 3);
  CHECK(m.config.layers[1].ffn_dim == half);
  CHECK(m.get(layer_tensor(1, "attn_output")).shape == std::vector<int64_t>{c.dim, 3 * c.head_dim});
  CHECK(m.get(layer_tensor(1, "ffn_down")).shape == std::vector<int64_t>{c.dim, half});
  CHECK(m.get(layer_tensor(2, "ffn_down")).shape == dense.get(layer_tensor(2, "ffn_down")).shape);
}

TEST_CASE("compress member report: JSON round trip keeps every field and unknown keys") {
  MemberReport m;
  m.method = "ziplm", m.update = true, m.target = 1.5, m.max_speedup = 3.25, m.db_method = "obs-d0.01";
  m.feasible = true, m.table_scale = 1.0125, m.search_objective = "kl";
  m.search_loss_dp = 0.5, m.search_loss = 0.25, m.search_loss_sensitivity = 0.375, m.evaluations = 30;
  m.search_s = 12.5, m.guarantee_met = true, m.rounds = 2;
  m.round_log = {{1e-3, 9e-4, 9.5e-4, 1.5e-3, 1.55, 1.03, 0.3, 0.125, 15, 2},
                 {1.1e-3, 9.1e-4, 9.6e-4, 1.5e-3, 1.52, 1.02, std::nullopt, std::nullopt, std::nullopt, std::nullopt}};
  m.timing_spread = 0.0625, m.failure = "measured 1.400x";
  m.predicted_speedup = 1.6, m.measured_speedup = 1.52, m.measured_s = 9.6e-4, m.dense_measured_s = 1.5e-3;
  m.params = 123456789012, m.calib_loss = 2.5, m.unseen_loss = 2.625, m.kl = 0.125;
  m.attn_levels = {0, 1}, m.ffn_levels = {2, 3};
  m.slice = {{"0", {{"kv_heads", {0, 1}}}}};
  m.layers = {{8, 4, 172, 0.0, 0.5}, {6, 3, 100, 0.25, 0.75}};
  m.ppl = 12.5, m.eval_tokens = 65536, m.file = "ziplm-1.50x.zlm", m.replayed = true;
  m.extra["from_a_newer_version"] = {1, 2};

  const nlohmann::json j = m.to_json();
  CHECK(j["recipe"]["attn_levels"] == nlohmann::json({0, 1}));
  CHECK(j["round_log"][1].contains("search_loss") == false);
  CHECK(j["from_a_newer_version"] == nlohmann::json({1, 2}));
  const MemberReport back = MemberReport::from_json(j);
  CHECK(back.to_json() == j);
  CHECK(back.params == m.params);
  CHECK(back.layers.size() == 2);
  CHECK(back.round_log[0].search_loss == 0.3);
  CHECK(back.round_log[0].spread == 0.125);
  CHECK(back.round_log[0].timings == 2);
  CHECK(back.timing_spread == 0.0625);
  CHECK(back.failure == "measured 1.400x");

  // An infeasible member has its few keys only.
  MemberReport inf;
  inf.method = "uniform", inf.target = 4, inf.max_speedup = 2.5, inf.db_method = "obs";
  const nlohmann::json ji = inf.to_json();
  CHECK(ji.size() == 6);
  CHECK(MemberReport::from_json(ji).to_json() == ji);
}

TEST_CASE("compress member report: bad input gives a one-line error") {
  for (const char* text : {R"([1, 2])", R"({"target": 1.5})", R"({"method": "ziplm", "target": "fast"})",
                           R"({"method": "ziplm", "target": 1.5, "recipe": {"attn_levels": [0]}})"}) {
    INFO(text);
    std::string msg;
    try {
      MemberReport::from_json(nlohmann::json::parse(text));
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK(!msg.empty());
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("compress options: window counts default to fixed token budgets for the model") {
  const Model dense = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  const ModelConfig c = dense.config;
  REQUIRE(c.max_seq_len >= 256);
  CompressOptions o;
  resolve_windows(o, c, {});  // a decoder: token windows of 256
  CHECK_FALSE(o.calib.sentences);
  CHECK(o.calib.len == 256);
  CHECK(o.calib.samples == kCalibTokens / 256);  // 128
  CHECK(o.search_windows == kSearchTokens / 256);  // 8
  CHECK(o.calib.heldout == 16);
  CHECK(o.probe_windows == kProbeTokens / 256);  // 4
  CHECK(o.calib.search == 0);
  CHECK(resolve_search_loss(c, "") == "kl");
  CHECK_THROWS_AS(resolve_search_loss(c, "pooled"), UsageError);

  WindowRequest w;  // --calib-len 64 alone: the same amount of text in more windows
  w.len = 64;
  resolve_windows(o, c, w);
  CHECK(o.calib.samples == kCalibTokens / 64);
  CHECK(o.search_windows == kSearchTokens / 64);
  CHECK(o.calib.heldout == kSearchTokens / 64);  // at least the search windows

  WindowRequest sep;  // separate search windows of 32 tokens
  sep.search_len = 32;
  resolve_windows(o, c, sep);
  CHECK(o.calib.search_len == 32);
  CHECK(o.calib.search == kSearchTokens / 32);
  CHECK(o.search_windows == o.calib.search);
  CHECK(o.calib.heldout == kMinHeldout);
  CHECK(o.probe_windows == kProbeTokens / 32);
  sep.search_len = 512;
  CHECK_THROWS_AS(resolve_windows(o, c, sep), UsageError);
}

namespace {

// A synthetic source that counts the tables it times and runs the dense model at `dense_scale`
// times the table's T_dense (a machine that got slower or faster since the table was timed).
struct CountingLatency : LatencySource {
  SyntheticCosts k;
  int tables = 0;
  double dense_scale = 1, t_dense = 0;
  LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                     const std::function<void(int, int)>&) override {
    tables++;
    LatencyTable t = synthetic_latency_table(dense.config, Env{}, k, attn, ffn);
    t_dense = t.t_dense;
    return t;
  }
  double measure(const Model&) override { return t_dense * dense_scale; }
};

}  // namespace

TEST_CASE("compress latency cache: reused while the dense time holds, timed again after a drift or a damaged file") {
  const Model dense = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  const std::string cache = ztest::temp_dir() + "/latency-cache/table.json";
  fs::remove_all(fs::path(cache).parent_path());
  const std::set<AttnLevel> attn = {{4, 2}};
  const std::set<int> ffn = {86};
  CountingLatency src;
  std::vector<std::string> lines;
  auto log = [&](const std::string& s) { lines.push_back(s); };
  auto time = [&] { return time_levels(dense, attn, ffn, src, Env{}, cache, log, {}); };

  TimedTable first = time();
  CHECK(src.tables == 1);
  CHECK(first.dense_measured == 0);
  REQUIRE(file_exists(cache));
  TimedTable again = time();  // same speed: the cached table
  CHECK(src.tables == 1);
  CHECK(again.table.t_dense == first.table.t_dense);
  CHECK(again.dense_measured > 0);
  CHECK(lines.back().find("reused") != std::string::npos);

  src.dense_scale = 1.0 / (kTableDriftLow - 0.05);  // the machine is now much slower: timed again
  time();
  CHECK(src.tables == 2);
  src.dense_scale = 1;
  const std::set<int> more = {86, 43};  // a level the cache lacks: timed again
  time_levels(dense, attn, more, src, Env{}, cache, log, {});
  CHECK(src.tables == 3);
  write_file_atomic(cache, "{ not json");  // damaged: timed again, not an error
  time();
  CHECK(src.tables == 4);
  time_levels(dense, attn, ffn, src, Env{}, "", log, {});  // no cache path: always timed
  CHECK(src.tables == 5);
}
