#include "engine/generate.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "engine/error.h"
#include "base/stopwatch.h"

namespace zip {

namespace {

// Streams text while holding back any tail that could still grow into a stop string.
class StopFilter {
 public:
  explicit StopFilter(const std::vector<std::string>& stops) : stops_(stops) {}
  // Appends `piece`; returns the text that is safe to emit. Sets hit() when a stop string appears.
  std::string push(const std::string& piece) {
    pending_ += piece;
    size_t cut = std::string::npos;
    for (auto& s : stops_)
      if (!s.empty()) cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      hit_ = true;
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return out;
    }
    size_t hold = 0;  // longest suffix of pending_ that is a proper prefix of a stop string
    for (auto& s : stops_)
      for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); k > hold; k--)
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
  }
  std::string flush() { return std::exchange(pending_, std::string()); }
  bool hit() const { return hit_; }

 private:
  const std::vector<std::string>& stops_;
  std::string pending_;
  bool hit_ = false;
};

}  // namespace

GenerateStats generate(InferenceContext& ctx, const Tokenizer* tok, const std::vector<int>& prompt,
                       const GenerateOptions& opt, const std::function<bool(int, const std::string&)>& on_token) {
  ZIP_CHECK(!prompt.empty(), "generate: empty prompt (it must hold at least BOS)");
  const int start = opt.keep_context ? ctx.pos() : 0;
  ZIP_CHECK(start + int(prompt.size()) <= ctx.ctx_len(), "the prompt has {} tokens, longer than the context ({}{})",
            prompt.size(), ctx.ctx_len(), start ? fmt::format(" of which {} are in use", start) : "");
  GenerateStats st;
  st.prompt_tokens = int(prompt.size());
  Sampler sampler(opt.sampling);
  for (int id : prompt) sampler.accept(id);
  StopFilter stops(opt.stop);
  int V = ctx.vocab_size();
  int bos = tok ? tok->bos() : -1, eos = tok ? tok->eos() : -1;

  if (!opt.keep_context) ctx.reset();
  auto t0 = std::chrono::steady_clock::now();
  const float* logits = ctx.eval(prompt);
  st.prefill_s = seconds_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  int prev = prompt.back();
  st.stop_reason = "length";
  while (st.new_tokens < opt.max_new_tokens) {
    int next = sampler.sample(logits, V);
    if (opt.stop_at_eos && (next == eos || next == bos)) {
      st.stop_reason = "eos";
      break;
    }
    if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), next) != opt.stop_tokens.end()) {
      st.stop_reason = "end-of-turn";
      break;
    }
    st.new_tokens++;
    sampler.accept(next);
    std::string text = tok ? tok->decode_piece(prev, next) : std::string();
    if (!opt.stop.empty()) text = stops.push(text);
    if (!on_token(next, text)) {
      st.stop_reason = "callback";
      break;
    }
    if (stops.hit()) {
      st.stop_reason = "stop";
      break;
    }
    prev = next;
    if (st.new_tokens >= opt.max_new_tokens) break;
    if (ctx.pos() >= ctx.ctx_len()) {
      st.stop_reason = "context";
      break;
    }
    logits = ctx.eval(&next, 1);
  }
  if (!stops.hit() && st.stop_reason != "callback") {
    std::string rest = stops.flush();
    if (!rest.empty()) on_token(-1, rest);
  }
  st.decode_s = seconds_since(t1);
  return st;
}

GenerateStats generate_batch(InferenceContext& ctx, const Tokenizer* tok, const std::vector<std::vector<int>>& prompts,
                             const GenerateOptions& opt,
                             const std::function<bool(int, int, const std::string&)>& on_token) {
  int B = int(prompts.size());
  ZIP_CHECK(B >= 1 && B <= ctx.n_seq(), "generate_batch: {} prompts for a context of {} sequences", B, ctx.n_seq());
  int V = ctx.vocab_size(), bos = tok ? tok->bos() : -1, eos = tok ? tok->eos() : -1;
  GenerateStats st;
  std::vector<Sampler> samplers;
  for (int i = 0; i < B; i++) {
    ZIP_CHECK(!prompts[size_t(i)].empty(), "generate_batch: prompt {} is empty", i);
    ZIP_CHECK(int(prompts[size_t(i)].size()) <= ctx.ctx_len(), "prompt {} is longer than the context", i);
    SamplingParams sp = opt.sampling;
    sp.seed += uint64_t(i);
    samplers.emplace_back(sp);
    st.prompt_tokens += int(prompts[size_t(i)].size());
  }
  ctx.reset();
  auto t0 = std::chrono::steady_clock::now();
  // Prefill: all prompts' rows in batches of at most max_batch rows.
  std::vector<int> rows, seqs, last(size_t(B), 0);
  std::vector<float> first_logits(size_t(B) * V);
  auto flush = [&] {
    if (rows.empty()) return;
    const float* lg = ctx.eval_batch(rows.data(), seqs.data(), int(rows.size()), false);
    // One logits row per sequence present, in order of first appearance.
    std::vector<int> order;
    for (int sq : seqs)
      if (order.empty() || order.back() != sq) order.push_back(sq);
    for (size_t k = 0; k < order.size(); k++)
      std::copy_n(lg + k * size_t(V), V, first_logits.data() + size_t(order[k]) * V);
    rows.clear(), seqs.clear();
  };
  for (int i = 0; i < B; i++)
    for (int id : prompts[size_t(i)]) {
      rows.push_back(id), seqs.push_back(i);
      if (int(rows.size()) == ctx.max_batch()) flush();
    }
  flush();
  st.prefill_s = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  std::vector<int> active, prev(static_cast<size_t>(B)), produced(static_cast<size_t>(B), 0);
  std::vector<int> next(static_cast<size_t>(B));
  for (int i = 0; i < B; i++) active.push_back(i), prev[size_t(i)] = prompts[size_t(i)].back();
  const float* logits = first_logits.data();
  std::vector<int> active_rows = active;  // row r of `logits` belongs to active_rows[r]
  st.stop_reason = "length";
  while (!active.empty()) {
    std::vector<int> still;
    for (size_t r = 0; r < active_rows.size(); r++) {
      int i = active_rows[r];
      const float* row = logits + r * size_t(V);
      int id = samplers[size_t(i)].sample(row, V);
      if (opt.stop_at_eos && (id == eos || id == bos)) continue;
      produced[size_t(i)]++;
      st.new_tokens++;
      std::string text = tok ? tok->decode_piece(prev[size_t(i)], id) : std::string();
      if (!on_token(i, id, text)) continue;
      prev[size_t(i)] = id;
      next[size_t(i)] = id;
      if (produced[size_t(i)] < opt.max_new_tokens && ctx.pos(i) < ctx.ctx_len()) still.push_back(i);
    }
    active = still;
    if (active.empty()) break;
    std::vector<int> toks;
    for (int i : active) toks.push_back(next[size_t(i)]);
    logits = ctx.eval_batch(toks.data(), active.data(), int(active.size()), true);
    active_rows = active;
  }
  st.decode_s = seconds_since(t1);
  return st;
}

}  // namespace zip
