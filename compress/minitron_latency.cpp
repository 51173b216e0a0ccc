#include "compress/minitron_latency.h"

#include <algorithm>
#include <set>

#include "compress/slice_axes.h"
#include "compress/timing_spread.h"
#include "engine/error.h"
#include "prune/minitron/importance_math.h"

namespace zip {

double UniformLatency::predict(const ModelConfig& dense, const minitron::UniformShape& s) const {
  (void)dense;
  const AttnLevel a{s.n_kv_heads * s.q_per_kv, s.n_kv_heads};
  const std::vector<AttnLevel> attn(size_t(s.n_layers), a);
  const std::vector<int> ffn(size_t(s.n_layers), s.ffn_dim);
  return table.predict(attn, ffn) * factor(s.dim);
}

nlohmann::json UniformLatency::to_json() const {
  nlohmann::json dims = nlohmann::json::array();
  for (auto [d, t] : dim_times) dims.push_back({{"dim", d}, {"time_s", t}});
  return {{"table", table.to_json()}, {"dense_dim", dense_dim}, {"dim_fit", {{"a", a}, {"b", b}}}, {"dim_times", dims}};
}

UniformLatency UniformLatency::from_json(const nlohmann::json& j) {
  UniformLatency u;
  try {
    u.table = LatencyTable::from_json(j.at("table"));
    u.dense_dim = j.at("dense_dim"), u.a = j.at("dim_fit").at("a"), u.b = j.at("dim_fit").at("b");
    for (const auto& d : j.at("dim_times")) u.dim_times.push_back({d.at("dim").get<int>(), d.at("time_s").get<double>()});
  } catch (const nlohmann::json::exception& e) {
    fail("run state: the minitron latency record is damaged ({})", e.what());
  }
  return u;
}

std::pair<double, double> fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  ZIP_CHECK(x.size() == y.size() && !x.empty(), "fit_line: {} x for {} y", x.size(), y.size());
  const double n = double(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); i++) mx += x[i] / n, my += y[i] / n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); i++) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
  if (sxx <= 0) return {my, 0.0};
  const double b = sxy / sxx;
  return {my - b * mx, b};
}

namespace {

// The dense size and up to three grid points spread below it (a quarter, half, three quarters).
std::vector<int> fit_dims(const std::vector<int>& grid) {
  std::set<int> pick = {grid.back()};
  const int n = int(grid.size());
  for (int q = 1; q <= 3 && n > 1; q++) pick.insert(grid[size_t(std::min(n - 1, (n - 1) * q / 4))]);
  return {pick.begin(), pick.end()};
}

}  // namespace

UniformLatency time_uniform_shapes(CompressRun& r, const minitron::ShapeAxes& axes, const std::vector<double>& channel_importance) {
  std::set<AttnLevel> attn;
  for (int kv : axes.kv_heads)
    for (int q : axes.q_per_kv) attn.insert({kv * q, kv});
  std::set<int> ffn(axes.ffn.begin(), axes.ffn.end());
  if (!r.latency) r.latency = r.opt.latency ? r.opt.latency : std::shared_ptr<LatencySource>(engine_latency(r.opt.env, r.opt.timing));
  const std::string cache = r.opt.latency ? "" : latency_cache_path(r.db_root, r.model_hash, r.opt.env, r.opt.timing);
  TimedTable t = time_levels(r.dense, attn, ffn, *r.latency, r.opt.env, cache, [&r](const std::string& s) { r.log(s); },
                             [&r](int d, int n) { r.progress("latency table", d, n); });
  r.table = t.table;
  r.dense_measured = t.dense_measured;
  UniformLatency u;
  u.table = t.table;
  u.dense_dim = r.dense.config.dim;
  // Each size is timed in alternation with the dense model (the guarantee's paired timing): on a
  // shared machine a drift in speed between two separate timings would bend the line.
  std::vector<double> x, y;
  for (int d : fit_dims(axes.dim)) {
    if (d == r.dense.config.dim) continue;
    const Model m = slice_hidden(r.dense, minitron::top_k(channel_importance, d));
    const PairTiming p = measure_pair_trusted(*r.latency, r.dense, m, fmt::format("minitron: hidden size {}", d),
                                              [&r](const std::string& s) { r.log(s); });
    u.dim_times.push_back({d, p.model_s / p.dense_s * u.table.t_dense});
    x.push_back(double(d) / double(u.dense_dim)), y.push_back(p.model_s / p.dense_s);
  }
  x.push_back(1.0), y.push_back(1.0);
  u.dim_times.push_back({u.dense_dim, u.table.t_dense});
  std::tie(u.a, u.b) = fit_line(x, y);
  // φ(D) is 1 by construction of the table; the fit's value there corrects nothing else.
  const double at_dense = u.a + u.b;
  if (at_dense > 0) u.a /= at_dense, u.b /= at_dense;
  r.log(fmt::format("minitron: hidden-size factor φ(d) = {:.3f} + {:.3f}·d/{} from {} timed sizes", u.a, u.b, u.dense_dim,
                    u.dim_times.size()));
  return u;
}

}  // namespace zip
