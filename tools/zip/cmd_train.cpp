// zip train: train a model from scratch on a tokens.bin corpus (distill/train_loop.h).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "distill/random_init.h"
#include "distill/throughput.h"
#include "distill/token_data.h"
#include "distill/train_hooks.h"
#include "distill/train_loop.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "kernels/cpu/peak_flops.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

using namespace zip::distill;

// ---- shared by zip train and zip distill (declared in commands.h) ------------------------------

void add_loop_options(std::vector<Option>& o) {
  std::vector<Option> more = {
      {"--val", "TOKENS.bin", "validation corpus (mean loss on fixed windows every --eval-every steps)"},
      {"--steps", "N", "optimizer updates (default 1000)"},
      {"--batch", "B", "sequences per micro-batch (default 8)"},
      {"--seq", "T", "tokens per sequence (default 128)"},
      {"--accum", "N", "micro-batches per update (gradient accumulation, default 1)"},
      {"--lr", "LR", "peak learning rate (default: train 1e-3; distill min(1e-3, 0.1/dim of the student))"},
      {"--min-lr", "LR", "final learning rate of the cosine decay (default lr/10)"},
      {"--warmup", "N", "linear warm-up steps (default: train 0; distill 5% of --steps)"},
      {"--wd", "W", "AdamW weight decay on 2-D weights (default 0.1)"},
      {"--clip", "C", "max global gradient norm, 0 = off (default 1)"},
      {"--seed", "N", "seed of the init and the data order (default 1)"},
      {"--eval-every", "N", "validate every N steps and at the end (default 100)"},
      {"--eval-batches", "N", "validation batches (default 8)"},
      {"--ckpt-every", "N", "checkpoint every N steps (default 0 = off)"},
      {"--ckpt", "DIR", "checkpoint directory (default OUT.ckpt)"},
      {"--resume", "DIR", "continue from DIR's latest checkpoint (same command otherwise)"},
      {"--overwrite", "", "start over even if --ckpt holds an unfinished run (its checkpoints are deleted)"},
      {"--log", "FILE.jsonl", "per-step telemetry (default OUT.log.jsonl)"},
      {"--sleep-ms", "MS", "pause after each step (for tests)"},
      threads_option(),
      precision_option(),
      {"--device", "DEV", "cpu only (the default): training runs on the CPU"}};
  o.insert(o.end(), more.begin(), more.end());
}

int training_threads(const Args& args) {
  const DeviceArg dev = device_arg(args);
  require_cpu_device(args, dev, "training runs on the CPU (the training kernels have no other implementation)");
  return dev.threads;
}

Option precision_option() {
  return {"--precision", "f32|bf16",
          "matrix products in f32, or bf16 with f32 accumulation (f32 master weights and AdamW; default f32)"};
}

train::Precision precision_arg(const Args& args, const char* flag) {
  std::string p = args.str(flag, "f32");
  if (p == "f32") return train::Precision::f32;
  if (p == "bf16") return train::Precision::bf16;
  throw UsageError(fmt::format("{} {}: expected f32 or bf16", flag, printable(p)));
}

// A checkpoint directory of a run that did not finish is the only copy of that work: starting a
// new run over it needs --resume (continue) or --overwrite (delete it and start over).
static void guard_unfinished_run(const Args& args, const std::string& ckpt_dir, const std::string& resume_dir) {
  const bool overwrite = args.has("--overwrite");
  if (overwrite && !resume_dir.empty())
    throw UsageError(fmt::format("zip {}: --resume and --overwrite exclude each other", args.command()));
  if (!resume_dir.empty()) return;
  auto st = distill::checkpoint_status(ckpt_dir);
  if (!st || st->finished()) return;
  if (!overwrite)
    throw UsageError(fmt::format("zip {}: {} holds the checkpoint of an unfinished run (step {} of {}); continue it "
                                 "with --resume {} or start over with --overwrite",
                                 args.command(), ckpt_dir, st->step, st->steps, ckpt_dir));
  for (const auto& e : std::filesystem::directory_iterator(ckpt_dir)) {
    const std::string fn = e.path().filename().string();
    if (fn.rfind("ckpt-", 0) == 0 || fn == "latest") std::filesystem::remove(e.path());
  }
}

distill::LoopOptions loop_options(const Args& args, const std::string& out, const std::string& label) {
  distill::LoopOptions lo;
  lo.label = label;
  lo.steps = int(args.integer("--steps", 1000, 1, 100000000));
  lo.batch = int(args.integer("--batch", 8, 1, 1 << 16));
  lo.seq = int(args.integer("--seq", 128, 1, 1 << 20));
  lo.accum = int(args.integer("--accum", 1, 1, 1 << 16));
  lo.lr = args.number("--lr", 1e-3, 0, 10);
  lo.min_lr = args.number("--min-lr", lo.lr / 10, 0, 10);
  lo.warmup = int(args.integer("--warmup", 0, 0, 100000000));
  lo.weight_decay = args.number("--wd", 0.1, 0, 10);
  lo.clip = args.number("--clip", 1.0, 0, 1e9);
  lo.seed = uint64_t(args.integer("--seed", 1, 0, (1LL << 62)));
  lo.eval_every = int(args.integer("--eval-every", 100, 0, 100000000));
  lo.eval_batches = int(args.integer("--eval-batches", 8, 1, 100000));
  lo.ckpt_every = int(args.integer("--ckpt-every", 0, 0, 100000000));
  lo.resume_dir = args.str("--resume");
  lo.ckpt_dir = args.str("--ckpt", lo.resume_dir.empty() ? out + ".ckpt" : lo.resume_dir);
  lo.log_path = args.str("--log", out + ".log.jsonl");
  guard_unfinished_run(args, lo.ckpt_dir, lo.resume_dir);
  lo.sleep_ms = int(args.integer("--sleep-ms", 0, 0, 100000));
  lo.recipe = {{"steps", lo.steps}, {"batch", lo.batch}, {"seq", lo.seq},   {"accum", lo.accum},
               {"lr", lo.lr},       {"min_lr", lo.min_lr}, {"warmup", lo.warmup}, {"weight_decay", lo.weight_decay},
               {"clip", lo.clip},   {"seed", lo.seed}, {"precision", train::precision_name(precision_arg(args))}};
  return lo;
}

std::shared_ptr<const TokenizerData> load_tokenizer_arg(const std::string& path) {
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".zlm") == 0) {
    Model m = load_zlm(path);
    if (!m.tokenizer) fail("{} has no tokenizer", path);
    return m.tokenizer;
  }
  return std::make_shared<TokenizerData>(load_tokenizer(path));
}

distill::TokenData load_tokens_for(const std::string& path, const TokenizerData& tok) {
  distill::TokenData d = distill::load_tokens(path);
  uint32_t h = distill::tokenizer_hash(tok);
  if (d.tokenizer_hash != h)
    fail("{}: made with another tokenizer (hash {:08x}, this model's is {:08x})", path, d.tokenizer_hash, h);
  return d;
}

void set_mfu_inputs(distill::LoopOptions& lo, double flops_per_token, int threads, train::Precision precision) {
  cpu::PeakOptions po;
  po.threads = threads, po.reps = 5, po.run_ms = 20, po.bf16 = precision == train::Precision::bf16;
  lo.flops_per_token = flops_per_token;
  const cpu::PeakFlops peak = cpu::measure_peak_flops(po);
  lo.peak_flops = po.bf16 && peak.has_bf16() ? peak.bf16_peak() : peak.f32_peak();
}

void print_summary(const std::string& cmd, const distill::LoopOptions& lo, const distill::LoopResult& r,
                   const std::string& out, int threads) {
  std::string val = r.val_loss >= 0 ? fmt::format(", val loss {:.4f}", r.val_loss) : "";
  std::fprintf(stderr, "zip %s: steps %d-%d, loss %.4f -> %.4f%s, %lld tokens seen, %.1f s on %d thread%s; wrote %s\n",
               cmd.c_str(), r.first_step + 1, lo.steps, r.first_loss, r.last_loss, val.c_str(),
               (long long)r.tokens_seen, r.seconds, threads, threads == 1 ? "" : "s", out.c_str());
}

int cmd_train(int argc, char** argv) {
  std::vector<Option> opts = {{"--config", "CFG.json", "model config (.zlm config schema; uniform shorthand ok)"},
                              {"--tokenizer", "MODEL_OR_FILE", "a .zlm whose tokenizer to use, or a tokenizer file"},
                              {"--data", "TOKENS.bin", "training corpus (zip tokenize -o)"},
                              {"-o,--output", "OUT.zlm", "the trained model"}};
  add_loop_options(opts);
  Args args("train", "--config CFG.json --tokenizer MODEL_OR_FILE --data TOKENS.bin -o OUT.zlm [options]",
            "Trains a randomly initialised model (normal(0, 0.02), seeded) with AdamW on random windows of the data.",
            opts);
  if (!args.parse(argc, argv)) return 0;
  for (const char* req : {"--config", "--tokenizer", "--data", "-o"})
    if (!args.has(req)) throw UsageError(fmt::format("zip train: missing {}", req));
  const int threads = training_threads(args);
  std::string out = args.str("-o");
  LoopOptions lo = loop_options(args, out, "train");

  auto tok = load_tokenizer_arg(args.str("--tokenizer"));
  nlohmann::json cj;
  try {
    cj = nlohmann::json::parse(read_file(args.str("--config")));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", args.str("--config"), e.what());
  }
  if (cj.is_object() && !cj.contains("vocab_size")) cj["vocab_size"] = tok->pieces.size();
  ModelConfig cfg;
  try {
    cfg = config_from_json(cj);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", args.str("--config"), e.what());
  }
  if (size_t(cfg.vocab_size) != tok->pieces.size())
    fail("{}: vocab_size {} but the tokenizer has {} pieces", args.str("--config"), cfg.vocab_size, tok->pieces.size());
  TokenData data = load_tokens_for(args.str("--data"), *tok);
  TokenData val;
  if (args.has("--val")) val = load_tokens_for(args.str("--val"), *tok);
  if (lo.seq > cfg.max_seq_len) fail("--seq {} exceeds the config's max_seq_len {}", lo.seq, cfg.max_seq_len);

  Model init = random_init(cfg, lo.seed);
  init.tokenizer = tok;
  auto ops = train::make_cpu_train_ops(threads, precision_arg(args));
  train::TrainOptions topt;
  topt.max_B = lo.batch, topt.max_T = lo.seq;
  train::TrainModel tm(init, *ops, topt);
  train::AdamWConfig acfg;
  acfg.weight_decay = lo.weight_decay, acfg.grad_clip = lo.clip;
  train::AdamW adam(tm, acfg);

  set_mfu_inputs(lo, train_flops_per_token(cfg, nullptr, lo.seq), threads, precision_arg(args));
  LoopHooks h = train_hooks(tm, adam, *ops);
  LoopResult r = run_loop(lo, data, args.has("--val") ? &val : nullptr, h);

  Model m = tm.to_model();
  m.tokenizer = tok;
  m.provenance = {{"source", "zip train"}};
  m.provenance["recipe"] = lo.recipe;
  m.provenance["recipe"]["method"] = "train";
  m.provenance["recipe"]["tokens_seen"] = r.tokens_seen;
  m.provenance["recipe"]["data_hash"] = fmt::format("{:08x}", data.file_crc);
  save_zlm(m, out);
  print_summary("train", lo, r, out, threads);
  return 0;
}

}  // namespace zip::cli
