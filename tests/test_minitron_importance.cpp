// Minitron importance (prune/minitron/): the arithmetic on hand-computed arrays, and the
// collector against an f64 reference computed from scratch from the raw activations a recording
// observer sees in the same forward passes (heads, KV groups, neurons, channels, Block Importance).
#include <cmath>
#include <map>

#include "compress/calibration.h"
#include "compress/heldout_loss.h"
#include "compress/slice_axes.h"
#include "engine/forward.h"
#include "prune/minitron/importance.h"
#include "prune/minitron/importance_report.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::minitron;

TEST_CASE("minitron importance: channel score is the L2 over windows of the mean |a| over a window's rows") {
  ChannelScore s;
  const float w0[] = {1, -2, 3, 4};  // window 0: rows (1, -2), (3, 4), given in two calls
  s.add_rows(w0, 1, 2);
  s.add_rows(w0 + 2, 1, 2);
  s.end_window();
  const float w1[] = {-6, 0};  // window 1: one row
  s.add_rows(w1, 1, 2);
  s.end_window();
  s.end_window();  // a window that saw nothing counts for nothing
  std::vector<double> got = s.score();
  // channel 0: means 2 and 6 → √40; channel 1: means 3 and 0 → 3
  CHECK(got[0] == doctest::Approx(std::sqrt(40.0)).epsilon(1e-15));
  CHECK(got[1] == doctest::Approx(3.0).epsilon(1e-15));
  CHECK(s.windows() == 2);
}

TEST_CASE("minitron importance: heads, KV groups, top-k, cosine and quantiles") {
  std::vector<double> ch = {3, 4, 0, 1, 2, 2};
  std::vector<double> heads = group_l2(ch, 2);
  CHECK(heads == std::vector<double>{5, 1, std::sqrt(8.0)});
  std::vector<double> kv = kv_group_scores(heads, {2, 1});  // heads 0,1 read KV 0; head 2 reads KV 1
  CHECK(kv[0] == doctest::Approx(std::sqrt(26.0)));
  CHECK(kv[1] == doctest::Approx(std::sqrt(8.0)));
  CHECK_THROWS(group_l2(ch, 4));
  CHECK_THROWS(kv_group_scores(heads, {1, 1}));
  CHECK(top_k({0.5, 2, 1, 2}, 2) == std::vector<int>{1, 3});
  CHECK(top_k({1, 1, 1}, 2) == std::vector<int>{0, 1});  // ties: the lower index
  const float a[] = {1, 0}, b[] = {1, 1}, z[] = {0, 0};
  CHECK(cosine(a, b, 2) == doctest::Approx(1 / std::sqrt(2.0)));
  CHECK(cosine(a, z, 2) == 0.0);
  CHECK(quantiles({4, 1, 3, 2}, {0, 0.5, 1}) == std::vector<double>{1, 2.5, 4});
}

namespace {

// Every raw activation the importance reads, per window, as the engine reports it.
struct Recorder : ForwardObserver {
  struct Seen {
    std::map<int, std::vector<float>> o, down, q, ffn_in, residual;
    std::vector<float> head_in;
    int rows = 0;
  };
  std::vector<Seen> windows;
  void on_linear_input(int layer, LinearKind kind, const float* x, int rows, int cols) override {
    Seen& s = windows.back();
    std::vector<float> v(x, x + size_t(rows) * size_t(cols));
    if (layer < 0) s.head_in = v;
    else if (kind == LinearKind::O) s.o[layer] = v;
    else if (kind == LinearKind::Down) s.down[layer] = v;
    else if (kind == LinearKind::Q) s.q[layer] = v;
    else if (kind == LinearKind::Gate || kind == LinearKind::Up) s.ffn_in[layer] = v;
  }
  void on_residual(int layer, const float* x, int rows, int dim) override {
    windows.back().residual[layer] = std::vector<float>(x, x + size_t(rows) * size_t(dim));
    windows.back().rows = rows;
  }
};

std::vector<std::vector<int>> test_windows(const Model& m) {
  std::vector<std::vector<int>> w;
  uint64_t s = 12345;
  for (int len : {7, 12, 5}) {
    std::vector<int> t;
    for (int i = 0; i < len; i++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      t.push_back(int((s >> 33) % uint64_t(m.config.vocab_size)));
    }
    if (!m.config.info().causal) t[0] = 2;  // any id; BERT's [CLS] position is not special here
    w.push_back(t);
  }
  return w;
}

// sqrt(Σ_windows (mean_rows |x_c|)²) per channel, from scratch in f64.
std::vector<double> ref_channels(const std::vector<const std::vector<float>*>& per_window, int cols) {
  std::vector<double> sq(size_t(cols), 0.0);
  for (const std::vector<float>* x : per_window) {
    size_t rows = x->size() / size_t(cols);
    for (int c = 0; c < cols; c++) {
      double sum = 0;
      for (size_t r = 0; r < rows; r++) sum += std::fabs(double((*x)[r * size_t(cols) + size_t(c)]));
      sq[size_t(c)] += (sum / double(rows)) * (sum / double(rows));
    }
  }
  for (double& v : sq) v = std::sqrt(v);
  return sq;
}

void check_close(const std::vector<double>& got, const std::vector<double>& ref) {
  REQUIRE(got.size() == ref.size());
  double scale = 0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  for (size_t i = 0; i < ref.size(); i++) CHECK(std::fabs(got[i] - ref[i]) <= 1e-9 * scale);
}

void check_against_reference(const Model& m) {
  std::vector<std::vector<int>> windows = test_windows(m);
  Importance imp = compute_importance(m, windows, {}, {});
  // The same passes, recorded.
  std::unique_ptr<Backend> backend = make_cpu_backend(1);
  InferenceContext ctx(m, *backend, 12, 12);
  Recorder rec;
  ctx.set_observer(&rec);
  for (auto& w : windows) {
    rec.windows.emplace_back();
    ctx.reset();
    if (m.config.info().causal)
      ctx.eval(w, true);
    else
      ctx.encode(w.data(), nullptr, int(w.size()));
  }
  const ModelConfig& c = m.config;
  const int L = c.n_layers(), D = c.dim, hd = c.head_dim;
  CHECK(imp.windows == 3);
  CHECK(imp.tokens == 24);
  std::vector<double> channels(size_t(D), 0.0);
  auto add_norm = [&](auto pick) {
    std::vector<const std::vector<float>*> xs;
    for (auto& s : rec.windows) xs.push_back(pick(s));
    std::vector<double> r = ref_channels(xs, D);
    for (int i = 0; i < D; i++) channels[size_t(i)] += r[size_t(i)];
  };
  for (int l = 0; l < L; l++) {
    const LayerShape& s = c.layers[size_t(l)];
    std::vector<const std::vector<float>*> o, down;
    for (auto& w : rec.windows) o.push_back(&w.o.at(l)), down.push_back(&w.down.at(l));
    std::vector<double> ch = ref_channels(o, s.n_heads() * hd), heads, groups;
    for (int h = 0; h < s.n_heads(); h++) {
      double sq = 0;
      for (int i = 0; i < hd; i++) sq += ch[size_t(h * hd + i)] * ch[size_t(h * hd + i)];
      heads.push_back(std::sqrt(sq));
    }
    std::vector<int> kv_of_q = s.kv_of_q();
    groups.assign(size_t(s.n_kv_heads()), 0.0);
    for (int h = 0; h < s.n_heads(); h++) groups[size_t(kv_of_q[size_t(h)])] += heads[size_t(h)] * heads[size_t(h)];
    for (double& g : groups) g = std::sqrt(g);
    check_close(imp.heads[size_t(l)], heads);
    check_close(imp.kv_groups[size_t(l)], groups);
    check_close(imp.neurons[size_t(l)], ref_channels(down, s.ffn_dim));
    // Block Importance: 1 − mean over all tokens of cos(stream entering l, stream entering l + 1).
    double cos_sum = 0;
    for (auto& w : rec.windows) {
      const std::vector<float>&a = w.residual.at(l), &b = w.residual.at(l + 1);
      for (int r = 0; r < w.rows; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < D; i++) {
          double x = a[size_t(r * D + i)], y = b[size_t(r * D + i)];
          ab += x * y, aa += x * x, bb += y * y;
        }
        cos_sum += ab / std::sqrt(aa * bb);
      }
    }
    CHECK(imp.block_importance[size_t(l)] == doctest::Approx(1.0 - cos_sum / 24.0).epsilon(1e-12));
    // The norms' outputs of this layer.
    if (c.info().post_norm) {
      add_norm([&](Recorder::Seen& w) { return &w.ffn_in.at(l); });  // attn_out_norm
      add_norm([&](Recorder::Seen& w) { return &w.residual.at(l); });  // embd_norm / previous ffn_out_norm
    } else {
      add_norm([&](Recorder::Seen& w) { return &w.q.at(l); });       // attn_norm
      add_norm([&](Recorder::Seen& w) { return &w.ffn_in.at(l); });  // ffn_norm
    }
  }
  if (c.info().post_norm)
    add_norm([&](Recorder::Seen& w) { return &w.residual.at(L); });  // the last ffn_out_norm
  else
    add_norm([&](Recorder::Seen& w) { return &w.head_in; });  // output_norm
  check_close(imp.channels, channels);
}

}  // namespace

TEST_CASE("minitron importance: collector equals an f64 reference from the raw activations (Llama, GQA)") {
  const Model& m = ztest::stories260K();
  REQUIRE(m.config.layers[0].n_kv_heads() < m.config.layers[0].n_heads());
  check_against_reference(m);
}

TEST_CASE("minitron importance: collector equals an f64 reference (GPT-2 and BERT)") {
  check_against_reference(ztest::tiny_gpt2());
  check_against_reference(ztest::tiny_bert());
}

TEST_CASE("minitron importance: layer-drop losses are the held-out loss increase without the layer(s)") {
  const Model& m = ztest::stories260K();
  CalibOptions co;
  co.samples = 4, co.len = 32, co.heldout = 1;
  std::vector<std::vector<int>> windows =
      sample_calibration(m, calibration_files({ztest::shared("data/tinystories")}), co).train;
  ImportanceOptions opt;
  opt.block = 2;
  Importance imp = compute_importance(m, windows, windows, opt);
  const int L = m.config.n_layers();
  REQUIRE(imp.drop_loss.size() == size_t(L));
  REQUIRE(imp.block_drop_loss.size() == size_t(L - 1));
  HeldoutLoss loss(m, windows, 1, EncoderLoss::Tokens, false);
  CHECK(imp.dense_loss == doctest::Approx(loss.dense_loss()));
  CHECK(imp.drop_loss[2] == doctest::Approx(loss.loss(keep_layers(m, {0, 1, 3, 4})) - loss.dense_loss()));
  CHECK(imp.block_drop_loss[1] == doctest::Approx(loss.loss(keep_layers(m, {0, 3, 4})) - loss.dense_loss()));
  for (double d : imp.drop_loss) CHECK(d > 0);  // every layer of a trained model matters
  // Encoders: 1 − cos to the dense final hidden states, per token (resumed, as for decoders).
  const Model& bert = ztest::tiny_bert();
  std::vector<std::vector<int>> bw = test_windows(bert);
  Importance bi = compute_importance(bert, bw, bw, {});
  HeldoutLoss bl(bert, bw, 1, EncoderLoss::Tokens, false);
  CHECK(bi.dense_loss == doctest::Approx(0.0));
  for (int l = 0; l < bert.config.n_layers(); l++)
    CHECK(bi.drop_loss[size_t(l)] == doctest::Approx(bl.loss(keep_layers(bert, layers_except(bert.config.n_layers(), {l})))));
  std::string summary = importance_summary(imp);
  CHECK_HAS(summary, "importance from 4 windows (128 tokens)");
  CHECK_HAS(summary, "dropping 2 consecutive layers");
}

TEST_CASE("cli: zip importance prints the per-layer table, or every score as JSON") {
  std::string model = ztest::shell_quote(ztest::stories260K_zlm());
  std::string calib = ztest::shell_quote(ztest::shared("data/tinystories"));
  auto r = ztest::run_zip("importance " + model + " --calib " + calib + " --windows 4 --len 32 --loss-windows 2 -t 1 --json");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  nlohmann::json j = nlohmann::json::parse(r.out);
  const ModelConfig& c = ztest::stories260K().config;
  CHECK(j["windows"] == 4);
  CHECK(j["tokens"] == 128);
  CHECK(j["heads"].size() == size_t(c.n_layers()));
  CHECK(j["heads"][0].size() == size_t(c.layers[0].n_heads()));
  CHECK(j["kv_groups"][0].size() == size_t(c.layers[0].n_kv_heads()));
  CHECK(j["neurons"][0].size() == size_t(c.layers[0].ffn_dim));
  CHECK(j["channels"].size() == size_t(c.dim));
  CHECK(j["drop_loss"].size() == size_t(c.n_layers()));
  auto t = ztest::run_zip("importance " + model + " --calib " + calib + " --windows 4 --len 32 --loss-windows 0 -t 1");
  REQUIRE_MESSAGE(t.status == 0, t.err);
  CHECK_HAS(t.out, "importance from 4 windows (128 tokens)");
  CHECK(t.out.find("dense held-out loss") == std::string::npos);  // --loss-windows 0: no drop losses
  CHECK(ztest::count_lines(t.out) == c.n_layers() + 3);
  ztest::check_clean_failure(ztest::run_zip("importance " + model));  // no --calib
}
