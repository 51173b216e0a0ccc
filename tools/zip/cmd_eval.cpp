// zip eval: perplexity (two protocols, optional KL to a reference model) and tasks.
#include <cstdio>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/eval/perplexity.h"
#include "engine/eval/similarity.h"
#include "engine/eval/tasks.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

static int eval_ppl(const Args& args, const Model& model, const std::string& file, Backend& backend) {
  ZIP_CHECK(model.config.info().causal, "--ppl needs a decoder; this model is a {} encoder", model.config.info().name);
  PerplexityOptions opt;
  opt.lines = args.has("--lines");
  opt.ctx = int(args.integer("--ctx", std::min(1024, model.config.max_seq_len), 2, model.config.max_seq_len));
  if (args.has("--stride") && opt.lines) throw UsageError("zip eval: --stride applies to the stream protocol, not --lines");
  opt.stride = int(args.integer("--stride", opt.ctx / 2, 1, opt.ctx));
  opt.max_tokens = args.integer("--max-tokens", 0, 2, 1LL << 40);
  std::string text = read_file(file);
  ZIP_CHECK(!text.empty(), "{}: empty file", file);
  InferenceContext ctx(model, backend, opt.ctx);
  Tokenizer tok(model.tokenizer);
  Model ref_model;
  std::unique_ptr<InferenceContext> ref;
  if (args.has("--ref")) {
    ref_model = load_zlm(args.str("--ref"));
    ref = std::make_unique<InferenceContext>(ref_model, backend, opt.ctx);
  }
  PerplexityResult r = eval_perplexity(ctx, ref.get(), tok, text, opt);
  if (args.has("--json")) {
    nlohmann::json j = {{"file", file},     {"protocol", opt.lines ? "lines" : "stream"},
                        {"ctx", opt.ctx},   {"tokens", r.tokens},
                        {"nll", r.nll},     {"ppl", r.ppl}};
    if (!opt.lines) j["stride"] = opt.stride;
    if (r.has_ref) j["kl"] = r.kl, j["top1_agreement"] = r.top1, j["ref"] = args.str("--ref");
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{} protocol, ctx {}{}: {} tokens scored, mean NLL {:.6f}, perplexity {:.4f}\n",
               opt.lines ? "lines" : "stream", opt.ctx, opt.lines ? "" : fmt::format(", stride {}", opt.stride),
               r.tokens, r.nll, r.ppl);
    if (r.has_ref) fmt::print("vs reference: mean KL {:.6f} nats, top-1 agreement {:.4f}\n", r.kl, r.top1);
  }
  return 0;
}

static int eval_stsb(const Args& args, const Model& model, const std::string& file, Backend& backend) {
  ZIP_CHECK(!model.config.info().causal, "--task stsb needs an encoder (sentence-embedding) model; this is a {}",
            model.config.info().name);
  auto pairs = load_sentence_pairs(file);
  long long limit = args.integer("--limit", 0, 1, 1LL << 40);
  if (limit > 0 && size_t(limit) < pairs.size()) pairs.resize(size_t(limit));
  InferenceContext ctx(model, backend);
  Tokenizer tok(model.tokenizer);
  SimilarityResult r = eval_similarity(ctx, tok, pairs);
  if (args.has("--json"))
    fmt::print("{}\n", nlohmann::json{{"task", "stsb"}, {"file", file}, {"pairs", r.pairs}, {"spearman", r.spearman},
                                      {"pearson", r.pearson}}
                           .dump());
  else
    fmt::print("stsb: {} pairs, spearman {:.4f}, pearson {:.4f}\n", r.pairs, r.spearman, r.pearson);
  return 0;
}

// Zero-shot accuracy by candidate log-likelihood (lm-evaluation-harness protocol, docs/EVAL.md).
static int eval_zero_shot(const Args& args, const Model& model, const std::string& task, TaskFormat format,
                          const std::string& file, Backend& backend) {
  ZIP_CHECK(model.config.info().causal, "--task {} needs a decoder; this model is a {} encoder", task,
            model.config.info().name);
  int ctx_len = int(args.integer("--ctx", std::min(2048, model.config.max_seq_len), 2, model.config.max_seq_len));
  auto items = load_task_items(file, format, args.str("--labels"));
  long long limit = args.integer("--limit", 0, 1, 1LL << 40);
  if (limit > 0 && size_t(limit) < items.size()) items.resize(size_t(limit));
  // One sequence per candidate (score_item runs an item's candidates in one batched pass).
  size_t cands = 1;
  for (const TaskItem& it : items) cands = std::max(cands, it.candidates.size());
  InferenceContext ctx(model, backend, ctx_len, 256, int(std::min<size_t>(cands, 8)));
  Tokenizer tok(model.tokenizer);
  TaskResult r = eval_task(ctx, tok, items, format, task);
  const char* fmt_name = task_format_name(format);
  if (args.has("--json")) {
    nlohmann::json j = {{"task", task}, {"format", fmt_name}, {"file", file}, {"n", r.n}, {"acc", r.acc}};
    if (r.has_ppl)
      j["ppl"] = r.ppl;
    else
      j["acc_norm"] = r.acc_norm;
    fmt::print("{}\n", j.dump());
  } else if (r.has_ppl) {
    fmt::print("{} ({}): {} items, acc {:.4f}, ppl {:.4f}\n", task, fmt_name, r.n, r.acc, r.ppl);
  } else {
    fmt::print("{} ({}): {} items, acc {:.4f}, acc_norm {:.4f}\n", task, fmt_name, r.n, r.acc, r.acc_norm);
  }
  return 0;
}

int cmd_eval(int argc, char** argv) {
  Args args("eval",
            "MODEL.zlm (--ppl FILE [--ctx N --stride S | --lines] [--max-tokens N] [--ref BASE.zlm] | --task NAME FILE "
            "[--format F] [--labels FILE] [--limit N]) [--json] [-t THREADS] [--device DEV] [--act-terms 1|2] [-v]",
            "Perplexity of a decoder on a text file, in one of two protocols:\n"
            "  stream (default): the file is one text; windows of --ctx tokens every --stride tokens, every\n"
            "                    position scored once (docs/EVAL.md);\n"
            "  --lines:          each non-empty line is a document with BOS, truncated to --ctx.\n"
            "--ref adds the mean KL divergence from BASE's next-token distribution and top-1 agreement.\n"
            "--task stsb FILE: Spearman correlation of embedding cosine similarity with gold scores.\n"
            "--task NAME FILE: zero-shot accuracy of a decoder, each candidate scored by its log-likelihood\n"
            "                  (acc; acc_norm divides by the choice's length in characters; lambada: greedy\n"
            "                  accuracy and perplexity). NAME: one of\n"
            "                  " + task_names() + ",\n"
            "                  or any name with --format F (mc, mc_stem, piqa, hellaswag, partial, lambada).",
            {{"--ppl", "FILE", "text file to score"},
             {"--ctx", "N",
              "--ppl: window / document length (default: min(1024, model context)); tasks: longest sequence "
              "(default: min(2048, model context))"},
             {"--stride", "S", "stream protocol: window step (default ctx/2)"},
             {"--lines", "", "lines protocol"},
             {"--max-tokens", "N", "score only a prefix: the first N tokens (stream) / N scored tokens (lines)"},
             {"--ref", "BASE.zlm", "reference model for KL and top-1 agreement"},
             {"--task", "NAME", "task: stsb, or a zero-shot task (see above)"},
             {"--format", "F", "task file layout (default: the task's own)"},
             {"--labels", "FILE", "piqa: the labels file (default: beside FILE, its stem + -labels.lst)"},
             {"--limit", "N", "tasks: score only the first N items"},
             {"--json", "", "print the result as JSON"},
             {"-v,--verbose", "", "accepted for compatibility (the backend line is always on stderr)"},
             threads_option(),
             device_option(), act_terms_option()});
  if (!args.parse(argc, argv)) return 0;
  const DeviceArg dev = device_arg(args);
  bool ppl = args.has("--ppl"), has_task = args.has("--task");
  if (ppl == has_task) throw UsageError("zip eval: give exactly one of --ppl FILE or --task NAME FILE");
  std::string task = args.str("--task");
  std::optional<TaskFormat> format;
  if (ppl) {
    args.expect_positional(1, 1, "MODEL.zlm");
    if (args.has("--format") || args.has("--labels"))
      throw UsageError("zip eval: --format and --labels apply to --task, not --ppl");
  } else {
    args.expect_positional(2, 2, "MODEL.zlm and FILE");
    if (task == "stsb") {
      if (args.has("--format") || args.has("--labels")) throw UsageError("zip eval: --task stsb takes no --format or --labels");
    } else {
      try {
        format = args.has("--format") ? parse_task_format(args.str("--format")) : task_default_format(task);
      } catch (const UsageError& e) {
        throw UsageError(std::string("zip eval: ") + e.what());
      }
      if (!format)
        throw UsageError(fmt::format("zip eval: unknown task '{}' (supported: stsb, {}; or any name with --format)", task,
                                     task_names()));
      if (args.has("--labels") && *format != TaskFormat::Piqa)
        throw UsageError("zip eval: --labels applies to the piqa format only");
    }
  }
  std::string path = args.positional()[0];
  std::string file = ppl ? args.str("--ppl") : args.positional()[1];
  require_regular_file(file);
  if (args.has("--labels")) require_regular_file(args.str("--labels"));
  auto backend = backend_arg(dev);  // before loading: an unusable device fails fast
  Model model = load_zlm(path);
  ZIP_CHECK(model.tokenizer, "{} has no tokenizer", path);
  const int rc = ppl ? eval_ppl(args, model, file, *backend)
                 : format ? eval_zero_shot(args, model, task, *format, file, *backend)
                          : eval_stsb(args, model, file, *backend);
  fmt::print(stderr, "zip eval: {}\n", backend_label(*backend, dev));  // the threads used, after a success
  return rc;
}

}  // namespace zip::cli
