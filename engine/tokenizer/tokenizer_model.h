// Internal: the algorithm behind a Tokenizer, one implementation per TokenizerData::type.
// Tokenizer handles what all of them share (special tokens, BOS/CLS/SEP templates, validation of
// the common fields) and hands plain text segments to its TokenizerModel.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace zip::detail {

// Hash for unordered maps keyed by std::string that are searched with std::string_view.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PieceMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;
  // Appends the ids of `text`, a segment holding no special token.
  virtual void encode(std::string_view text, std::vector<int>& ids) const = 0;
  // See Tokenizer::decode_piece / Tokenizer::decode.
  virtual std::string decode_piece(int prev, int id) const = 0;
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  // Whether user-defined pieces are cut out of the text before encode() sees it (Hugging Face's
  // added tokens); SentencePiece instead merges them like ordinary pieces.
  virtual bool splits_user_defined() const { return true; }
};

// Each validates what its algorithm needs beyond the checks Tokenizer already made.
std::unique_ptr<TokenizerModel> make_sentencepiece_bpe(const TokenizerData& d);
std::unique_ptr<TokenizerModel> make_byte_bpe(const TokenizerData& d);
std::unique_ptr<TokenizerModel> make_wordpiece(const TokenizerData& d);

// Piece types that carry no text when decoded.
inline bool is_special_type(int type) { return type == kControl || type == kUnknown; }

}  // namespace zip::detail
