// zip distill: distill a teacher .zlm into a student .zlm (distill/distill_loop.h).
#include <fmt/format.h>

#include "distill/distill_defaults.h"
#include "distill/distill_loop.h"
#include "distill/throughput.h"
#include "distill/token_data.h"
#include "distill/train_loop.h"
#include "engine/quant/quantize_model.h"
#include "engine/error.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

using namespace zip::distill;

namespace {

std::vector<std::pair<int, int>> parse_layer_map(const std::string& s) {
  std::vector<std::pair<int, int>> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    std::string item = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    int a = 0, b = 0;
    char extra = 0;
    if (std::sscanf(item.c_str(), "%d:%d%c", &a, &b, &extra) != 2)
      throw UsageError(fmt::format("zip distill: --layer-map: '{}' is not S:T", item));
    out.push_back({a, b});
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// The loss terms and their weights from the command line.
DistillOptions distill_options(const Args& args, const LoopOptions& lo) {
  DistillOptions d;
  d.temperature = float(args.number("--temperature", 1.0, 1e-3, 1e3));
  d.ce_weight = args.number("--ce-weight", 0, 0, 1e6);
  if (args.has("--hidden")) {
    std::string h = args.str("--hidden");
    if (h == "cos" || h == "cosine") d.hidden = HiddenLoss::Cosine;
    else if (h == "mse") d.hidden = HiddenLoss::Mse;
    else throw UsageError("zip distill: --hidden takes cos or mse");
  }
  d.hidden_weight = args.number("--hidden-weight", -1, 0, 1e9);
  if (args.has("--layer-map")) {
    if (d.hidden == HiddenLoss::None) throw UsageError("zip distill: --layer-map needs --hidden cos|mse");
    d.layer_map = parse_layer_map(args.str("--layer-map"));
  }
  d.max_B = lo.batch, d.max_T = lo.seq;
  d.recompute = args.has("--recompute");
  d.adam.weight_decay = lo.weight_decay, d.adam.grad_clip = lo.clip;
  return d;
}

}  // namespace

int cmd_distill(int argc, char** argv) {
  std::vector<Option> opts = {
      {"--teacher", "T.zlm", "the teacher"},
      {"--student", "S.zlm", "the student's starting point (same vocabulary)"},
      {"--data", "TOKENS.bin", "distill on this corpus"},
      {"--synthetic", "N", "distill on N tokens sampled from the teacher (temperature 1, --seed)"},
      {"-o,--output", "OUT.zlm", "the distilled student"},
      {"--temperature", "TAU", "KL temperature τ (loss τ²·KL; default 1)"},
      {"--ce-weight", "W", "add W·cross-entropy on the data (default 0)"},
      {"--hidden", "cos|mse", "add a hidden-state loss on post-norm states"},
      {"--layer-map", "S:T,...", "hidden loss on these residual streams instead (student:teacher)"},
      {"--hidden-weight", "A", "fixed hidden-loss weight (default: L_logits / L_hidden each step)"},
      {"--recompute", "", "recompute student blocks in the backward: less memory, one more forward"}};
  add_loop_options(opts);
  Args args("distill", "--teacher T.zlm --student S.zlm (--data TOKENS.bin | --synthetic N) -o OUT.zlm [options]",
            "Trains the student to match the teacher: τ²·KL(teacher ‖ student) [+ CE] [+ α·hidden loss].", opts);
  if (!args.parse(argc, argv)) return 0;
  for (const char* req : {"--teacher", "--student", "-o"})
    if (!args.has(req)) throw UsageError(fmt::format("zip distill: missing {}", req));
  if (args.has("--data") == args.has("--synthetic"))
    throw UsageError("zip distill: give exactly one of --data TOKENS.bin and --synthetic N");
  const int threads = training_threads(args);
  std::string out = args.str("-o");
  LoopOptions lo = loop_options(args, out, "distill");
  DistillOptions d = distill_options(args, lo);
  lo.recipe["temperature"] = d.temperature, lo.recipe["ce_weight"] = d.ce_weight;

  Model teacher = load_zlm(args.str("--teacher")), student = load_zlm(args.str("--student"));
  // The Distiller takes encoders (zip compress --distill-tokens uses it so), but this command's
  // data paths (--synthetic sampling, next-token CE) are a decoder's.
  if (!teacher.config.info().causal || !student.config.info().causal)
    fail("zip distill distils decoders; encoders are distilled by zip compress --distill-tokens");
  quant::require_float_weights(teacher, "zip distill (--teacher)");
  quant::require_float_weights(student, "zip distill (--student)");
  if (teacher.config.vocab_size != student.config.vocab_size ||
      (teacher.tokenizer && student.tokenizer &&
       tokenizer_hash(*teacher.tokenizer) != tokenizer_hash(*student.tokenizer)))
    fail("the teacher and the student do not share a vocabulary");
  // Defaults for retraining a pruned pretrained student (distill/distill_defaults.h).
  if (!args.has("--lr")) lo.lr = default_distill_lr(student.config.dim);
  if (!args.has("--min-lr")) lo.min_lr = lo.lr / 10;
  if (!args.has("--warmup")) lo.warmup = default_distill_warmup(lo.steps);
  lo.recipe["lr"] = lo.lr, lo.recipe["min_lr"] = lo.min_lr, lo.recipe["warmup"] = lo.warmup;
  if (lo.seq > std::min(teacher.config.max_seq_len, student.config.max_seq_len))
    fail("--seq {} exceeds the models' context length", lo.seq);
  TokenData data, val;
  std::string data_hash;
  if (args.has("--data")) {
    if (!teacher.tokenizer) fail("{} has no tokenizer to check --data against", args.str("--teacher"));
    data = load_tokens_for(args.str("--data"), *teacher.tokenizer);
    data_hash = fmt::format("{:08x}", data.file_crc);
  } else {
    size_t n = size_t(args.integer("--synthetic", 0, 1, 1LL << 34));
    data = synthetic_tokens(teacher, n, lo.seed, threads);
    data_hash = fmt::format("synthetic:{}:{}", n, lo.seed);
  }
  if (args.has("--val")) {
    if (!teacher.tokenizer) fail("{} has no tokenizer to check --val against", args.str("--teacher"));
    val = load_tokens_for(args.str("--val"), *teacher.tokenizer);
  }

  auto ops = train::make_cpu_train_ops(threads, precision_arg(args));
  Distiller dist(teacher, student, *ops, d);
  set_mfu_inputs(lo, train_flops_per_token(student.config, &teacher.config, lo.seq), threads, precision_arg(args));
  teacher = Model{}, student = Model{};  // the trained copies live in the Distiller
  LoopHooks h = dist.hooks();
  LoopResult r = run_loop(lo, data, args.has("--val") ? &val : nullptr, h);

  Model m = dist.finish();
  m.provenance["parent_hash"] = zlm_content_hash(args.str("--student"));
  m.provenance["recipe"] = lo.recipe;
  m.provenance["recipe"]["method"] = "distill";
  m.provenance["recipe"]["teacher_hash"] = zlm_content_hash(args.str("--teacher"));
  m.provenance["recipe"]["tokens_seen"] = r.tokens_seen;
  m.provenance["recipe"]["data_hash"] = data_hash;
  if (d.hidden != HiddenLoss::None) m.provenance["recipe"]["hidden"] = args.str("--hidden");
  save_zlm(m, out);
  print_summary("distill", lo, r, out, threads);
  return 0;
}

}  // namespace zip::cli
