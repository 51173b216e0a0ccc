// Perplexity, with two documented protocols (docs/EVAL.md):
//  - stream: the text tokenised once (BOS first when the tokenizer adds one); windows of `ctx`
//    tokens start at 0, stride, 2·stride, …; window [s, e) scores position p (predicting token
//    p from tokens s..p−1) for max(s+1, previous e) ≤ p < e, so every position 1..N−1 is scored
//    exactly once (the Hugging Face sliding-window convention);
//  - lines: one document per non-empty line (surrounding whitespace, including \r, stripped),
//    BOS prepended, truncated to `ctx` tokens, every next token scored.
// With a reference model, also the mean KL(ref ‖ model) of the next-token distributions and the
// top-1 agreement at the scored positions.
#pragma once
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

struct PerplexityOptions {
  int ctx = 512;
  int stride = 0;          // stream only; 0 = ctx
  bool lines = false;
  int64_t max_tokens = 0;  // 0 = all. stream: keep the first N tokens; lines: stop after N scored
};

struct PerplexityResult {
  int64_t tokens = 0;  // positions scored
  double nll = 0;      // mean negative log-likelihood (nats/token)
  double ppl = 0;
  bool has_ref = false;
  double kl = 0;       // mean KL(ref ‖ model), nats
  double top1 = 0;     // fraction of positions where both argmaxes agree
};

// `ref` (optional) must share the tokenizer's vocabulary.
PerplexityResult eval_perplexity(InferenceContext& model, InferenceContext* ref, const Tokenizer& tok,
                                 const std::string& text, const PerplexityOptions& opt);

// Token sequences to score and, for each, the first position scored (a window's scored range).
struct ScoredSpan {
  std::vector<int> ids;
  int first = 1;  // positions first..ids.size()-1 are scored
};
std::vector<ScoredSpan> perplexity_spans(const Tokenizer& tok, const std::string& text, const PerplexityOptions& opt);

}  // namespace zip
