#include "compress/run.h"
#include "compress/host_backend.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "compress/rank.h"
#include "engine/quant/quantize_model.h"
#include "engine/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/similarity.h"
#include "engine/file_io.h"
#include "engine/forward.h"
#include "engine/zlm.h"
#include "base/stopwatch.h"

namespace zip {

namespace fs = std::filesystem;

void PhaseProgress::operator()(const std::string& l, int done, int total) {
  if (!bar || l != label) bar = std::make_unique<Progress>(l, total), label = l;
  bar->update(done);
  if (done >= total) bar->finish(), bar.reset(), label.clear();
}

const Ranking& CompressRun::ranking(PruneMethod m) const {
  auto it = rankings.find(ranking_key(m, opt));
  if (it == rankings.end()) fail("internal: no ranking for {}", prune_method_name(m));
  return *it->second;
}

std::optional<DType> weight_type(const Model& m) {
  for (const auto& [name, t] : m.tensors)
    if (t.ndim() == 2 && is_float(t.dtype) && name.rfind("tokenizer.", 0) != 0) return t.dtype;
  return std::nullopt;
}

void to_env_weights(const CompressRun& r, Model& m) {
  if (r.opt.env.weights) quant::quantize_model(m, *r.opt.env.weights, r.opt.threads);
}

void open_dense(CompressRun& r, const std::string& model_path) {
  r.model_path = model_path;
  r.dense = load_zlm(model_path);
  // Prunes with OBS and distills in float (issue 25 item 4): a usage error (exit 2), one line.
  if (quant::has_block_weights(r.dense))
    throw UsageError("zip compress needs float weights and this model has quantized ones: make a float copy with "
                     "zip quantize MODEL.zlm -o MODEL-f32.zlm --type f32");
  r.model_hash = zlm_content_hash(model_path);
  if (r.opt.dtype && weight_type(r.dense) != r.opt.dtype) {
    // Converted before anything is measured: the database, the table and the guarantee see the
    // members' weight type. Its own database folder: the statistics come from other weights.
    for (auto& [name, t] : r.dense.tensors)
      if (t.ndim() == 2 && is_float(t.dtype) && name.rfind("tokenizer.", 0) != 0) t = t.converted(*r.opt.dtype);
    r.model_hash += std::string("-") + dtype_name(*r.opt.dtype);
  }
  r.search_loss = resolve_search_loss(r.dense.config, r.opt.search_loss);
  r.db_root = r.opt.db_root.empty() ? (fs::path(r.opt.out_dir) / ".db").string() : r.opt.db_root;
}

void calibrate(CompressRun& r) {
  const CompressOptions& o = r.opt;
  std::vector<std::string> files = calibration_files(o.calib_paths);
  r.calib = sample_calibration(r.dense, files, o.calib);
  size_t train_tokens = 0;
  for (const auto& w : r.calib.train) train_tokens += w.size();
  const std::string windows =
      o.calib.sentences ? fmt::format("whole sentences, mean {:.1f}, at most {}",
                                      double(train_tokens) / double(r.calib.train.size()), o.calib.len)
                        : std::to_string(o.calib.len);
  const std::string search =
      r.calib.search.empty()
          ? std::string()
          : fmt::format("; {} search windows of {} tokens apart{}", r.calib.search.size(), r.calib.search[0].size(),
                        r.calib.search_folders.empty() ? std::string()
                                                       : fmt::format(", in turn from {} folders", r.calib.search_folders.size()));
  r.log(fmt::format("calibration: {} files, {} + {} held-out windows of {} tokens (key {}){}", files.size(),
                    r.calib.train.size(), r.calib.heldout.size(), windows, r.calib.key, search));
}

void make_heldout_losses(CompressRun& r) {
  const auto& h = r.calib.heldout;
  const bool separate = !r.calib.search.empty();
  const auto split = separate ? h.begin() : h.begin() + std::min<ptrdiff_t>(r.opt.search_windows, ptrdiff_t(h.size()));
  const EncoderLoss enc = r.search_loss == "pooled"       ? EncoderLoss::Pooled
                          : r.search_loss == "similarity" ? EncoderLoss::Similarity
                                                          : EncoderLoss::Tokens;
  r.heldout = std::make_unique<HeldoutLoss>(r.dense, separate ? r.calib.search : std::vector<std::vector<int>>(h.begin(), split),
                                            r.opt.threads, enc);
  if (split != h.end())
    r.unseen = std::make_unique<HeldoutLoss>(r.dense, std::vector<std::vector<int>>(split, h.end()), r.opt.threads, enc,
                                             /*keep_dense_probs=*/false);
}

void rank_methods(CompressRun& r, const std::vector<PruneMethod>& methods) {
  RankInputs in{r.db_root, r.model_hash, [&r](const std::string& l, int d, int t) { r.progress(l, d, t); }};
  for (PruneMethod m : methods) {
    const std::string key = ranking_key(m, r.opt);
    if (r.rankings.count(key)) continue;
    auto t0 = std::chrono::steady_clock::now();
    r.rankings[key] = rank(r.dense, m, r.calib, r.opt, in);
    r.log(fmt::format("database {}: {} layers ready in {:.1f} s", key, r.dense.config.n_layers(), seconds_since(t0)));
  }
}

void time_rankings(CompressRun& r) {
  std::set<AttnLevel> attn;
  std::set<int> ffn;
  for (const auto& [key, ranking] : r.rankings) add_ranking_levels(r.dense, *ranking, attn, ffn);
  // Gradual steps search from pruned parents whose rankings reach other (heads, KV heads) pairs
  // than the dense ranking: the one table holds every level a layer of the dense model can take.
  if (r.opt.gradual)
    for (const LayerShape& s : r.dense.config.layers)
      if (s.has_attention())
        for (const AttnLevel& a : feasible_attention_levels(s)) attn.insert(a);
  if (!r.latency) r.latency = r.opt.latency ? r.opt.latency : std::shared_ptr<LatencySource>(engine_latency(r.opt.env, r.opt.timing));
  // A latency source the options bring (tests' synthetic one) is not the engine's: never cached.
  const std::string cache = r.opt.latency ? "" : latency_cache_path(r.db_root, r.model_hash, r.opt.env, r.opt.timing);
  TimedTable t = time_levels(r.dense, attn, ffn, *r.latency, r.opt.env, cache, r.opt.log ? r.opt.log : [](const std::string&) {},
                             [&r](int d, int n) { r.progress("latency table", d, n); });
  r.table = t.table;
  r.dense_measured = t.dense_measured;
}

void adopt_table(CompressRun& r, const LatencyTable& t) {
  if (!r.latency) r.latency = r.opt.latency ? r.opt.latency : std::shared_ptr<LatencySource>(engine_latency(r.opt.env, r.opt.timing));
  r.latency->use_table(t);
  r.table = t;
}

namespace {
bool default_db(const CompressRun& r) { return r.opt.db_root.empty(); }
std::string db_owned(const CompressRun& r) {
  return default_db(r) ? r.db_root : (fs::path(r.db_root) / r.model_hash).string();
}
int64_t folder_bytes(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) n += int64_t(it->file_size(ec));
  return n;
}
}  // namespace

nlohmann::json database_summary(const CompressRun& r) {
  return {{"path", db_owned(r)}, {"bytes", folder_bytes(db_owned(r))}, {"kept", r.opt.keep_db}};
}

void remove_database(const CompressRun& r) {
  std::error_code ec;
  fs::remove_all(db_owned(r), ec);
  if (!default_db(r))
    for (const std::string& h : r.db_models) fs::remove_all(fs::path(r.db_root) / h, ec);  // gradual parents'
  if (!default_db(r)) fs::remove(r.db_root, ec);  // only when empty
}

EvalResult evaluate(const CompressOptions& o, const Model& m) {
  EvalResult out;
  if (o.eval_file.empty()) return out;
  // Host-side, as calibration and the held-out losses (compress/host_backend.h).
  auto backend = make_host_backend(o.threads);
  Tokenizer tok(m.tokenizer);
  if (m.config.info().causal) {
    PerplexityOptions po;
    po.ctx = std::min(o.eval_ctx, m.config.max_seq_len);
    po.stride = po.ctx;
    po.max_tokens = o.eval_tokens;
    InferenceContext ctx(m, *backend, po.ctx);
    PerplexityResult p = eval_perplexity(ctx, nullptr, tok, read_file(o.eval_file), po);
    out.ppl = p.ppl, out.eval_tokens = int64_t(p.tokens);
  } else {
    InferenceContext ctx(m, *backend);
    SimilarityResult s = eval_similarity(ctx, tok, load_sentence_pairs(o.eval_file));
    out.spearman = s.spearman, out.eval_pairs = int64_t(s.pairs);
  }
  return out;
}

void save_member(const CompressRun& r, Model& m, const MemberReport& member, const std::string& path) {
  nlohmann::json prov = r.dense.provenance;
  // A gradual step's parent is the member it was pruned from.
  prov["parent"] = r.parent ? nlohmann::json{{"file", r.parent_path}, {"hash", r.parent_hash}}
                            : nlohmann::json{{"file", r.model_path}, {"hash", r.model_hash}};
  // The parent's shape per layer [heads, KV heads, FFN width], so that `zip inspect` can say
  // what was kept of what without the parent file.
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerShape& s : r.source().config.layers) layers.push_back({s.n_heads(), s.n_kv_heads(), s.ffn_dim});
  prov["parent"]["layers"] = layers;
  if (r.parent) prov["dense"] = {{"file", r.model_path}, {"hash", r.model_hash}};
  nlohmann::json c = member.to_json();
  c.erase("layers");
  c.erase("search_s");  // a wall time: the same member from a resumed run is the same file
  if (c.contains("distill")) c["distill"].erase("seconds");
  if (c.contains("database_s")) c.erase("database_s");
  c["env"] = env_to_string(r.opt.env);
  c["calibration"] = {{"key", r.calib.key}, {"samples", r.opt.calib.samples}, {"len", r.opt.calib.len},
                      {"heldout", r.opt.calib.heldout}, {"seed", r.opt.calib.seed}};
  if (r.table.t_dense > 0) c["latency_table"] = r.table.to_json();
  prov["recipe"] = c;
  m.provenance = prov;
  save_zlm(m, path);
}

int64_t weight_count(const Model& m) {
  int64_t n = 0;
  for (const auto& [name, t] : m.tensors)
    if (name.rfind("tokenizer.", 0) != 0) n += t.numel();
  return n;
}

std::string target_label(double t) { return fmt::format("{:.2f}x", t); }

std::string member_file_name(const std::string& method, double target, bool failed) {
  return fmt::format("{}-{}{}.zlm", method, target_label(target), failed ? "-failed" : "");
}

}  // namespace zip
