// Zero-shot task accuracy by log-likelihood, as lm-evaluation-harness scores multiple-choice
// tasks (docs/EVAL.md). Every item is a list of candidates (context, continuation); the model
// scores log p(continuation | context) summed over the continuation's tokens, and
//   acc      = the candidate with the highest sum is the gold one,
//   acc_norm = the same with each sum divided by the candidate's length in Unicode characters,
// except for LAMBADA, where acc = the continuation is what greedy decoding produces and the
// perplexity is exp(−mean over items of the log-likelihood).
// The file layouts (task_formats.cpp) turn each source into candidates with lm-eval's templates.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

enum class TaskFormat {
  MC,         // {"query", "choices", "gold"}: context query + "\nAnswer:" (ARC)
  MCStem,     // the same layout, context = query as is (OpenBookQA's question_stem)
  Piqa,       // {"goal", "sol1", "sol2"} + a labels file
  Hellaswag,  // 6-line items (context, gold, four endings)
  Partial,    // WinoGrande: one context per option, one shared continuation
  Lambada,    // {"context", "continuation"} or {"text"}: greedy accuracy and perplexity
};

// "mc", "mc_stem", "piqa", "hellaswag", "partial", "lambada"; throws UsageError for other names.
TaskFormat parse_task_format(const std::string& name);
const char* task_format_name(TaskFormat f);
// The format a task name implies (arc_easy → mc, openbookqa → mc_stem, ...), nullopt if unknown.
std::optional<TaskFormat> task_default_format(const std::string& task);
// The task names task_default_format knows, for messages.
std::string task_names();

struct TaskCandidate {
  std::string context, continuation;  // scored: log p(continuation | context)
  double norm_len = 1;                // acc_norm divisor (characters of the choice)
};

struct TaskItem {
  std::vector<TaskCandidate> candidates;
  int gold = 0;       // index into candidates
  std::string where;  // "file:line" of the item, for messages
};

// Parses a task file (throws zip::Error naming file:line on malformed input). Piqa: `labels`
// names the labels file; empty = beside the file, its stem + "-labels.lst".
std::vector<TaskItem> load_task_items(const std::string& path, TaskFormat format, const std::string& labels = "");

// Length in Unicode characters (code points; stray continuation bytes are not counted), what
// Python's len() gives for the choice string lm-eval normalises by.
size_t utf8_length(const std::string& s);

// lm-eval's _encode_pair: trailing whitespace of the context moves to the front of the
// continuation; context = encode(context), continuation = encode(context + continuation) past
// the context's length (BOS first when the tokenizer adds one). An empty context becomes [BOS]
// (or [EOS] when the vocabulary has no BOS), as lm-eval's prefix token.
struct EncodedPair {
  std::vector<int> context, continuation;
};
EncodedPair encode_pair(const Tokenizer& tok, const std::string& context, const std::string& continuation);

struct CandidateScore {
  double logprob = 0;   // sum of log p over the continuation's tokens
  int tokens = 0;       // continuation tokens scored
  bool greedy = false;  // each continuation token is the argmax of its prediction
};

// Scores every candidate of one item. The contexts' common token prefix is evaluated once and its
// KV cache reused for every candidate; with a context of several sequences (n_seq), the
// candidates' rests then run together in batched passes (one weight read for all), which gives
// the same scores as one at a time. Sequences longer than the context keep their last
// ctx_len + 1 tokens (the context is cut from the left), as lm-eval does.
std::vector<CandidateScore> score_item(InferenceContext& ctx, const Tokenizer& tok, const TaskItem& item);

struct TaskResult {
  int64_t n = 0;
  double acc = 0, acc_norm = 0;
  bool has_ppl = false;  // lambada
  double ppl = 0;
  std::vector<std::vector<CandidateScore>> scores;  // per item, per candidate
};

TaskResult eval_task(InferenceContext& ctx, const Tokenizer& tok, const std::vector<TaskItem>& items, TaskFormat format,
                     const std::string& label = "task");

}  // namespace zip
