#include "engine/generate.h"

#include <chrono>

#include "engine/error.h"

namespace zip {

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

GenerateStats generate(InferenceContext& ctx, const Tokenizer* tok, const std::vector<int>& prompt,
                       const GenerateOptions& opt, const std::function<bool(int, const std::string&)>& on_token) {
  ZIP_CHECK(!prompt.empty(), "generate: empty prompt (it must hold at least BOS)");
  ZIP_CHECK(int(prompt.size()) <= ctx.ctx_len(), "the prompt has {} tokens, longer than the context ({})",
            prompt.size(), ctx.ctx_len());
  GenerateStats st;
  st.prompt_tokens = int(prompt.size());
  Sampler sampler(opt.sampling);
  int V = ctx.vocab_size();
  int bos = tok ? tok->bos() : -1, eos = tok ? tok->eos() : -1;

  ctx.reset();
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
    st.new_tokens++;
    std::string text = tok ? tok->decode_piece(prev, next) : std::string();
    if (!on_token(next, text)) {
      st.stop_reason = "callback";
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
  st.decode_s = seconds_since(t1);
  return st;
}

}  // namespace zip
