// A conversation with a chat model whose history lives in the KV cache: each user turn renders
// the whole conversation through the chat template (as Hugging Face would), and only the text
// beyond what the cache already holds is tokenized and prefilled. The answer is generated until
// EOS or the template's end-of-turn token and added to the history.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/chat/chat_template.h"
#include "engine/forward.h"
#include "engine/generate.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

class ChatSession {
 public:
  // `system`: a system message opening the conversation ("" = none; the template's default
  // system message, if any, applies then). Throws zip::Error if the template refuses it.
  ChatSession(InferenceContext& ctx, const Tokenizer& tok, ChatFormat format, std::string system);

  struct Turn {
    int prompt_tokens = 0;   // tokens the rendered conversation up to the answer takes
    int prefilled = 0;       // of which prefilled this turn (the rest was already cached)
    int cache_tokens = 0;    // tokens in the cache after the answer
    bool context_full = false;  // the turn did not fit: nothing was generated or recorded
    GenerateStats gen;
    std::string answer;
  };
  // Adds `user` and generates the answer, streamed through on_text (return false to end the
  // answer early: it is kept as it is). opt.keep_context and opt.stop_tokens are set here; the
  // template's end-of-turn text is added to opt.stop when the vocabulary has no such token.
  Turn reply(const std::string& user, GenerateOptions opt, const std::function<bool(const std::string&)>& on_text);

  const std::vector<ChatMessage>& history() const { return history_; }
  const ChatFormat& format() const { return format_; }
  // The id of the end-of-turn token, or -1 when the vocabulary has none.
  int end_of_turn_id() const { return end_of_turn_id_; }

 private:
  // Token ids to feed for rendered text `target`: rewinds/resets the context as needed so that
  // the ids continue what it holds.
  std::vector<int> continuation(const std::string& target);

  InferenceContext& ctx_;
  const Tokenizer& tok_;
  ChatFormat format_;
  ChatSpecials specials_;
  int end_of_turn_id_ = -1;
  std::vector<ChatMessage> history_;
  // What the cache holds: the last rendered prompt (prompt_text_, positions [0, prompt_pos_)),
  // then the answer's tokens answer_ids_ (text answer_text_), of which the first
  // (ctx.pos() - prompt_pos_) are evaluated.
  std::string prompt_text_, answer_text_;
  std::vector<int> answer_ids_;
  int prompt_pos_ = 0;
};

}  // namespace zip
