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
  bool stop_at_eos = true;   // stop at EOS or BOS
};

struct GenerateStats {
  int prompt_tokens = 0, new_tokens = 0;
  double prefill_s = 0, decode_s = 0;  // decode_s: from the first new token to the last
  std::string stop_reason;             // "eos", "length", "context", "callback"
};

// on_token(id, text) returns false to stop. `prompt` must be non-empty (at least BOS).
// The context is reset first.
GenerateStats generate(InferenceContext& ctx, const Tokenizer* tok, const std::vector<int>& prompt,
                       const GenerateOptions& opt, const std::function<bool(int id, const std::string& text)>& on_token);

}  // namespace zip
