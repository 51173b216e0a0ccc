// zip compress: a family of pruned models that meet speedup targets measured on this engine.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "engine/config.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "compress/pipeline.h"
#include "compress/options.h"
#include "compress/report.h"
#include "compress/latency_source.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

static std::vector<double> parse_targets(const std::string& s) {
  std::vector<double> out;
  for (const std::string& item : split_list(s)) {
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !std::isfinite(v))
      throw UsageError(fmt::format("zip compress: --speedup: '{}' is not a number (targets are speedup factors "
                                   "over the dense model, e.g. 1.5,2)", item));
    if (v < 1.0 || v > 100)
      throw UsageError(fmt::format("zip compress: --speedup: {} is outside [1, 100]: a target is a speedup factor "
                                   "over the dense model (e.g. 1.5,2); pruning keeps the embeddings and LM head, so "
                                   "real models reach a few x at most", item));
    out.push_back(v);
  }
  return out;
}

// The model's architecture, read from its header alone (the defaults depend on it).
static ModelConfig model_config(const std::string& path) {
  require_regular_file(path);
  return config_from_json(inspect_zlm(path, /*verify_data=*/false).header.at("config"));
}

// The window flags as given; their defaults depend on the model (compress/options.h).
static WindowRequest window_request(const Args& args) {
  if (args.has("--calib-sentences") && args.has("--no-calib-sentences"))
    throw UsageError("zip compress: --calib-sentences and --no-calib-sentences exclude each other");
  WindowRequest w;
  if (args.has("--calib-sentences")) w.sentences = true;
  if (args.has("--no-calib-sentences")) w.sentences = false;
  auto count = [&](const char* flag, std::optional<int>& v, int64_t lo, int64_t hi) {
    if (args.has(flag)) v = int(args.integer(flag, 0, lo, hi));
  };
  count("--calib-len", w.len, 8, 1 << 20);
  count("--calib-samples", w.samples, 1, 1 << 20);
  count("--heldout", w.heldout, 1, 1 << 20);
  count("--search-windows", w.search_windows, 1, 1 << 20);
  count("--probe-windows", w.probe_windows, 1, 1 << 20);
  count("--search-len", w.search_len, 8, 1 << 20);
  w.search_by_folder = args.has("--search-by-folder");
  return w;
}

// Distillation and gradual mode (compress/distilled_family.h).
static void map_distill_flags(const Args& args, CompressOptions& o) {
  o.distill_tokens = args.integer("--distill-tokens", 0, 0, 1LL << 40);
  o.distill_data = args.str("--distill-data");
  o.distill_lr = args.number("--distill-lr", 0, 0, 1);
  o.distill_batch = int(args.integer("--distill-batch", o.distill_batch, 1, 1 << 16));
  o.distill_seq = int(args.integer("--distill-seq", o.distill_seq, 0, 1 << 20));
  o.distill_ckpt_every = int(args.integer("--distill-ckpt-every", o.distill_ckpt_every, 1, 1 << 30));
  o.distill_precision = precision_arg(args, "--distill-precision");
  o.gradual = args.has("--gradual");
  o.gradual_steps = int(args.integer("--gradual-steps", 0, 0, 100));
}

// --method minitron's budget by parameters, architecture search and distillation.
static void map_minitron_flags(const Args& args, CompressOptions& o) {
  const bool minitron = o.methods[0] == PruneMethod::Minitron;
  for (const char* f : {"--params", "--dim-step", "--nas-probe", "--nas-candidates", "--nas-steps", "--obs-update"})
    if (args.has(f) && !minitron) throw UsageError(fmt::format("zip compress: {} applies to --method minitron", f));
  if (args.has("--params")) {
    if (args.has("--speedup")) throw UsageError("zip compress: give one budget: --params F or --speedup LIST, not both");
    const double f = args.number("--params", 0.5, -1e9, 1e9);
    if (!(f > 0 && f < 1))
      throw UsageError(fmt::format("zip compress: --params {} is outside (0, 1): the fraction of the dense parameters to keep", f));
    o.params_fraction = f;
  }
  o.dim_step = int(args.integer("--dim-step", o.dim_step, 1, 1 << 20));
  o.nas_probe = int(args.integer("--nas-probe", o.nas_probe, 1, 1 << 20));
  o.nas_candidates = int(args.integer("--nas-candidates", o.nas_candidates, 1, 1 << 20));
  o.nas_steps = int(args.integer("--nas-steps", o.nas_steps, 0, 1 << 24));
  o.obs_update = args.has("--obs-update");
}

// Every other option: flag → field, the field's default when the flag is absent.
static void map_search_flags(const Args& args, CompressOptions& o) {
  o.db_root = args.str("--db");
  o.keep_db = args.has("--keep-db");
  o.resume = args.has("--resume");
  if (args.has("--dtype")) {
    DType d;
    if (!parse_dtype(args.str("--dtype"), &d) || !is_float(d))
      throw UsageError(fmt::format("zip compress: --dtype must be f32, f16 or bf16, got '{}'", printable(args.str("--dtype"))));
    o.dtype = d;
  }
  o.eval_file = args.str("--eval");
  if (!o.eval_file.empty()) require_regular_file(o.eval_file);
  o.eval_tokens = args.integer("--eval-tokens", o.eval_tokens, 2, 1LL << 40);
  o.ffn_step = int(args.integer("--ffn-step", o.ffn_step, 1, 1 << 20));
  o.block = int(args.integer("--block", o.block, 1, 1 << 20));
  if (o.env.weights) {
    if (o.dtype) throw UsageError("zip compress: --dtype and --env dtype= exclude each other (members take the environment's weight type)");
    // FFN widths in whole blocks of the weight type (ffn_down's rows are FFN-wide).
    const int b = quant::mix_block_elems(*o.env.weights);
    if (args.has("--ffn-step") && o.ffn_step % b != 0)
      throw UsageError(fmt::format("zip compress: --ffn-step {} is not a multiple of {}, the block of dtype={}", o.ffn_step, b,
                                   quant::quant_mix_name(*o.env.weights)));
    o.ffn_step = (o.ffn_step + b - 1) / b * b;
  }
  o.damp = args.number("--damp", o.damp, 0, 10);
  std::string err = args.str("--error", o.token_error ? "token" : "total");
  if (err != "token" && err != "total") throw UsageError("zip compress: --error must be token or total");
  o.token_error = err == "token";
  o.evaluations = int(args.integer("--evaluations", o.evaluations, 1, 10000));
  o.sensitivity = !args.has("--no-sensitivity");
  o.probe_density = args.number("--probe-density", o.probe_density, 0.0, 0.999);
  o.probe_shrink = args.number("--probe-shrink", o.probe_shrink, 0.0, 1.0);
  o.search_loss = args.str("--search-loss", "");  // checked against the model in compress_family
  o.aim = args.number("--aim", o.aim, kBandLow, kBandHigh);
  map_distill_flags(args, o);
  o.timing.reps = int(args.integer("--reps", o.timing.reps, 1, 1000));
  PruneMethod main = parse_prune_method(args.str("--method", prune_method_name(o.methods[0])));
  if (args.has("--no-update")) {
    if (main != PruneMethod::ZipLM) throw UsageError("zip compress: --no-update applies to --method ziplm");
    main = PruneMethod::ZipLMNoUpdate;
  }
  o.methods = {main};
  map_minitron_flags(args, o);
  if (args.has("--baselines")) {
    for (const std::string& name : split_list(args.str("--baselines"))) {
      PruneMethod m = parse_prune_method(name);
      if (std::find(o.methods.begin(), o.methods.end(), m) == o.methods.end()) o.methods.push_back(m);
    }
  }
}

int cmd_compress(int argc, char** argv) {
  Args args("compress", "MODEL.zlm --calib FILE_OR_DIR... --speedup 1.5,2 -o OUT_DIR [options]",
            "ZipLM: structured OBS pruning of attention heads and FFN neurons with a runtime-aware\n"
            "search against a latency table measured in place on this engine (docs/METHODS.md); or\n"
            "--method minitron: activation importance, uniform shapes ranked by short distillation. Writes one\n"
            "model per target (OUT_DIR/<method>-<target>x.zlm, each re-measured end to end), and\n"
            "OUT_DIR/report.json, report.md and report.svg. --recipe report.json rebuilds the\n"
            "members of an earlier run exactly. Exit status 3: a target was missed (--allow-miss: 0).\n"
            "See docs/COMPRESS.md.",
            {{"--method", "M", "ziplm (default), magnitude, uniform, minitron, importance (Minitron's importance + OBS update + ZipLM's search), importance-no-update"},
             {"--baselines", "LIST", "also build these methods in the same run: magnitude,uniform,no-update,importance,importance-no-update"},
             {"--no-update", "", "OBS ranking without the weight update (the ablation)"},
             {"--calib", "PATH", "calibration text: files, or folders walked for *.txt (repeatable)"},
             {"--calib-samples", "N", "calibration windows (default: 32,768 tokens' worth, 128 at L = 256, 1,024 sentences at L = 64)"},
             {"--calib-len", "L", "tokens per window (default 256; sentence windows: at most 64)"},
             {"--heldout", "N", "held-out windows for errors and the search (default 16, at least --search-windows)"},
             {"--search-windows", "N", "held-out windows the search loss runs on (default: 2,048 tokens' worth, 8 at L = 256)"},
             {"--calib-sentences", "", "encoders: each calibration window whole sentences, [CLS] … [SEP], at most --calib-len tokens (the default for models that pool a sentence embedding)"},
             {"--no-calib-sentences", "", "encoders that pool: windows of --calib-len tokens from anywhere in the text instead"},
             {"--search-by-folder", "", "draw the search windows apart, in turn from each folder of the calibration files, so each kind of text counts alike"},
             {"--search-len", "L", "draw the search windows apart, L tokens each from its own place of the text (L <= --calib-len); every held-out window is then unseen by the search"},
             {"--speedup", "LIST", "speedup targets, e.g. 1.25,1.5,2"},
             {"--params", "F", "minitron: a budget by parameters instead, the fraction F of the dense model's (0 < F < 1)"},
             {"--dim-step", "N", "minitron: hidden-size grid (default: dim/8, a multiple of 8; encoders keep their hidden size)"},
             {"--nas-probe", "N", "minitron: candidates scored one-shot by held-out KL (encoders: the encoder loss; default 32, spread over the shapes in budget)"},
             {"--nas-candidates", "N", "minitron: the best N of them (measured in band for --speedup) distilled briefly (default 4)"},
             {"--nas-steps", "N", "minitron: steps of each short distillation that ranks the candidates (default 200)"},
             {"--obs-update", "", "minitron: refit each candidate's W_O and W_2 over the kept heads and neurons (ZipLM's OBS update)"},
             {"--env", "ENV", "cpu:threads=2,batch=1,ctx=256,phase=decode (default)"},
             {"--db", "DIR", "database cache folder (default: OUT_DIR/.db); what the run puts there is removed at the end unless --keep-db"},
             {"--keep-db", "", "keep the database at the end, so that later runs (other targets or environments) reuse it"},
             {"--dtype", "TYPE", "members' weight type: f32, f16 or bf16 (default: the parent's)"},
             {"--allow-miss", "", "exit 0 even when a target is missed (infeasible, or measured outside [0.97, 1.10] x target)"},
             {"--resume", "", "continue the killed run in OUT_DIR: finished members are kept (checked by checksum), an interrupted distillation continues from its last checkpoint"},
             {"--distill-tokens", "N", "distill each member from the dense model on N tokens once it is in band (per member: each --gradual step gets N; minitron: the search's winner, 0 = it keeps its short distillation), then re-measure it as written"},
             {"--distill-data", "TOKENS.bin", "distill on this corpus (zip distill --data's format; default: the calibration windows minus the held-out ones)"},
             {"--distill-lr", "X", "peak distillation learning rate (default 0.1/dim, at most 1e-3)"},
             {"--distill-batch", "N", "distillation sequences per step (default 8)"},
             {"--distill-seq", "N", "distillation tokens per sequence (default min(256, context); encoders and minitron: --calib-len)"},
             {"--distill-ckpt-every", "N", "distillation steps between checkpoints (default 200)"},
             {"--distill-precision", "f32|bf16", "distillation's matrix products: f32 (the reference) or bf16 with f32 accumulation and master weights"},
             {"--gradual", "", "gradual mode: targets in increasing order, each member pruned from the previous distilled member (its database rebuilt on it)"},
             {"--gradual-steps", "K", "K intermediate targets between consecutive targets (each an output)"},
             {"--eval", "FILE", "perplexity text (decoders) or STS-B pairs (encoders) for the report"},
             {"--eval-tokens", "N", "tokens of the --eval text (default 65536)"},
             {"--ffn-step", "N", "FFN width grid (default 32)"},
             {"--block", "N", "neurons removed per OBS step (default 32)"},
             {"--damp", "X", "Hessian dampening (default 0.01)"},
             {"--error", "token|total", "level error: mean per-token relative error (default) or the paper's ratio of sums"},
             {"--evaluations", "N", "search loss evaluations per target (default 30)"},
             {"--no-sensitivity", "", "search around c = 1 instead of probed per-module sensitivities"},
             {"--probe-density", "X", "sensitivity probes keep this fraction of each module (default 0.5)"},
             {"--probe-windows", "N", "held-out windows each sensitivity probe runs on (default: 1,024 tokens' worth, 4 at L = 256)"},
             {"--probe-shrink", "A", "search centre median(c)^(1-A)*c^A: shrink the probes toward their median (default 1)"},
             {"--search-loss", "L", "search loss: decoders kl (default) or nll; encoders pooled (default if the model pools), similarity or tokens"},
             {"--aim", "X", "budgets aim at target × X (default 1.03, the middle of the accepted band 0.97..1.10)"},
             {"--reps", "N", "timed repetitions per measurement (default 7)"},
             {"--seed", "S", "calibration sampling and search seed (default 1)"},
             {"--recipe", "REPORT.json", "rebuild the members of an earlier report (no search)"},
             {"-t,--threads", "N", "threads for calibration and search (default: the --env threads)"},
             {"-o,--output", "OUT_DIR", "output folder"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  if (!args.has("-o")) throw UsageError("zip compress: missing -o OUT_DIR");
  const std::string model = args.positional()[0];
  CompressOptions o;
  o.out_dir = args.str("-o");
  o.calib_paths = args.all("--calib");
  if (args.has("--env")) o.env = parse_env(args.str("--env"));
  o.threads = int(args.integer("-t", o.env.threads, 1, 512));
  resolve_windows(o, model_config(model), window_request(args));
  o.calib.seed = uint64_t(args.integer("--seed", int64_t(o.calib.seed), 0, 1LL << 62));
  o.seed = o.calib.seed;
  map_search_flags(args, o);
  if (args.has("--recipe")) {
    const std::string path = args.str("--recipe");
    apply_recipe(o, read_file(path), path);
  } else {
    if (!args.has("--speedup") && !o.params_fraction) throw UsageError("zip compress: missing --speedup LIST (e.g. 1.5,2)");
    if (o.calib_paths.empty()) throw UsageError("zip compress: missing --calib FILE_OR_DIR");
    if (args.has("--speedup")) o.targets = parse_targets(args.str("--speedup"));
  }
  o.log = [](const std::string& s) { fmt::print(stderr, "{}\n", s); };
  o.latency = synthetic_latency_from_env();  // tests only: no timing
  if (const char* k = std::getenv("ZIP_COMPRESS_TEST_KILL_AFTER"))  // tests only: a kill between members
    o.after_member = [k = std::atoi(k)](int done) {
      if (done + 1 == k) ::raise(SIGKILL);
    };
  if (const char* k = std::getenv("ZIP_COMPRESS_TEST_KILL_KD")) {  // tests only: "MEMBER:STEP", a kill mid-distillation
    int member = -1, step = -1;
    if (std::sscanf(k, "%d:%d", &member, &step) == 2)
      o.after_distill_step = [member, step](int m, int s) {
        if (m == member && s == step) ::raise(SIGKILL);
      };
  }
  if (const char* k = std::getenv("ZIP_COMPRESS_TEST_KILL_AFTER_KD"))  // tests only: a kill mid-search (minitron)
    o.after_kd = [k = std::atoi(k)](int done) {
      if (done == k) ::raise(SIGKILL);
    };
  nlohmann::json report = compress_family(model, o);
  if (!args.has("--recipe")) fmt::print("{}", render_summary_table(report));
  fmt::print(stderr, "wrote {}/report.json\n", o.out_dir);
  const std::vector<std::string> misses = args.has("--recipe") ? std::vector<std::string>() : guarantee_misses(report);
  for (const std::string& m : misses) fmt::print(stderr, "zip compress: missed {}\n", m);
  if (!misses.empty() && !args.has("--allow-miss")) {
    fmt::print(stderr, "zip compress: {} target(s) missed (exit {}; --allow-miss accepts them)\n", misses.size(), kExitMissed);
    return kExitMissed;
  }
  return 0;
}

}  // namespace zip::cli
