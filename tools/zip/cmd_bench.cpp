// zip bench: prefill and decode throughput of a model on this machine.
#include <map>
#include <sstream>

#include "engine/backend.h"
#include "engine/bench.h"
#include "engine/error.h"
#include "engine/quant/quantize_model.h"
#include "engine/zlm.h"
#include "kernels/cpu/quant_repacked.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

static std::vector<int> parse_int_list(const std::string& s, const char* what) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096)
      throw UsageError(fmt::format("zip bench: {} must be a comma-separated list of integers in [1, 4096], got '{}'", what, s));
    out.push_back(int(v));
  }
  if (out.empty()) throw UsageError(fmt::format("zip bench: empty {} list", what));
  return out;
}

// --quantize: every 2-D float weight whose rows are whole blocks of `t` is quantised in memory
// through the reference quantiser (the rest stay as they are), so the quantized kernels can be
// timed on any .zlm. Returns how many tensors were quantised.
// --quantize-output puts the token embedding and output head (tok_embd, output) at their own type,
// as llama.cpp's mixes do (its Q4_0 keeps them at Q6_K, or Q8_0 where rows are not whole 256-blocks).
static int quantize_weights(Model& model, DType t, DType t_output) {
  int n = 0;
  for (auto& [name, w] : model.tensors) {
    const DType to = name == "tok_embd" || name == "output" ? t_output : t;
    if (w.ndim() == 2 && is_float(w.dtype) && w.dim(1) % dtype_block_elems(to) == 0) {
      w = w.converted(to);
      n++;
    }
  }
  return n;
}

static DType parse_block_type(const std::string& flag, const std::string& s) {
  DType t;
  if (!parse_dtype(s, &t) || !is_quantized(t))
    throw UsageError(fmt::format("zip bench: {} must be q8_0, q4_0, q5_0, q4_k or q6_k, got '{}'", flag, printable(s)));
  return t;
}

int cmd_bench(int argc, char** argv) {
  for (int i = 0; i < argc; i++)
    if (std::string(argv[i]) == "--train") return cmd_bench_train(argc, argv);
  Args args("bench",
            "MODEL.zlm [--batch 1,4] [--prompt N] [--gen N] [--reps N] [--warmup N] [-t THREADS] [--device DEV] [--act-terms 1|2] [--quantize TYPE [--quantize-output TYPE]] [--no-repack] [--json]",
            "Measures prefill tokens/s (a prompt of --prompt tokens per sequence) and decode tokens/s (--gen\n"
            "tokens after it) with real forward passes: warm-up first, then the median and min-max of --reps\n"
            "runs, for each batch size (independent sequences decoded together). Encoders: prefill only.\n"
            "zip bench --train measures training/distillation throughput instead (zip bench --train --help).",
            {{"--batch", "B1,B2", "batch sizes (default 1)"},
             {"--prompt", "N", "prompt tokens per sequence (default 128)"},
             {"--gen", "N", "decode steps (default 64)"},
             {"--reps", "N", "timed repetitions (default 5)"},
             {"--warmup", "N", "untimed warm-up runs (default 1)"},
             threads_option(),
             device_option(), act_terms_option(),
             {"--quantize", "TYPE", "quantise the matmul weights to TYPE in memory before timing (q8_0, q4_0, "
                                    "q5_0, q4_k, q6_k)"},
             {"--quantize-output", "TYPE", "with --quantize: the token embedding and output head at TYPE instead"},
             {"--no-repack", "", "Q8_0/Q4_0 weights: read the file's row layout instead of the interleaved copy made "
                                 "on first use (to compare the two)"},
             {"--json", "", "print JSON"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  const DeviceArg dev = device_arg(args);
  BenchOptions opt;
  opt.batches = parse_int_list(args.str("--batch", "1"), "--batch");
  opt.prompt = int(args.integer("--prompt", 128, 1, 1 << 20));
  opt.gen = int(args.integer("--gen", 64, 0, 1 << 20));
  opt.reps = int(args.integer("--reps", 5, 1, 1000));
  opt.warmup = int(args.integer("--warmup", 1, 0, 1000));
  std::string path = args.positional()[0];
  auto backend = backend_arg(dev);  // before loading: an unusable device fails fast
  Model model = load_zlm(path);
  if (args.has("--quantize")) {
    const std::string q = args.str("--quantize", "");
    const DType qt = parse_block_type("--quantize", q);
    const DType qo = args.has("--quantize-output") ? parse_block_type("--quantize-output", args.str("--quantize-output", "")) : qt;
    if (quantize_weights(model, qt, qo) == 0)
      throw UsageError(fmt::format("zip bench: no weight of {} has rows that are whole {} blocks", printable(path), q));
  } else if (args.has("--quantize-output")) {
    throw UsageError("zip bench: --quantize-output needs --quantize");
  }
  if (args.has("--no-repack")) cpu::set_repack_weights(false);
  std::vector<BenchResult> res = run_bench(model, *backend, opt);
  const std::string weights = quant::weight_type_summary(model);  // "f32", "bf16", "q4_k+q6_k+q8_0", ...
  size_t weight_bytes = 0;
  for (auto& [n, t] : model.tensors) weight_bytes += t.nbytes();
  int64_t rss = peak_rss_bytes();
  if (args.has("--json")) {
    nlohmann::json rows = nlohmann::json::array();
    for (auto& r : res) {
      nlohmann::json row = {{"batch", r.batch},
                            {"prefill_tps", {{"median", r.prefill_tps.median}, {"min", r.prefill_tps.min}, {"max", r.prefill_tps.max}}}};
      if (model.config.info().causal && opt.gen > 0)
        row["decode_tps"] = {{"median", r.decode_tps.median}, {"min", r.decode_tps.min}, {"max", r.decode_tps.max}};
      rows.push_back(row);
    }
    fmt::print("{}\n", nlohmann::json{{"model", path}, {"arch", model.config.info().name}, {"params", model.config.n_params()},
                                      {"weights", weights}, {"weight_bytes", weight_bytes}, {"device", dev.device}, {"backend", backend->name()},
                                      {"threads", backend->threads()},
                                      {"prompt", opt.prompt}, {"gen", opt.gen}, {"reps", opt.reps},
                                      {"peak_rss_bytes", rss}, {"interleaved_bytes", cpu::repacked_bytes()}, {"results", rows}}
                           .dump());
    return 0;
  }
  fmt::print("{}: {} {} parameters, {} weights | {} | prompt {}, gen {}, {} reps (median [min-max])\n", path,
             model.config.info().name, model.config.n_params(), weights, backend_label(*backend, dev), opt.prompt,
             opt.gen, opt.reps);
  fmt::print("{:>6}  {:>32}  {:>32}\n", "batch", "prefill tok/s", "decode tok/s");
  for (auto& r : res) {
    auto cell = [](const BenchStat& s) { return fmt::format("{:.1f} [{:.1f}-{:.1f}]", s.median, s.min, s.max); };
    fmt::print("{:>6}  {:>32}  {:>32}\n", r.batch, cell(r.prefill_tps),
               model.config.info().causal && opt.gen > 0 ? cell(r.decode_tps) : std::string("-"));
  }
  fmt::print("peak memory (RSS): {:.1f} MiB\n", double(rss) / (1 << 20));
  return 0;
}

}  // namespace zip::cli
