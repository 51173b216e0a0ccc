#include "engine/chat/chat_session.h"

#include <algorithm>

#include "engine/error.h"

namespace zip {

namespace {

std::string piece_text(const Tokenizer& tok, int id) {
  return id >= 0 && id < tok.vocab_size() ? tok.data().pieces[size_t(id)] : std::string();
}

}  // namespace

ChatSession::ChatSession(InferenceContext& ctx, const Tokenizer& tok, ChatFormat format, std::string system)
    : ctx_(ctx), tok_(tok), format_(std::move(format)) {
  specials_.bos = piece_text(tok, tok.bos());
  specials_.eos = piece_text(tok, tok.eos());
  if (format_.end_of_turn.empty()) format_.end_of_turn = specials_.eos;
  const auto& pieces = tok.data().pieces;
  for (size_t i = 0; i < pieces.size() && end_of_turn_id_ < 0; i++)
    if (!format_.end_of_turn.empty() && pieces[i] == format_.end_of_turn && tok.data().types[i] != kNormal)
      end_of_turn_id_ = int(i);
  if (!system.empty()) history_.push_back({"system", std::move(system)});
  // A template that refuses the system message (or anything else about it) says so now.
  std::vector<ChatMessage> probe = history_;
  probe.push_back({"user", "?"});
  render_chat(format_, probe, true, specials_);
  ctx_.reset();
}

std::vector<int> ChatSession::continuation(const std::string& target) {
  const int evaluated = ctx_.pos() - prompt_pos_;
  if (!prompt_text_.empty() && target.starts_with(prompt_text_ + answer_text_) && evaluated >= 0) {
    // The rendering continues the answer as generated: feed the answer tokens the cache lacks
    // (the last one when generation stopped early), then the new text.
    std::vector<int> ids(answer_ids_.begin() + std::min<ptrdiff_t>(evaluated, ptrdiff_t(answer_ids_.size())),
                         answer_ids_.end());
    std::vector<int> rest = tok_.encode(std::string_view(target).substr(prompt_text_.size() + answer_text_.size()),
                                        false, true);
    ids.insert(ids.end(), rest.begin(), rest.end());
    return ids;
  }
  if (!prompt_text_.empty() && target.starts_with(prompt_text_)) {
    // The template rewrites the answer (trimmed, say): keep the cache up to the last prompt.
    ctx_.rewind(prompt_pos_);
    return tok_.encode(std::string_view(target).substr(prompt_text_.size()), false, true);
  }
  ctx_.reset();
  return tok_.encode(target, false, true);
}

ChatSession::Turn ChatSession::reply(const std::string& user, GenerateOptions opt,
                                     const std::function<bool(const std::string&)>& on_text) {
  Turn turn;
  std::vector<ChatMessage> messages = history_;
  messages.push_back({"user", user});
  const std::string target = render_chat(format_, messages, true, specials_);
  // Where the cache stands before, so that a turn that does not fit leaves it unchanged.
  const int pos_before = ctx_.pos();
  std::vector<int> ids = continuation(target);
  turn.prefilled = int(ids.size());
  turn.prompt_tokens = ctx_.pos() + turn.prefilled;
  if (ids.empty() || turn.prompt_tokens >= ctx_.ctx_len()) {
    // Needs at least one free position for the answer. (A rewind already done only dropped
    // positions this turn would have rewritten; the rest of the cache is intact.)
    turn.context_full = true;
    turn.cache_tokens = std::min(pos_before, ctx_.pos());
    return turn;
  }

  opt.keep_context = true;
  if (end_of_turn_id_ >= 0) opt.stop_tokens.push_back(end_of_turn_id_);
  else if (!format_.end_of_turn.empty()) opt.stop.push_back(format_.end_of_turn);
  std::vector<int> answer_ids;
  std::string streamed;
  turn.gen = generate(ctx_, &tok_, ids, opt, [&](int id, const std::string& text) {
    if (id >= 0) answer_ids.push_back(id);
    streamed += text;
    return on_text(text);
  });
  prompt_text_ = target;
  prompt_pos_ = turn.prompt_tokens;
  answer_ids_ = answer_ids;
  answer_text_.clear();
  int prev = ids.back();
  for (int id : answer_ids_) answer_text_ += tok_.decode_piece(prev, id), prev = id;
  turn.answer = streamed;
  turn.cache_tokens = ctx_.pos();
  history_.push_back({"user", user});
  history_.push_back({"assistant", streamed});
  return turn;
}

}  // namespace zip
