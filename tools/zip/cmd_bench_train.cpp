// zip bench --train: tokens/s, time split, peak RSS and MFU of distillation or training steps
// (distill/throughput.h for the steps and the FLOP count, kernels/cpu/peak_flops.h for the peak).
#include <fmt/format.h>

#include <algorithm>

#include "distill/distill_loop.h"
#include "distill/random_init.h"
#include "distill/throughput.h"
#include "distill/train_hooks.h"
#include "engine/quant/quantize_model.h"
#include "engine/bench.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "kernels/cpu/peak_flops.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

using namespace zip::distill;

namespace {

struct Setup {
  std::string what;  // "distill T -> S" or "train CFG"
  train::Precision precision = train::Precision::f32;
  double flops_per_token = 0, n_student = 0, n_teacher = 0;
  ThroughputResult res;
};

ModelConfig config_arg(const Args& args, int vocab_from_tokenizer) {
  nlohmann::json cj;
  try {
    cj = nlohmann::json::parse(read_file(args.str("--config")));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", args.str("--config"), e.what());
  }
  if (cj.is_object() && !cj.contains("vocab_size")) {
    if (vocab_from_tokenizer <= 0) fail("{}: no vocab_size (give it, or --tokenizer)", args.str("--config"));
    cj["vocab_size"] = vocab_from_tokenizer;
  }
  try {
    return config_from_json(cj);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", args.str("--config"), e.what());
  }
}

// The corpus: --data checked against the tokenizer, else random ids.
TokenData data_arg(const Args& args, const TokenizerData* tok, int vocab, const ThroughputOptions& o) {
  if (!args.has("--data")) return random_tokens(vocab, size_t(o.batch) * (o.seq + 1) * 4 + 4096, o.seed);
  if (!tok) fail("--data needs a model or --tokenizer to check it against");
  return load_tokens_for(args.str("--data"), *tok);
}

Setup bench_distill(const Args& args, int threads, const ThroughputOptions& o) {
  Model teacher = load_zlm(args.str("--teacher")), student = load_zlm(args.str("--student"));
  quant::require_float_weights(teacher, "zip bench --train (--teacher)");
  quant::require_float_weights(student, "zip bench --train (--student)");
  if (o.seq > std::min(teacher.config.max_seq_len, student.config.max_seq_len))
    fail("--seq {} exceeds the models' context length", o.seq);
  TokenData data = data_arg(args, teacher.tokenizer.get(), teacher.config.vocab_size, o);
  Setup s;
  s.what = fmt::format("distill {} -> {}", args.str("--teacher"), args.str("--student"));
  s.flops_per_token = train_flops_per_token(student.config, &teacher.config, o.seq);
  s.n_student = model_flops(student.config, o.seq).matmul_params;
  s.n_teacher = model_flops(teacher.config, o.seq).matmul_params;
  DistillOptions d;
  d.max_B = o.batch, d.max_T = o.seq;
  auto ops = train::make_cpu_train_ops(threads, s.precision = precision_arg(args));
  Distiller dist(teacher, student, *ops, d);
  PhaseClock clock;
  dist.set_clock(&clock);
  LoopHooks h = dist.hooks();
  s.res = run_throughput(h, clock, data, o);
  return s;
}

Setup bench_train(const Args& args, int threads, const ThroughputOptions& o) {
  std::shared_ptr<const TokenizerData> tok;
  if (args.has("--tokenizer")) tok = load_tokenizer_arg(args.str("--tokenizer"));
  ModelConfig cfg = config_arg(args, tok ? int(tok->pieces.size()) : 0);
  if (tok && size_t(cfg.vocab_size) != tok->pieces.size())
    fail("{}: vocab_size {} but the tokenizer has {} pieces", args.str("--config"), cfg.vocab_size, tok->pieces.size());
  if (!cfg.info().causal) fail("{}: zip bench --train trains decoders (next-token loss)", args.str("--config"));
  if (o.seq > cfg.max_seq_len) fail("--seq {} exceeds the config's max_seq_len {}", o.seq, cfg.max_seq_len);
  TokenData data = data_arg(args, tok.get(), cfg.vocab_size, o);
  Setup s;
  s.what = fmt::format("train {}", args.str("--config"));
  s.flops_per_token = train_flops_per_token(cfg, nullptr, o.seq);
  s.n_student = model_flops(cfg, o.seq).matmul_params;
  Model init = random_init(cfg, o.seed);
  auto ops = train::make_cpu_train_ops(threads, s.precision = precision_arg(args));
  train::TrainOptions topt;
  topt.max_B = o.batch, topt.max_T = o.seq;
  train::TrainModel tm(init, *ops, topt);
  train::AdamW adam(tm, train::AdamWConfig{});
  PhaseClock clock;
  LoopHooks h = train_hooks(tm, adam, *ops, &clock);
  s.res = run_throughput(h, clock, data, o);
  return s;
}

cpu::PeakFlops higher_peak(cpu::PeakFlops a, const cpu::PeakFlops& b) {
  a.f32_1t = std::max(a.f32_1t, b.f32_1t), a.f32_nt = std::max(a.f32_nt, b.f32_nt);
  a.bf16_1t = std::max(a.bf16_1t, b.bf16_1t), a.bf16_nt = std::max(a.bf16_nt, b.bf16_nt);
  return a;
}

nlohmann::json stat_json(const RepStats& r) { return {{"median", r.median}, {"min", r.min}, {"max", r.max}}; }

void print_text(const Setup& s, const ThroughputOptions& o, int threads, const cpu::PeakFlops& p, int64_t rss) {
  const ThroughputResult& r = s.res;
  double achieved = s.flops_per_token * r.tokens_per_s.median;
  fmt::print("zip bench --train: {} | B x T {} x {}, {} thread{}, {} | {} warm-up + {} timed steps\n", s.what,
             o.batch, o.seq, threads, threads == 1 ? "" : "s", train::precision_name(s.precision), o.warmup, o.steps);
  fmt::print("tokens/s       {:.1f} [{:.1f}-{:.1f}] (median [min-max])\n", r.tokens_per_s.median, r.tokens_per_s.min,
             r.tokens_per_s.max);
  std::string split;
  for (auto& [name, sec] : r.phase_s)
    split += fmt::format("{}{} {:.3f} s ({:.0f}%)", split.empty() ? "" : ", ", name, sec,
                         r.step_s.median > 0 ? 100 * sec / r.step_s.median : 0.0);
  fmt::print("step           {:.3f} s median: {}\n", r.step_s.median, split);
  fmt::print("model FLOP/tok {:.3f} GFLOP (N_student {:.1f} M{}; 6N + 2N_teacher + attention, docs/TRAINING.md)\n",
             s.flops_per_token / 1e9, s.n_student / 1e6,
             s.n_teacher > 0 ? fmt::format(", N_teacher {:.1f} M", s.n_teacher / 1e6) : std::string());
  fmt::print("peak (measured, higher of before/after) f32 {:.1f} GFLOP/s on {} thread{}, {:.1f} on 1", p.f32_nt / 1e9, threads,
             threads == 1 ? "" : "s", p.f32_1t / 1e9);
  if (p.has_bf16()) fmt::print("; bf16 {:.1f}, {:.1f} on 1", p.bf16_nt / 1e9, p.bf16_1t / 1e9);
  fmt::print(" ({})\n", p.isa);
  fmt::print("achieved       {:.2f} GFLOP/s, MFU {:.1f}% of the f32 peak {:.1f} GFLOP/s", achieved / 1e9,
             p.f32_peak() > 0 ? 100 * achieved / p.f32_peak() : 0.0, p.f32_peak() / 1e9);
  if (p.has_bf16())
    fmt::print(", {:.1f}% of the bf16 peak {:.1f} GFLOP/s", 100 * achieved / p.bf16_peak(), p.bf16_peak() / 1e9);
  fmt::print("\n");
  fmt::print("loss           {:.4f} -> {:.4f}\n", r.first_loss, r.last_loss);
  fmt::print("peak memory (RSS): {:.1f} MiB\n", double(rss) / (1 << 20));
}

void print_json(const Setup& s, const ThroughputOptions& o, int threads, const cpu::PeakFlops& p, int64_t rss) {
  const ThroughputResult& r = s.res;
  double achieved = s.flops_per_token * r.tokens_per_s.median;
  nlohmann::json phases = nlohmann::json::object();
  for (auto& [name, sec] : r.phase_s) phases[name] = sec;
  nlohmann::json j = {{"what", s.what},
                      {"batch", o.batch},
                      {"seq", o.seq},
                      {"threads", threads},
                      {"precision", train::precision_name(s.precision)},
                      {"warmup", o.warmup},
                      {"steps", o.steps},
                      {"tokens_per_s", stat_json(r.tokens_per_s)},
                      {"step_s", stat_json(r.step_s)},
                      {"phase_s", phases},
                      {"flops_per_token", s.flops_per_token},
                      {"n_student", s.n_student},
                      {"n_teacher", s.n_teacher},
                      {"achieved_flops", achieved},
                      {"peak", {{"isa", p.isa}, {"f32", p.f32_peak()}, {"f32_nt", p.f32_nt}, {"f32_1t", p.f32_1t},
                                {"bf16", p.bf16_peak()}, {"bf16_nt", p.bf16_nt}, {"bf16_1t", p.bf16_1t}}},
                      {"mfu", p.f32_peak() > 0 ? achieved / p.f32_peak() : 0.0},
                      {"mfu_bf16", p.has_bf16() && p.bf16_peak() > 0 ? achieved / p.bf16_peak() : 0.0},
                      {"first_loss", r.first_loss},
                      {"last_loss", r.last_loss},
                      {"peak_rss_bytes", rss}};
  fmt::print("{}\n", j.dump());
}

}  // namespace

int cmd_bench_train(int argc, char** argv) {
  Args args("bench --train",
            "(--teacher T.zlm --student S.zlm | --config CFG.json [--tokenizer MODEL_OR_FILE]) "
            "[--data TOKENS.bin] [--batch 8] [--seq 128] [--warmup 1] [--steps 3] [-t THREADS] [--precision f32|bf16] "
            "[--json]",
            "Times distillation steps (--teacher/--student, KL at tau 1) or training steps of a fresh model\n"
            "(--config): warm-up steps, then the median and min-max tokens/s of the timed steps, the time\n"
            "per phase, the model FLOPs per token, and MFU against the f32 FMA peak measured here (before and\n"
            "after the steps; the higher counts), and against the bf16 dot-product peak where the CPU has one.\n"
            "Without --data the tokens are random ids.",
            {{"--train", "", "this mode"},
             {"--teacher", "T.zlm", "distillation: the teacher"},
             {"--student", "S.zlm", "distillation: the student"},
             {"--config", "CFG.json", "training: the model config (as zip train)"},
             {"--tokenizer", "MODEL_OR_FILE", "training: the tokenizer (gives vocab_size; checks --data)"},
             {"--data", "TOKENS.bin", "windows of this corpus (default: random ids)"},
             {"--batch", "B", "sequences per step (default 8)"},
             {"--seq", "T", "tokens per sequence (default 128)"},
             {"--warmup", "N", "untimed steps first (default 1)"},
             {"--steps", "N", "timed steps (default 3)"},
             threads_option(),
             precision_option(),
             {"--json", "", "print JSON"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(0, 0, "");
  bool kd = args.has("--teacher") || args.has("--student");
  if (kd && !(args.has("--teacher") && args.has("--student")))
    throw UsageError("zip bench --train: distillation needs both --teacher and --student");
  if (kd == args.has("--config"))
    throw UsageError("zip bench --train: give --teacher and --student, or --config (not both)");
  const int threads = int(args.integer("-t", default_threads(), 1, 1024));
  ThroughputOptions o;
  o.batch = int(args.integer("--batch", 8, 1, 1 << 16));
  o.seq = int(args.integer("--seq", 128, 1, 1 << 20));
  o.warmup = int(args.integer("--warmup", 1, 0, 1000));
  o.steps = int(args.integer("--steps", 3, 1, 100000));
  cpu::PeakOptions po;
  po.threads = threads;
  // Before and after the steps: on a shared machine the peak moves with the neighbours' load; the
  // higher of the two is the denominator (the conservative MFU).
  cpu::PeakFlops peak = cpu::measure_peak_flops(po);
  Setup s = kd ? bench_distill(args, threads, o) : bench_train(args, threads, o);
  peak = higher_peak(peak, cpu::measure_peak_flops(po));
  int64_t rss = peak_rss_bytes();
  if (args.has("--json")) print_json(s, o, threads, peak, rss);
  else print_text(s, o, threads, peak, rss);
  return 0;
}

}  // namespace zip::cli
