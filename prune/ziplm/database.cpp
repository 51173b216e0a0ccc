#include "prune/ziplm/database.h"

#include <filesystem>

#include "engine/error.h"
#include "engine/file_io.h"
#include "base/thread_pool.h"
#include "compress/slice.h"

namespace zip {

namespace fs = std::filesystem;

static const char* mode_name(ObsMode m) {
  switch (m) {
    case ObsMode::Obs: return "obs";
    case ObsMode::ObsNoUpdate: return "obs-noupdate";
    case ObsMode::Magnitude: return "magnitude";
  }
  return "?";
}

std::string DbOptions::method_key() const {
  const char* err = token_error ? "-etok" : "";
  if (mode == ObsMode::Magnitude) return fmt::format("magnitude-f{}{}", ffn_step, err);
  const std::string order = order_name.empty() ? "" : order_name + "-";
  return fmt::format("{}{}-d{}-f{}-b{}{}", order, mode_name(mode), damp, ffn_step, block, err);
}

std::vector<int> ffn_width_grid(int ffn_dim, int step) {
  ZIP_CHECK(step > 0, "--ffn-step must be positive");
  std::vector<int> w = {ffn_dim};
  for (int x = (ffn_dim - 1) / step * step; x >= 0; x -= step) w.push_back(x);
  if (w.back() != 0) w.push_back(0);
  return w;
}

Database::Database(std::string root, const std::string& model_key, const std::string& calib_key) {
  dir_ = (fs::path(root) / model_key / calib_key).string();
  std::error_code ec;
  fs::create_directories(fs::path(dir_) / "stats", ec);
  ZIP_CHECK(!ec, "cannot create the database folder {}: {}", dir_, ec.message());
}

std::string Database::stats_path(int layer) const { return fmt::format("{}/stats/layer-{}.db", dir_, layer); }
std::string Database::levels_path(const DbOptions& o, int layer) const {
  return fmt::format("{}/{}/layer-{}.db", dir_, o.method_key(), layer);
}

// A file counts as present only if it reads back whole (a damaged one is recomputed).
static bool readable(const std::string& path) {
  if (!file_exists(path)) return false;
  try {
    DbFile::open(path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool Database::has_stats(int n_layers) const {
  for (int l = 0; l < n_layers; l++) {
    if (!file_exists(stats_path(l))) return false;
    try {
      if (!DbFile::open(stats_path(l)).has("gt_ffn")) return false;  // written by an older version
    } catch (const Error&) {
      return false;  // damaged: recollect
    }
  }
  return true;
}

void Database::save_stats(int layer, const LayerStats& s) const {
  nlohmann::json meta = {{"layer", layer}, {"attn_cols", s.attn_cols}, {"ffn_cols", s.ffn_cols}};
  write_db_file(stats_path(layer), meta,
                {{"h_attn", ArrayType::F64, s.h_attn.data(), s.h_attn.size()},
                 {"g_attn", ArrayType::F64, s.g_attn.data(), s.g_attn.size()},
                 {"h_ffn", ArrayType::F64, s.h_ffn.data(), s.h_ffn.size()},
                 {"g_ffn", ArrayType::F64, s.g_ffn.data(), s.g_ffn.size()},
                 {"gt_attn", ArrayType::F64, s.gt_attn.data(), s.gt_attn.size()},
                 {"gt_ffn", ArrayType::F64, s.gt_ffn.data(), s.gt_ffn.size()}});
}

LayerStats Database::load_stats(int layer) const {
  DbFile f = DbFile::open(stats_path(layer));
  LayerStats s;
  s.attn_cols = f.meta().at("attn_cols").get<int>();
  s.ffn_cols = f.meta().at("ffn_cols").get<int>();
  s.h_attn = f.f64("h_attn");
  s.g_attn = f.f64("g_attn");
  s.h_ffn = f.f64("h_ffn");
  s.g_ffn = f.f64("g_ffn");
  s.gt_attn = f.f64("gt_attn");
  s.gt_ffn = f.f64("gt_ffn");
  ZIP_CHECK(s.h_attn.size() == size_t(s.attn_cols) * size_t(s.attn_cols) &&
                s.h_ffn.size() == size_t(s.ffn_cols) * size_t(s.ffn_cols),
            "{}: statistics of the wrong size", stats_path(layer));
  return s;
}

bool Database::has_levels(const DbOptions& o, int layer) const { return readable(levels_path(o, layer)); }

const DbFile& Database::level_file(const DbOptions& o, int layer) const {
  std::string path = levels_path(o, layer);
  auto it = open_.find(path);
  if (it == open_.end()) it = open_.emplace(path, std::make_shared<DbFile>(DbFile::open(path))).first;
  return *it->second;
}

namespace {

// One module's levels: OBS (or a baseline ranking) over the columns of its output projection.
struct BuiltModule {
  ModuleDb levels;
  std::vector<std::vector<float>> weights;  // per level, when updated
};

BuiltModule prune_module(const Tensor& w_tensor, int group, const std::vector<double>& h, const std::vector<double>& g,
                         const std::vector<int>& removed_levels, const std::vector<int>& order, const DbOptions& o,
                         ThreadPool& pool) {
  Tensor w32 = w_tensor.converted(DType::F32);
  const int rows = int(w32.shape[0]), cols = int(w32.shape[1]);
  ObsOptions opt;
  opt.mode = o.mode;
  opt.damp = o.damp;
  opt.block = group == 1 ? o.block : 1;
  opt.order = order;
  opt.pool = &pool;
  ObsResult r = obs_prune(w32.ptr<float>(), rows, cols, group, h.data(), removed_levels, opt);
  BuiltModule b;
  b.levels.structures = cols / group;
  b.levels.order = r.order;
  b.levels.updated = o.mode == ObsMode::Obs;
  OutputError err(w32.ptr<float>(), rows, cols, g.data(), &pool);
  for (ObsLevel& lv : r.levels) {
    b.levels.kept.push_back(lv.kept);
    b.levels.error.push_back(lv.removed == 0 ? 0.0 : err(lv.w.data(), group, lv.kept));
    b.weights.push_back(b.levels.updated ? std::move(lv.w) : std::vector<float>());
  }
  return b;
}

}  // namespace

void Database::build_levels(const Model& dense, int layer, const LayerStats& s, const DbOptions& o) const {
  const ModelConfig& c = dense.config;
  const LayerShape& sh = c.layers[size_t(layer)];
  ThreadPool pool(o.threads);
  auto order_of = [&](const std::vector<std::vector<int>>& orders) {
    ZIP_CHECK(o.order_name.empty() == orders.empty(), "internal: removal order '{}' without per-layer orders", o.order_name);
    return orders.empty() ? std::vector<int>() : orders.at(size_t(layer));
  };
  BuiltModule attn, ffn;
  if (sh.has_attention()) {
    std::vector<int> levels;
    for (int k = 0; k <= sh.n_heads(); k++) levels.push_back(k);
    attn = prune_module(dense.get(layer_tensor(layer, "attn_output")), c.head_dim, s.h_attn, o.token_error ? s.gt_attn : s.g_attn, levels,
                        order_of(o.attn_order), o, pool);
  }
  if (sh.has_ffn()) {
    std::vector<int> levels;
    for (int w : ffn_width_grid(sh.ffn_dim, o.ffn_step)) levels.push_back(sh.ffn_dim - w);
    ffn = prune_module(dense.get(layer_tensor(layer, "ffn_down")), 1, s.h_ffn, o.token_error ? s.gt_ffn : s.g_ffn, levels,
                       order_of(o.ffn_order), o, pool);
  }
  nlohmann::json meta = {{"layer", layer}, {"method", o.method_key()}};
  std::vector<ArrayOut> arrays;
  // Weights stored as bf16; moving a vector keeps its buffer, so the pointers stay valid.
  std::vector<std::vector<uint16_t>> bf16;
  for (auto [name, b] : {std::pair<const char*, BuiltModule*>{"attn", &attn}, {"ffn", &ffn}}) {
    const ModuleDb& m = b->levels;
    meta[name] = {{"structures", m.structures}, {"order", m.order}, {"kept", m.kept},
                  {"error", m.error},           {"updated", m.updated}};
    for (size_t i = 0; i < b->weights.size(); i++) {
      const std::vector<float>& w = b->weights[i];
      if (w.empty()) continue;
      std::vector<uint16_t> h(w.size());
      for (size_t k = 0; k < w.size(); k++) h[k] = f32_to_bf16(w[k]);
      arrays.push_back({fmt::format("{}.{}", name, i), ArrayType::BF16, h.data(), h.size()});
      bf16.push_back(std::move(h));
    }
  }
  std::error_code ec;
  fs::create_directories(fs::path(levels_path(o, layer)).parent_path(), ec);
  ZIP_CHECK(!ec, "cannot create {}: {}", fs::path(levels_path(o, layer)).parent_path().string(), ec.message());
  write_db_file(levels_path(o, layer), meta, arrays);
}

LayerDb Database::load_levels(const DbOptions& o, int layer) const {
  const DbFile& f = level_file(o, layer);
  LayerDb out;
  for (auto [name, m] : {std::pair<const char*, ModuleDb*>{"attn", &out.attn}, {"ffn", &out.ffn}}) {
    const nlohmann::json& j = f.meta().at(name);
    m->structures = j.at("structures").get<int>();
    m->order = j.at("order").get<std::vector<int>>();
    m->kept = j.at("kept").get<std::vector<std::vector<int>>>();
    m->error = j.at("error").get<std::vector<double>>();
    m->updated = j.at("updated").get<bool>();
    ZIP_CHECK(m->kept.size() == m->error.size(), "{}: damaged level table", levels_path(o, layer));
  }
  return out;
}

Tensor Database::level_weight(const Model& dense, const DbOptions& o, int layer, bool attn, const ModuleDb& m,
                              int level) const {
  const Tensor& w = dense.get(layer_tensor(layer, attn ? "attn_output" : "ffn_down"));
  const std::vector<int>& kept = m.kept.at(size_t(level));
  const int group = attn ? dense.config.head_dim : 1;
  if (!m.updated) {
    std::vector<int> cols;
    for (int s : kept)
      for (int k = 0; k < group; k++) cols.push_back(s * group + k);
    return take_cols(w, cols);
  }
  std::vector<float> v = level_file(o, layer).f32(fmt::format("{}.{}", attn ? "attn" : "ffn", level));
  int64_t rows = w.shape[0], cols = int64_t(kept.size()) * group;
  ZIP_CHECK(int64_t(v.size()) == rows * cols, "database layer {}: level {} weights have the wrong size", layer, level);
  return Tensor::from_floats(v, {rows, cols}, is_float(w.dtype) ? w.dtype : DType::F32);
}

std::vector<LayerDb> build_database(const Model& dense, const Database& db, const CalibSet& calib,
                                        const DbOptions& o, const std::function<void(const char*, int, int)>& progress) {
  const int L = dense.config.n_layers();
  std::vector<int> missing;
  for (int l = 0; l < L; l++)
    if (!db.has_levels(o, l)) missing.push_back(l);
  std::vector<LayerStats> stats;
  if (!missing.empty() && !db.has_stats(L)) {
    stats = collect_layer_stats(dense, calib, o.threads, [&](int d, int t) {
      if (progress) progress("calibration", d, t);
    });
    for (int l = 0; l < L; l++) db.save_stats(l, stats[size_t(l)]);
  }
  for (size_t i = 0; i < missing.size(); i++) {
    int l = missing[i];
    LayerStats s = stats.empty() ? db.load_stats(l) : std::move(stats[size_t(l)]);
    db.build_levels(dense, l, s, o);
    if (progress) progress("database", int(i + 1), int(missing.size()));
  }
  std::vector<LayerDb> out;
  for (int l = 0; l < L; l++) out.push_back(db.load_levels(o, l));
  return out;
}

}  // namespace zip
