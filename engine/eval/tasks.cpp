#include "engine/eval/tasks.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/progress.h"

namespace zip {

EncodedPair encode_pair(const Tokenizer& tok, const std::string& context, const std::string& continuation) {
  // Trailing whitespace goes with the continuation: SentencePiece and byte-level BPE attach a
  // space to the word after it, so "Answer: " + "x" would otherwise split at the wrong place.
  size_t keep = context.find_last_not_of(" \t\n\r\v\f");
  keep = keep == std::string::npos ? 0 : keep + 1;
  std::string ctx = context.substr(0, keep), cont = context.substr(keep) + continuation;
  EncodedPair p;
  p.context = tok.encode(ctx, true);
  std::vector<int> whole = tok.encode(ctx + cont, true);
  // The continuation is whatever the joint encoding has past the context's length, even when a
  // merge across the boundary changed the context's last token (lm-eval does the same).
  p.continuation.assign(whole.begin() + std::ptrdiff_t(std::min(p.context.size(), whole.size())), whole.end());
  if (p.context.empty()) {  // the first continuation token needs something to be predicted from
    int prefix = tok.bos() >= 0 ? tok.bos() : tok.eos();
    ZIP_CHECK(prefix >= 0, "an empty context needs a BOS or EOS token, and the vocabulary has neither");
    p.context.push_back(prefix);
  }
  return p;
}

// Log-softmax at `target` in double precision; `argmax` tells whether target is the (first) maximum.
static double log_prob(const float* row, int V, int target, bool* argmax) {
  int best = 0;
  for (int v = 1; v < V; v++)
    if (row[v] > row[best]) best = v;
  double mx = row[best], sum = 0;
  for (int v = 0; v < V; v++) sum += std::exp(double(row[v]) - mx);
  *argmax = best == target;
  return double(row[target]) - mx - std::log(sum);
}

std::vector<CandidateScore> score_item(InferenceContext& ctx, const Tokenizer& tok, const TaskItem& item) {
  ZIP_CHECK(!item.candidates.empty(), "{}: no candidates", item.where);
  const int V = ctx.vocab_size();
  const size_t cap = size_t(ctx.ctx_len());
  std::vector<EncodedPair> enc;
  for (size_t i = 0; i < item.candidates.size(); i++) {
    EncodedPair p = encode_pair(tok, item.candidates[i].context, item.candidates[i].continuation);
    ZIP_CHECK(!p.continuation.empty(), "{}: candidate {} has no continuation tokens", item.where, i);
    ZIP_CHECK(p.continuation.size() <= cap, "{}: candidate {} has {} continuation tokens, more than the context ({})",
              item.where, i, p.continuation.size(), cap);
    // The last continuation token is only predicted, never fed: context + continuation − 1 must fit.
    // Longer sequences lose their first tokens (lm-eval keeps the last max_length + 1).
    size_t fed = p.context.size() + p.continuation.size() - 1;
    if (fed > cap) p.context.erase(p.context.begin(), p.context.begin() + std::ptrdiff_t(fed - cap));
    enc.push_back(std::move(p));
  }
  // The contexts' common prefix (all of it when they are the same) is evaluated once.
  size_t shared = enc[0].context.size();
  for (auto& p : enc) {
    size_t n = std::min(shared, p.context.size()), k = 0;
    while (k < n && p.context[k] == enc[0].context[k]) k++;
    shared = k;
  }
  ctx.reset();
  std::vector<float> last_row;  // the prediction after the shared prefix
  if (shared > 0) {
    const float* l = ctx.eval(enc[0].context.data(), int(shared), false);
    last_row.assign(l, l + V);
  }
  // Each candidate's rest (its context past the prefix, its continuation but the last token) runs
  // as its own sequence, the prefix's keys and values copied from sequence 0; candidates go
  // together in one batched pass while they fit the context's sequences and rows, so the weights
  // are read once for all of them. A rest longer than a batch runs alone in chunks.
  std::vector<std::vector<int>> rest(enc.size());
  for (size_t i = 0; i < enc.size(); i++) {
    rest[i].assign(enc[i].context.begin() + std::ptrdiff_t(shared), enc[i].context.end());
    rest[i].insert(rest[i].end(), enc[i].continuation.begin(), enc[i].continuation.end() - 1);
  }
  std::vector<CandidateScore> scores(enc.size());
  auto score = [&](size_t i, const float* out) {  // out: the logits of rest[i]'s rows
    const EncodedPair& p = enc[i];
    CandidateScore& s = scores[i];
    s.greedy = true;
    for (size_t j = 0; j < p.continuation.size(); j++) {
      size_t from = p.context.size() + j - 1;  // position whose logits predict continuation[j]
      const float* row = from < shared ? last_row.data() : out + (from - shared) * size_t(V);
      bool top;
      s.logprob += log_prob(row, V, p.continuation[j], &top);
      s.greedy = s.greedy && top;
    }
    s.tokens = int(p.continuation.size());
  };
  std::vector<int> tokens, seqs;
  const size_t fits = size_t(ctx.max_batch());
  for (size_t i = 0; i < enc.size();) {
    if (rest[i].size() > fits || ctx.n_seq() == 1) {  // alone, through eval's chunking
      ctx.rewind(int(shared));
      score(i, rest[i].empty() ? nullptr : ctx.eval(rest[i], true));
      i++;
      continue;
    }
    size_t j = i, rows = 0;
    tokens.clear(), seqs.clear();
    for (; j < enc.size() && int(j - i) < ctx.n_seq() && rows + rest[j].size() <= fits; rows += rest[j].size(), j++) {
      const int sq = int(j - i);
      if (sq == 0) ctx.rewind(int(shared));
      else ctx.copy_prefix(0, sq, int(shared));
      tokens.insert(tokens.end(), rest[j].begin(), rest[j].end());
      seqs.insert(seqs.end(), rest[j].size(), sq);
    }
    const float* out = rows > 0 ? ctx.eval_batch(tokens.data(), seqs.data(), int(rows), true) : nullptr;
    for (size_t k = i, row0 = 0; k < j; row0 += rest[k].size(), k++)
      score(k, out ? out + row0 * size_t(V) : nullptr);
    i = j;
  }
  return scores;
}

// Index of the first maximum of score(i), as numpy's argmax.
template <typename F>
static size_t argmax(size_t n, F score) {
  size_t best = 0;
  for (size_t i = 1; i < n; i++)
    if (score(i) > score(best)) best = i;
  return best;
}

TaskResult eval_task(InferenceContext& ctx, const Tokenizer& tok, const std::vector<TaskItem>& items, TaskFormat format,
                     const std::string& label) {
  ZIP_CHECK(ctx.model().config.info().causal, "zero-shot tasks need a decoder; this model is a {} encoder",
            ctx.model().config.info().name);
  ZIP_CHECK(!items.empty(), "{}: no items to score", label);
  TaskResult r;
  r.has_ppl = format == TaskFormat::Lambada;
  double correct = 0, correct_norm = 0, loglik = 0;
  Progress progress(label, int64_t(items.size()));
  for (const TaskItem& item : items) {
    ZIP_CHECK(item.gold >= 0 && size_t(item.gold) < item.candidates.size(), "{}: gold index {} out of range",
              item.where, item.gold);
    auto s = score_item(ctx, tok, item);
    const auto& c = item.candidates;
    if (r.has_ppl) {
      correct += s[size_t(item.gold)].greedy;
      loglik += s[size_t(item.gold)].logprob;
    } else {
      correct += argmax(s.size(), [&](size_t i) { return s[i].logprob; }) == size_t(item.gold);
      correct_norm += argmax(s.size(), [&](size_t i) { return s[i].logprob / c[i].norm_len; }) == size_t(item.gold);
    }
    r.scores.push_back(std::move(s));
    r.n++;
    progress.update(r.n);
  }
  progress.finish();
  r.acc = correct / double(r.n);
  r.acc_norm = r.has_ppl ? r.acc : correct_norm / double(r.n);
  if (r.has_ppl) r.ppl = std::exp(-loglik / double(r.n));
  return r;
}

}  // namespace zip
