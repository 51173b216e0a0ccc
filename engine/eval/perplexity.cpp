#include "engine/eval/perplexity.h"

#include "engine/eval/log_softmax.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/progress.h"

namespace zip {

static std::string strip(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n\v\f"), e = s.find_last_not_of(" \t\r\n\v\f");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::vector<ScoredSpan> perplexity_spans(const Tokenizer& tok, const std::string& text, const PerplexityOptions& opt) {
  ZIP_CHECK(opt.ctx >= 2, "perplexity: the context must hold at least 2 tokens");
  std::vector<ScoredSpan> spans;
  if (opt.lines) {
    int64_t budget = opt.max_tokens > 0 ? opt.max_tokens : INT64_MAX;
    size_t start = 0;
    while (start <= text.size() && budget > 0) {
      size_t nl = text.find('\n', start);
      std::string line = strip(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
      start = nl == std::string::npos ? text.size() + 1 : nl + 1;
      if (line.empty()) continue;
      std::vector<int> ids = tok.encode(line, true);
      if (int(ids.size()) > opt.ctx) ids.resize(size_t(opt.ctx));
      if (int64_t(ids.size()) - 1 > budget) ids.resize(size_t(budget + 1));
      if (ids.size() < 2) continue;
      budget -= int64_t(ids.size()) - 1;
      spans.push_back({std::move(ids), 1});
    }
  } else {
    std::vector<int> ids = tok.encode(text, true);
    if (opt.max_tokens > 0 && int64_t(ids.size()) > opt.max_tokens) ids.resize(size_t(opt.max_tokens));
    ZIP_CHECK(ids.size() >= 2, "perplexity: the text has fewer than 2 tokens");
    int stride = opt.stride > 0 ? opt.stride : opt.ctx;
    ZIP_CHECK(stride <= opt.ctx, "perplexity: the stride ({}) exceeds the context ({})", stride, opt.ctx);
    int n = int(ids.size()), prev_end = 0;
    for (int s = 0; prev_end < n; s += stride) {
      int e = std::min(s + opt.ctx, n);
      int first = std::max(s + 1, prev_end);
      if (first < e) spans.push_back({std::vector<int>(ids.begin() + s, ids.begin() + e), first - s});
      prev_end = e;
    }
  }
  ZIP_CHECK(!spans.empty(), "perplexity: nothing to score (no non-empty line / text too short)");
  return spans;
}

PerplexityResult eval_perplexity(InferenceContext& model, InferenceContext* ref, const Tokenizer& tok,
                                 const std::string& text, const PerplexityOptions& opt) {
  ZIP_CHECK(opt.ctx <= model.ctx_len(), "perplexity: --ctx {} exceeds the model's context {}", opt.ctx, model.ctx_len());
  int V = model.vocab_size();
  if (ref) {
    ZIP_CHECK(ref->vocab_size() == V, "the reference model's vocabulary ({}) differs from the model's ({})",
              ref->vocab_size(), V);
    ZIP_CHECK(opt.ctx <= ref->ctx_len(), "perplexity: --ctx {} exceeds the reference model's context", opt.ctx);
  }
  std::vector<ScoredSpan> spans = perplexity_spans(tok, text, opt);
  int64_t total = 0;
  for (auto& s : spans) total += int64_t(s.ids.size()) - s.first;

  PerplexityResult r;
  r.has_ref = ref != nullptr;
  double nll = 0, kl = 0;
  int64_t agree = 0;
  std::vector<double> lp, lq;
  std::vector<float> ref_logits;
  Progress progress("perplexity", total);
  for (auto& s : spans) {
    model.reset();
    const float* logits = model.eval(s.ids, true);
    const float* rl = nullptr;
    if (ref) {
      ref->reset();
      const float* p = ref->eval(s.ids, true);
      ref_logits.assign(p, p + s.ids.size() * size_t(V));
      rl = ref_logits.data();
    }
    for (int p = s.first; p < int(s.ids.size()); p++) {
      const float* row = logits + size_t(p - 1) * V;
      double lse = log_softmax(row, V, ref ? &lq : nullptr);
      nll += lse - double(row[s.ids[size_t(p)]]);
      if (ref) {
        const float* rrow = rl + size_t(p - 1) * V;
        log_softmax(rrow, V, &lp);
        double k = 0;
        for (int v = 0; v < V; v++) k += std::exp(lp[size_t(v)]) * (lp[size_t(v)] - lq[size_t(v)]);
        kl += k;
        agree += std::max_element(row, row + V) - row == std::max_element(rrow, rrow + V) - rrow;
      }
      r.tokens++;
    }
    progress.update(r.tokens);
  }
  progress.finish();
  r.nll = nll / double(r.tokens);
  r.ppl = std::exp(r.nll);
  if (ref) {
    r.kl = kl / double(r.tokens);
    r.top1 = double(agree) / double(r.tokens);
  }
  return r;
}

}  // namespace zip
