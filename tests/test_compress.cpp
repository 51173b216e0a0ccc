// The compression pipeline end to end on stories260K with a synthetic latency table (no timing):
// targets met, OBS beats the baselines, the budget correction, the cache, recipe replay.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/cuda.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "compress/calibration.h"
#include "compress/pipeline.h"
#include "compress/stitch.h"
#include "tests/test_util.h"

using namespace zip;
namespace fs = std::filesystem;

namespace {

std::string stories_zlm() {
  static std::string path = [] {
    std::string p = ztest::temp_dir() + "/stories260K.zlm";
    save_zlm(import_model(ztest::shared("models/stories260K/stories260K.bin"), {}), p);
    return p;
  }();
  return path;
}

// Proportions like SmolLM2's decode table: fixed ≈ 15 %, FFN a bit above attention.
SyntheticCosts realistic_costs() {
  SyntheticCosts k;
  k.t_fixed = 2e-4;
  k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6;
  k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  return k;
}

CompressOptions small_options(const std::string& out) {
  CompressOptions o;
  o.targets = {1.5, 2.0};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 24, o.calib.len = 64, o.calib.heldout = 8;
  o.search_windows = 8;
  o.ffn_step = 32, o.block = 8;
  o.evaluations = 10;
  o.threads = 2;
  o.out_dir = out;
  o.latency = synthetic_latency(realistic_costs());
  return o;
}

const nlohmann::json& member(const nlohmann::json& report, const std::string& method, double target) {
  for (const auto& m : report["members"])
    if (m["method"] == method && std::abs(m["target"].get<double>() - target) < 1e-9) return m;
  FAIL("no member " << method << " " << target);
  static nlohmann::json none;
  return none;
}

}  // namespace

TEST_CASE("compress: stories260K family meets synthetic targets and OBS beats the baselines") {
  std::string out = ztest::temp_dir() + "/family";
  CompressOptions o = small_options(out);
  o.methods = {PruneMethod::ZipLM, PruneMethod::Magnitude, PruneMethod::ZipLMNoUpdate, PruneMethod::Uniform};
  o.db_root = ztest::temp_dir() + "/db";
  o.evaluations = 30;  // the default: with 10, the searched baselines can land on luckier shapes
  // At the exact targets. On this tiny model the 30-evaluation search's 2x KL varies by ±10 % with
  // the aim (2.34 to 2.80 over aims 1.00..1.05, magnitude 2.74..2.88): at aim 1.03 ZipLM's 2x
  // landed 1.5 % above magnitude's, ahead at the five other aims of that sweep.
  o.aim = 1.0;
  nlohmann::json report = compress_family(stories_zlm(), o);
  REQUIRE(report["members"].size() == 8);
  Model dense = load_zlm(stories_zlm());
  for (const auto& m : report["members"]) {
    INFO(m.dump());
    REQUIRE(m["feasible"].get<bool>());
    double ratio = m["measured_speedup"].get<double>() / m["target"].get<double>();
    CHECK(ratio >= 0.97);
    // Uniform pruning moves in steps of one head per layer in every layer at once: it may overshoot.
    if (m["method"] != "uniform") CHECK(ratio <= 1.10);
    Model pruned = load_zlm(out + "/" + m["file"].get<std::string>());
    CHECK(pruned.provenance["recipe"]["method"] == m["method"]);
    CHECK(pruned.provenance["parent"]["hash"] == report["parent_hash"]);
    CHECK(pruned.config.n_params() < dense.config.n_params());
    // Updated projections come back in the dense dtype (the latency table timed that dtype).
    for (const auto& [name, t] : pruned.tensors)
      if (dense.tensors.count(name)) CHECK_MESSAGE(t.dtype == dense.get(name).dtype, name);
  }
  for (double t : {1.5, 2.0}) {
    // Damage = KL(dense ‖ member) on the held-out windows (what the search minimises).
    const auto& z = member(report, "ziplm", t);
    double obs = z["kl"];
    CHECK(obs < member(report, "magnitude", t)["kl"].get<double>());
    CHECK(obs < member(report, "ziplm-no-update", t)["kl"].get<double>());
    CHECK(obs <= member(report, "uniform", t)["kl"].get<double>());
    // The tuned search never does worse than the DP alone, nor than the DP on the probes.
    CHECK(z["search_objective"] == "kl");
    CHECK(z["search_loss"].get<double>() <= z["search_loss_dp"].get<double>());
    CHECK(z["search_loss"].get<double>() <= z["search_loss_sensitivity"].get<double>());
    CHECK(z["search_loss"].get<double>() == doctest::Approx(obs).epsilon(1e-9));  // one round: the member is the best
  }
  CHECK(fs::exists(out + "/report.md"));
  CHECK(fs::exists(out + "/report.svg"));
  CHECK(!fs::exists(out + "/.db"));  // --db given: nothing inside the output folder
}

TEST_CASE("compress: the report checks each member on the held-out windows the search never saw") {
  std::string out = ztest::temp_dir() + "/unseen";
  CompressOptions o = small_options(out);
  o.targets = {1.5};
  o.evaluations = 3;
  o.search_windows = 5;  // of 8 held-out windows: 3 unseen
  nlohmann::json report = compress_family(stories_zlm(), o);
  const double dense = report["dense"]["unseen_loss"];
  const auto& m = member(report, "ziplm", 1.5);
  CHECK(std::isfinite(dense));
  CHECK(m["unseen_loss"].get<double>() > dense);
  CHECK(m["unseen_loss"].get<double>() != m["calib_loss"].get<double>());  // other windows
  // With every held-out window searched on there is nothing unseen to report.
  o.search_windows = 8, o.out_dir = out + "-all";
  nlohmann::json all = compress_family(stories_zlm(), o);
  CHECK(!all["dense"].contains("unseen_loss"));
  CHECK(!member(all, "ziplm", 1.5).contains("unseen_loss"));
}

TEST_CASE("compress: separate search windows leave every held-out window unseen") {
  std::string out = ztest::temp_dir() + "/separate";
  CompressOptions o = small_options(out);
  o.targets = {1.5};
  o.evaluations = 3;
  o.search_windows = o.calib.search = 6, o.calib.search_len = 24;
  nlohmann::json report = compress_family(stories_zlm(), o);
  CHECK(report["calibration"]["search_separate"] == true);
  CHECK(report["calibration"]["search_len"] == 24);
  const auto& m = member(report, "ziplm", 1.5);
  CHECK(m["unseen_loss"].get<double>() > report["dense"]["unseen_loss"].get<double>());
  // All eight held-out windows are unseen: their loss is the one the default split's search saw.
  CompressOptions d = small_options(out + "-default");
  d.targets = {1.5}, d.evaluations = 3, d.methods = {PruneMethod::ZipLMNoUpdate};
  nlohmann::json def = compress_family(stories_zlm(), d);
  CHECK(report["dense"]["unseen_loss"].get<double>() == doctest::Approx(def["dense"]["calib_loss"].get<double>()).epsilon(1e-12));
  CHECK(report["dense"]["calib_loss"].get<double>() != def["dense"]["calib_loss"].get<double>());
}

TEST_CASE("compress: an off re-measurement corrects the budget until the target is met") {
  std::string out = ztest::temp_dir() + "/skewed";
  CompressOptions o = small_options(out);
  o.targets = {1.5};
  o.evaluations = 4;
  o.latency = synthetic_latency(realistic_costs(), 1.25);  // pruned modules 25% slower than the table says
  nlohmann::json report = compress_family(stories_zlm(), o);
  const auto& m = member(report, "ziplm", 1.5);
  CHECK(m["rounds"].get<int>() >= 2);
  CHECK(m["guarantee_met"].get<bool>());
  double ratio = m["measured_speedup"].get<double>() / 1.5;
  CHECK(ratio >= 0.97);
  CHECK(ratio <= 1.10);
  CHECK(m["predicted_speedup"].get<double>() > m["measured_speedup"].get<double>());
  // Every round was searched and judged: each logs its search loss, and tighter budgets cost loss.
  const auto& log = m["round_log"];
  REQUIRE(log.size() == size_t(m["rounds"].get<int>()));
  for (size_t i = 0; i < log.size(); i++) {
    REQUIRE(log[i].contains("search_loss"));
    if (i) CHECK(log[i]["budget_s"].get<double>() < log[i - 1]["budget_s"].get<double>());
  }
  CHECK(!fs::exists(out + "/.db"));  // the default database is removed after success
}

TEST_CASE("compress: a member in band but far faster than its aim is searched once more, closer to it") {
  CompressOptions o = small_options(ztest::temp_dir() + "/overshoot");
  o.targets = {1.5};
  o.evaluations = 4;
  o.latency = synthetic_latency(realistic_costs(), 0.94);  // pruned models 6 % faster than the table says
  nlohmann::json report = compress_family(stories_zlm(), o);
  const auto& m = member(report, "ziplm", 1.5);
  const auto& log = m["round_log"];
  REQUIRE(log.size() == 2);
  const double first = log[0]["speedup"].get<double>() / 1.5, second = log[1]["speedup"].get<double>() / 1.5;
  CAPTURE(first);
  CAPTURE(second);
  CHECK(!outside_band(first));  // in band, yet more than kAimTolerance above the aim
  CHECK(first - o.aim > kAimTolerance);
  CHECK(std::abs(second - o.aim) < std::abs(first - o.aim));
  CHECK(log[1]["budget_s"].get<double>() > log[0]["budget_s"].get<double>());  // slower, so more accurate
  CHECK(m["measured_speedup"].get<double>() / 1.5 == doctest::Approx(second));  // the round closer to the aim
  CHECK(m["guarantee_met"].get<bool>());
}

TEST_CASE("compress: a table that is off for every member is corrected once, not once per member") {
  CompressOptions o = small_options(ztest::temp_dir() + "/skew-carried");
  o.targets = {1.5, 2.0};
  o.evaluations = 4;
  o.latency = synthetic_latency(realistic_costs(), 1.25);
  nlohmann::json report = compress_family(stories_zlm(), o);
  const auto& first = member(report, "ziplm", 1.5);
  const auto& second = member(report, "ziplm", 2.0);
  CHECK(first["table_scale"].get<double>() == 1.0);  // nothing measured before it
  CHECK(first["rounds"].get<int>() >= 2);
  // The second member starts from what the first one's rounds measured, and lands in band at its
  // first round (a further round may only bring it nearer the aim).
  CHECK(second["table_scale"].get<double>() > 1.1);
  CHECK(second["guarantee_met"].get<bool>());
  const auto& round = second["round_log"][0];
  CHECK(!outside_band(round["speedup"].get<double>() / 2.0));
  const double t_dense = report["latency_table"]["t_dense"].get<double>();
  CHECK(round["table_scale"].get<double>() ==
        doctest::Approx(t_dense / round["predicted_s"].get<double>() / round["speedup"].get<double>()));
}

TEST_CASE("compress: infeasible targets are reported with the largest achievable speedup") {
  CompressOptions o = small_options(ztest::temp_dir() + "/infeasible");
  o.targets = {1000};
  nlohmann::json report = compress_family(stories_zlm(), o);
  const auto& m = report["members"][0];
  CHECK(!m["feasible"].get<bool>());
  CHECK(m["max_speedup"].get<double>() > 1.0);
  CHECK(m["max_speedup"].get<double>() < 1000.0);
  CHECK(!m.contains("file"));
}

TEST_CASE("compress: a re-run with the same database skips finished work; a recipe replays a member exactly") {
  const std::string tmp = ztest::temp_dir();
  std::string db = tmp + "/db-rerun";
  CompressOptions o = small_options(tmp + "/run1");
  o.targets = {1.5};
  o.evaluations = 4;
  o.db_root = db;
  o.keep_db = true;
  nlohmann::json r1 = compress_family(stories_zlm(), o);
  CHECK(r1["database"]["kept"] == true);
  CHECK(r1["database"]["bytes"].get<int64_t>() > 0);
  std::map<std::string, fs::file_time_type> stamps;
  for (const auto& e : fs::recursive_directory_iterator(db))
    if (e.is_regular_file()) stamps[e.path().string()] = e.last_write_time();
  REQUIRE(stamps.size() > 5);
  o.out_dir = tmp + "/run2";
  nlohmann::json r2 = compress_family(stories_zlm(), o);
  for (const auto& [path, t] : stamps) CHECK(fs::last_write_time(path) == t);
  CHECK(member(r2, "ziplm", 1.5)["recipe"] == member(r1, "ziplm", 1.5)["recipe"]);
  // Without --keep-db the run's database goes at the end (here: the folder, left empty).
  fs::create_directories(db + "/other-model");
  o.keep_db = false, o.out_dir = tmp + "/run2b";
  nlohmann::json r2b = compress_family(stories_zlm(), o);
  CHECK(r2b["database"]["kept"] == false);
  CHECK(r2b["database"]["bytes"].get<int64_t>() > 0);
  CHECK(fs::exists(db + "/other-model"));  // what the run did not make stays
  CHECK(!fs::exists(r2b["database"]["path"].get<std::string>()));

  // Replay without the database: recomputed from the calibration text, the same tensors.
  CompressOptions rp = small_options(tmp + "/replay");
  rp.recipe = r1;
  rp.methods = {PruneMethod::ZipLM};
  nlohmann::json r3 = compress_family(stories_zlm(), rp);
  REQUIRE(r3["members"].size() == 1);
  std::string file = member(r1, "ziplm", 1.5)["file"];
  Model a = load_zlm(tmp + "/run1/" + file), b = load_zlm(tmp + "/replay/" + file);
  CHECK(a.config == b.config);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const Tensor& u = b.get(name);
    REQUIRE(u.nbytes() == t.nbytes());
    CHECK_MESSAGE(std::memcmp(u.data, t.data, t.nbytes()) == 0, name);
  }
  // The replay measures the losses again, on the same windows: the same numbers.
  CHECK(member(r3, "ziplm", 1.5)["calib_loss"].get<double>() == member(r1, "ziplm", 1.5)["calib_loss"].get<double>());
}

TEST_CASE("compress: bad input gives one-line errors") {
  auto q = ztest::shell_quote;
  std::string out = ztest::temp_dir() + "/cli-bad";
  std::string base = "compress " + q(stories_zlm()) + " --calib " + q(ztest::shared("data/tinystories")) + " -o " + q(out);
  auto r = ztest::run_zip(base);
  CHECK(r.status == 2);
  CHECK_HAS(r.err, "--speedup");
  r = ztest::run_zip(base + " --speedup 0.5");
  CHECK(r.status == 2);
  r = ztest::run_zip(base + " --speedup 1.5 --env cpu:threads=two");
  CHECK(r.status == 2);
  r = ztest::run_zip(base + " --speedup 1.5 --method nonsense");
  CHECK(r.status == 2);
  CHECK_HAS(r.err, "nonsense");
  r = ztest::run_zip("compress " + q(stories_zlm()) + " --calib /nonexistent --speedup 1.5 -o " + q(out));
  CHECK(r.status == 1);
  r = ztest::run_zip("compress " + q(stories_zlm()) + " --calib " + q(ztest::shared("models/stories260K/config.json")) +
                     " --speedup 1.5 -o " + q(out));
  CHECK(r.status == 1);
  CHECK_HAS(r.err, "too short");
  // A timing device the build or machine lacks is refused before any work, in one line.
  r = ztest::run_zip(base + " --speedup 1.5 --env cuda");
  if (zip::cuda_available()) {
    MESSAGE("skipped: compress --env cuda refusal (this machine has a usable GPU)");
  } else {
    CHECK(r.status == 1);
    CHECK_HAS(r.err, "--env cuda: ");
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(out + "/report.json"));
  }
}

TEST_CASE("compress: calibration statistics — symmetric Hessians, token-normalised Gram sums to the token count") {
  Model m = load_zlm(stories_zlm());
  CalibOptions co;
  co.samples = 6, co.len = 48, co.heldout = 3;
  CalibSet calib = sample_calibration(m, calibration_files({ztest::shared("data/tinystories")}), co);
  REQUIRE(calib.train.size() == 6);
  REQUIRE(calib.heldout.size() == 3);
  CHECK(calib.train[0].size() == 48);
  CHECK(calib.train[0][0] == m.tokenizer->bos);
  CHECK(calib.train[0] != calib.heldout[0]);
  // Deterministic for a seed, different for another.
  CHECK(sample_calibration(m, calib.files, co).train == calib.train);
  co.seed = 2;
  CHECK(sample_calibration(m, calib.files, co).train != calib.train);

  CHECK(calib.search.empty());

  // Separate search windows come from further slots: the train and held-out windows (and so the
  // database key) do not change, and each search window has its own length and place.
  CalibOptions cs = co;
  cs.seed = 1, cs.search = 4, cs.search_len = 16;
  CalibSet with = sample_calibration(m, calib.files, cs);
  CHECK(with.train == calib.train);
  CHECK(with.heldout == calib.heldout);
  CHECK(with.key == calib.key);
  REQUIRE(with.search.size() == 4);
  for (const auto& w : with.search) {
    CHECK(w.size() == 16);
    for (const auto& h : calib.heldout) CHECK(!std::equal(w.begin(), w.end(), h.begin()));
  }
  CHECK(with.search[0] != with.search[1]);
  // By folder: search windows alternate between the folders, whatever their sizes (tinystories is
  // 3 % of these bytes, so a byte-weighted draw would rarely reach it).
  {
    CalibOptions bf = co;
    bf.search = 4, bf.search_len = 16, bf.search_by_folder = true;
    const std::string small = ztest::shared("data/tinystories"), big = ztest::shared("data/tinyshakespeare");
    CalibSet f = sample_calibration(m, calibration_files({small, big}), bf);
    REQUIRE(f.search_folders.size() == 2);
    REQUIRE(f.search.size() == 4);
    Tokenizer tok(m.tokenizer);
    const std::string small_text = read_file(calibration_files({small})[0]), big_text = read_file(calibration_files({big})[0]);
    for (size_t i = 0; i < f.search.size(); i++) {
      // A stretch of the window's text, away from its edges, is found in its folder's file.
      std::string piece = tok.decode(std::vector<int>(f.search[i].begin() + 3, f.search[i].begin() + 12));
      while (!piece.empty() && piece.front() == ' ') piece.erase(piece.begin());
      CAPTURE(piece);
      const bool from_small = f.search_folders[i % 2] == fs::path(calibration_files({small})[0]).parent_path().string();
      CHECK((from_small ? small_text : big_text).find(piece) != std::string::npos);
    }
  }
  cs.search_len = 49;  // longer than the calibration windows
  CHECK_THROWS_WITH_AS(sample_calibration(m, calib.files, cs), doctest::Contains("search window length"), Error);

  std::vector<LayerStats> st = collect_layer_stats(m, calib, 2);
  for (int l = 0; l < m.config.n_layers(); l++) {
    const LayerStats& s = st[size_t(l)];
    const int n = s.ffn_cols;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < i; j++) REQUIRE(s.h_ffn[size_t(i * n + j)] == s.h_ffn[size_t(j * n + i)]);
    // tr(W G̃ Wᵀ) = Σ_t ‖Wx_t‖²/‖Wx_t‖² = the number of held-out tokens.
    for (auto [name, cols, gt] : {std::tuple{"ffn_down", s.ffn_cols, &s.gt_ffn}, {"attn_output", s.attn_cols, &s.gt_attn}}) {
      Tensor w = m.get(layer_tensor(l, name)).converted(DType::F32);
      const int rows = int(w.shape[0]);
      double tr = 0;
      for (int r = 0; r < rows; r++)
        for (int i = 0; i < cols; i++)
          for (int j = 0; j < cols; j++)
            tr += double(w.ptr<float>()[r * cols + i]) * (*gt)[size_t(i * cols + j)] * w.ptr<float>()[r * cols + j];
      CHECK(tr == doctest::Approx(3.0 * 48).epsilon(1e-3));
    }
  }
}

TEST_CASE("compress: an encoder family is judged on its pooled sentence embeddings by default") {
  // tiny-random-bert has 512 token ids and no vocabulary: give it a WordPiece one that fits
  // (special tokens, letters, word-piece letters, punctuation).
  const std::string vocab = ztest::temp_dir() + "/tiny-bert-vocab";
  fs::create_directories(vocab);
  {
    std::ofstream v(vocab + "/vocab.txt");
    for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "'", "!", "?", "\"", "-"}) v << s << "\n";
    for (char ch = 'a'; ch <= 'z'; ch++) v << ch << "\n##" << ch << "\n";
    for (char ch = '0'; ch <= '9'; ch++) v << ch << "\n##" << ch << "\n";
  }
  ImportOptions io;
  io.tokenizer_path = vocab;
  // As a sentence-transformers folder would set it: the embedding is the mean of the tokens.
  Model bert = import_model(ztest::shared("models/tiny-random-bert"), io);
  REQUIRE(bert.config.pooling.empty());
  CHECK_FALSE(sentence_windows_by_default(bert.config));  // an encoder without an embedding
  bert.config.pooling = "mean";
  // The CLI's defaults: a model that pools is calibrated on whole sentences of at most 64 tokens,
  // counted as 32 tokens each (so 1,024 windows for 32,768 tokens); decoders on token windows.
  CHECK(sentence_windows_by_default(bert.config));
  CHECK_FALSE(sentence_windows_by_default(load_zlm(stories_zlm()).config));
  CHECK(default_window_len(true) == 64);
  CHECK(default_window_len(false) == 256);
  CHECK(32768 / expected_window_tokens(default_window_len(true), true) == 1024);
  CHECK(expected_window_tokens(256, false) == 256);
  const std::string model = ztest::temp_dir() + "/tiny-bert.zlm";
  save_zlm(bert, model);

  // Sentence windows: [CLS] one whole sentence [SEP], each starting where a sentence starts; a
  // sentence longer than the window is cut, keeping [SEP].
  {
    const std::string dir = ztest::temp_dir() + "/sentences";
    fs::create_directories(dir);
    {
      std::ofstream t(dir + "/a.txt");
      for (int i = 0; i < 1000; i++) t << "item " << i << " says hello world." << (i % 7 == 6 ? "\n\n" : i % 3 ? " " : "\n");
    }
    CalibOptions so;
    so.samples = 8, so.len = 64, so.heldout = 2, so.sentences = true;
    CalibSet cs = sample_calibration(bert, calibration_files({dir}), so);
    REQUIRE(cs.train.size() == 8);
    CHECK(cs.key.find("-sent") != std::string::npos);
    Tokenizer tok(bert.tokenizer);
    for (const auto* set : {&cs.train, &cs.heldout})
      for (const auto& w : *set) {
        REQUIRE(w.size() >= 8);
        CHECK(w.size() <= 64);
        CHECK(w.front() == bert.tokenizer->cls);
        CHECK(w.back() == bert.tokenizer->sep);
        std::string text = tok.decode(std::vector<int>(w.begin() + 1, w.end() - 1));
        CAPTURE(text);
        CHECK(text.rfind("item ", 0) == 0);
        CHECK(text.find("hello") == text.rfind("hello"));  // one sentence
        CHECK(text.back() == '.');
      }
    so.len = 8;
    for (const auto& w : sample_calibration(bert, cs.files, so).train) {
      CHECK(w.size() == 8);
      CHECK(w.back() == bert.tokenizer->sep);
    }
    CHECK_THROWS_WITH_AS(sample_calibration(load_zlm(stories_zlm()), cs.files, so), doctest::Contains("encoders"), Error);
  }

  CompressOptions o = small_options(ztest::temp_dir() + "/bert-family");
  o.targets = {1.5};
  o.methods = {PruneMethod::ZipLM, PruneMethod::Magnitude};
  o.db_root = ztest::temp_dir() + "/bert-db";
  nlohmann::json report = compress_family(model, o);
  REQUIRE(report["members"].size() == 2);
  CHECK(report["options"]["search_loss"] == "pooled");
  for (const auto& m : report["members"]) {
    INFO(m.dump());
    REQUIRE(m["feasible"].get<bool>());
    double ratio = m["measured_speedup"].get<double>() / 1.5;
    CHECK(ratio >= 0.97);
    CHECK(ratio <= 1.10);
    CHECK(m["search_objective"] == "pooled");
    CHECK(m["calib_loss"].get<double>() >= 0.0);
    CHECK(m["search_loss"].get<double>() <= m["search_loss_dp"].get<double>());
  }
  // Per-token hidden states on request, and by default for an encoder that does not pool;
  // decoder losses are refused for an encoder.
  o.search_loss = "tokens";
  o.out_dir = ztest::temp_dir() + "/bert-family-tokens";
  CHECK(compress_family(model, o)["members"][0]["search_objective"] == "tokens");
  o.search_loss = "similarity";
  o.out_dir = ztest::temp_dir() + "/bert-family-similarity";
  CHECK(compress_family(model, o)["members"][0]["search_objective"] == "similarity");
  bert.config.pooling.clear();
  const std::string plain = ztest::temp_dir() + "/tiny-bert-plain.zlm";
  save_zlm(bert, plain);
  o.search_loss.clear();
  o.out_dir = ztest::temp_dir() + "/bert-family-plain";
  CHECK(compress_family(plain, o)["options"]["search_loss"] == "tokens");
  o.search_loss = "similarity";  // no pooling, no embedding to compare
  CHECK_THROWS_AS(compress_family(plain, o), UsageError);
  o.search_loss = "kl";
  CHECK_THROWS_AS(compress_family(model, o), UsageError);
  o.search_loss = "pooled";
  CHECK_THROWS_AS(compress_family(stories_zlm(), o), UsageError);
}
