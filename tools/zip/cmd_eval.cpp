// zip eval: measure a model. For now: --task stsb (sentence-embedding similarity).
#include <cstdio>

#include "engine/error.h"
#include "engine/eval/similarity.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_eval(int argc, char** argv) {
  Args args("eval", "MODEL.zlm --task stsb FILE [--limit N] [--json] [-t THREADS]",
            "Evaluates MODEL. --task stsb: Spearman correlation between the cosine similarity of each\n"
            "sentence pair's embeddings and the gold score (a TSV with sentence1, sentence2, score columns).",
            {{"--task", "NAME", "the task: stsb"},
             {"--limit", "N", "score only the first N items"},
             {"--json", "", "print the result as JSON"},
             {"-t,--threads", "N", "CPU threads (default: all)"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(2, 2, "MODEL.zlm and FILE");
  std::string task = args.str("--task");
  if (task.empty()) throw UsageError("zip eval: missing --task NAME");
  if (task != "stsb") throw UsageError(fmt::format("zip eval: unknown task '{}' (supported: stsb)", task));
  long long limit = args.integer("--limit", 0, 1, 1LL << 40);
  int threads = int(args.integer("-t", default_threads(), 1, 1024));

  std::string path = args.positional()[0], file = args.positional()[1];
  Model model = load_zlm(path);
  ZIP_CHECK(!model.config.info().causal, "--task stsb needs an encoder (sentence-embedding) model; {} is a {}", path,
            model.config.info().name);
  ZIP_CHECK(model.tokenizer, "{} has no tokenizer", path);
  auto pairs = load_sentence_pairs(file);
  if (limit > 0 && size_t(limit) < pairs.size()) pairs.resize(size_t(limit));
  auto backend = make_cpu_backend(threads);
  InferenceContext ctx(model, *backend);
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

}  // namespace zip::cli
