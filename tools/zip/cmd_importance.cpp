// zip importance: Minitron activation importance of a model's heads, neurons, hidden channels
// and layers on calibration text (prune/minitron/importance.h).
#include <fmt/format.h>

#include <algorithm>

#include "compress/calibration.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/progress.h"
#include "engine/zlm.h"
#include "prune/minitron/importance.h"
#include "prune/minitron/importance_report.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_importance(int argc, char** argv) {
  Args args("importance", "MODEL.zlm --calib FILE_OR_DIR... [options]",
            "Scores attention heads (input of W_O), FFN neurons (input of W_2), hidden channels (every\n"
            "norm's output, summed) and layers (Block Importance 1 - cos(x_in, x_out); the held-out loss\n"
            "increase when the layer is dropped) as Minitron does (docs/METHODS.md §3.1): per channel the\n"
            "mean |activation| over a window's tokens, then the L2 norm over windows.",
            {{"--calib", "PATH", "calibration text: files, or folders walked for *.txt (repeatable)"},
             {"--windows", "N", "calibration windows to score (default 1,024, as the paper)"},
             {"--len", "L", "tokens per window (default 256; encoders that pool: sentences of at most 64)"},
             {"--loss-windows", "N", "further windows for the layer-drop losses (default 16; 0: skip them)"},
             {"--block", "K", "also the loss with K consecutive layers dropped, for every first layer"},
             {"--seed", "S", "window sampling seed (default 1)"},
             threads_option(),
             {"--json", "", "print every score as JSON"},
             {"-o,--output", "FILE.json", "also write every score as JSON to FILE.json"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  std::vector<std::string> calib = args.all("--calib");
  if (calib.empty()) throw UsageError("zip importance: missing --calib FILE_OR_DIR");
  Model m = load_zlm(args.positional()[0]);
  CalibOptions co;
  co.sentences = sentence_windows_by_default(m.config);
  co.len = int(args.integer("--len", default_window_len(co.sentences), 2, 1 << 20));
  co.samples = int(args.integer("--windows", 1024, 1, 1 << 20));
  const int loss_windows = int(args.integer("--loss-windows", 16, 0, 1 << 20));
  co.heldout = std::max(1, loss_windows);  // the sampler draws at least one
  co.seed = uint64_t(args.integer("--seed", 1, 0, 1LL << 62));
  minitron::ImportanceOptions io;
  io.threads = int(args.integer("-t", default_threads(), 1, 1024));
  io.block = int(args.integer("--block", 0, 0, 1 << 20));
  CalibSet set = sample_calibration(m, calibration_files(calib), co);
  std::unique_ptr<Progress> bar;
  std::string stage;
  io.progress = [&](const char* s, int done, int total) {
    if (stage != s || !bar || done == 1) {
      stage = s;
      bar = std::make_unique<Progress>(stage == "scores" ? "importance: windows" : "importance: layer drops", total);
    }
    bar->update(done);
    if (done == total) bar->finish();
  };
  minitron::Importance imp = minitron::compute_importance(m, set.train, loss_windows ? set.heldout : std::vector<std::vector<int>>{}, io);
  bar.reset();
  nlohmann::json j = minitron::importance_to_json(imp);
  if (args.has("-o")) write_file_atomic(args.str("-o"), j.dump() + "\n");
  if (args.has("--json"))
    fmt::print("{}\n", j.dump());
  else
    fmt::print("{}", minitron::importance_summary(imp));
  return 0;
}

}  // namespace zip::cli
