// Text generation: prefill the prompt, then sample token by token until EOS/BOS, the token
// budget, or the end of the context. Each new token is handed to a callback as it is made.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/sampler.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

struct GenerateOptions {
  int max_new_tokens = 128;  // -n
  SamplingParams sampling;
  bool stop_at_eos = true;         // stop at EOS or BOS
  std::vector<int> stop_tokens;    // more ids that end generation like EOS (a chat template's end of turn)
  std::vector<std::string> stop;   // stop strings: generation ends where one appears (not emitted)
  // Append the prompt to what the context already holds (a conversation's earlier turns) instead
  // of resetting it first.
  bool keep_context = false;
};

struct GenerateStats {
  int prompt_tokens = 0, new_tokens = 0;
  double prefill_s = 0, decode_s = 0;  // decode_s: from the first new token to the last
  std::string stop_reason;             // "eos", "end-of-turn", "length", "context", "stop", "callback"
};

// on_token(id, text) returns false to stop. `prompt` must be non-empty (at least BOS).
// The context is reset first (unless opt.keep_context). Every token handed to on_token is in the
// context afterwards except, when generation ends for another reason than EOS / a stop token,
// the last one. With stop strings, text that could begin a stop string is held
// back until it is known not to, so `text` may be empty or carry earlier tokens' text; the
// concatenation of all texts never contains a stop string; text still held back when generation
// ends for another reason is delivered last with id -1.
GenerateStats generate(InferenceContext& ctx, const Tokenizer* tok, const std::vector<int>& prompt,
                       const GenerateOptions& opt, const std::function<bool(int id, const std::string& text)>& on_token);

// Several independent sequences decoded together: prompt i is sequence i (ctx.n_seq() must be at
// least prompts.size()); every step runs one batched forward over the still-active sequences.
// Sequence i samples with seed opt.sampling.seed + i. on_token(seq, id, text) returns false to
// stop that sequence. Stats: prompt_tokens and new_tokens are totals over all sequences.
GenerateStats generate_batch(InferenceContext& ctx, const Tokenizer* tok, const std::vector<std::vector<int>>& prompts,
                             const GenerateOptions& opt,
                             const std::function<bool(int seq, int id, const std::string& text)>& on_token);

}  // namespace zip
