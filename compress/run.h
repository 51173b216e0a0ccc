// The stages of one `zip compress` run, as public functions over the state the members share
// (CompressRun): calibrate → rank (per method) → time (latency table) → per member: search,
// stitch, re-measure until in band, evaluate, save → report. compress_family (pipeline.h) chains
// them; each can be called on its own (tests, other methods' drivers).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compress/heldout_loss.h"
#include "compress/latency_source.h"
#include "compress/member.h"
#include "compress/options.h"
#include "compress/ranking.h"
#include "engine/model.h"
#include "engine/progress.h"

namespace zip {

namespace distill {
struct TokenData;
}

// Progress bars by phase label, one at a time.
struct PhaseProgress {
  std::unique_ptr<Progress> bar;
  std::string label;
  void operator()(const std::string& l, int done, int total);
};

struct CompressRun {
  explicit CompressRun(const CompressOptions& o) : opt(o) {}
  const CompressOptions& opt;
  Model dense;
  std::string model_path, model_hash, db_root;
  std::string search_loss;  // opt.search_loss resolved for the model
  CalibSet calib;
  std::map<std::string, std::shared_ptr<const Ranking>> rankings;  // by ranking_key
  // The search windows, and the held-out windows the search never sees (none when
  // --search-windows takes them all): the report's check that a member's loss generalises.
  std::unique_ptr<HeldoutLoss> heldout, unseen;
  std::shared_ptr<LatencySource> latency;
  LatencyTable table;
  double dense_measured = 0;  // the dense model end to end (0: not yet)
  // How much slower than the table each re-measured member ran: predicted / measured speedup,
  // one entry per round of every member. On a shared machine the table is off by a factor that
  // persists through a run (the table was timed in another spell): a member's first budget aims
  // through the median of all earlier rounds, its corrections through the median of that prior
  // and its own rounds (not through the last, noisy, round alone).
  std::vector<double> table_scale;
  std::map<std::string, std::vector<double>> search_centre;  // per ranking key: the probed c⁰
  PhaseProgress progress;
  // Gradual mode: the member the next one is pruned from (null: the dense model). Rankings,
  // search and stitching work on it; the latency table, the held-out losses, the timing base and
  // the distillation teacher stay the dense model's.
  const Model* parent = nullptr;
  std::string parent_path, parent_hash;
  std::vector<std::string> db_models;  // hashes of the parents whose databases this run built
  std::shared_ptr<const distill::TokenData> distill_data;  // loaded once (compress/distill_member.h)
  std::vector<LayerStats> projection_h;  // --method minitron --obs-update: H of every W_O, W_2 input

  const Model& source() const { return parent ? *parent : dense; }
  void log(const std::string& s) const {
    if (opt.log) opt.log(s);
  }
  const Ranking& ranking(PruneMethod m) const;
};

// Loads the dense model and resolves what depends on it (search loss, database folder).
void open_dense(CompressRun& r, const std::string& model_path);
// Stage 1: the calibration windows (logged).
void calibrate(CompressRun& r);
// The search and unseen held-out losses: the separate search windows when the calibration drew
// them (--search-len), every held-out window then unseen; else the first --search-windows
// held-out windows and the rest. Host-side work: see heldout_loss.h.
void make_heldout_losses(CompressRun& r);
// Stage 2: each method's ranking (methods sharing a ranking key share one).
void rank_methods(CompressRun& r, const std::vector<PruneMethod>& methods);
// Stage 3: the latency table for every level of every ranking (cached under the database folder
// unless the options bring their own latency source).
void time_rankings(CompressRun& r);

// --resume: the table the interrupted run recorded stands in for stage 3.
void adopt_table(CompressRun& r, const LatencyTable& t);
// The database folder, its size now and whether it is kept (report.json "database").
nlohmann::json database_summary(const CompressRun& r);
// Removes what this run's database holds: the whole default OUT_DIR/.db; in a --db folder, the
// model's own subfolder (and the folder when that leaves it empty), never anything else there.
void remove_database(const CompressRun& r);

// Perplexity (decoders) or STS-B Spearman (encoders) of `m` on opt.eval_file (nothing without one).
struct EvalResult {
  std::optional<double> ppl, spearman;
  std::optional<int64_t> eval_tokens, eval_pairs;
};
EvalResult evaluate(const CompressOptions& o, const Model& m);

// Stages 4–6 for one member: search, stitch, re-measure until in band, evaluate, save.
MemberReport compress_member(CompressRun& r, PruneMethod method, double target);
// --recipe: one member of an earlier report rebuilt exactly (same ranking, same levels).
MemberReport replay_member(CompressRun& r, const MemberReport& recorded);
// Writes `m` to `path` with the member's recipe in its provenance.
void save_member(const CompressRun& r, Model& m, const MemberReport& member, const std::string& path);

// The member as it ships: its float weights quantised to the environment's weight type
// (--env dtype=), the type its speedup is measured in; unchanged without one.
void to_env_weights(const CompressRun& r, Model& m);

int64_t weight_count(const Model& m);
std::optional<DType> weight_type(const Model& m);  // its matrices' (the first 2-D float tensor's)  // parameters, tokenizer tensors aside
std::string target_label(double target);  // "1.50x"
// "<method>-<target>x.zlm"; a member that missed its target: "<method>-<target>x-failed.zlm".
std::string member_file_name(const std::string& method, double target, bool failed);

}  // namespace zip
