// Tokenizers. A TokenizerData is the serialisable vocabulary (what a .zlm embeds); a Tokenizer
// is the algorithm built from it. Loaders for each source format produce TokenizerData.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace zip {

struct Tensor;

// SentencePiece piece types (sentencepiece_model.proto).
enum PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct TokenizerData {
  std::string type = "sentencepiece-bpe";  // later: "byte-bpe", "wordpiece"
  // Raw bytes of each piece. SentencePiece's U+2581 (▁) is stored as a plain space ' ', byte
  // pieces keep their "<0xAB>" spelling (their type is kByte).
  std::vector<std::string> pieces;
  std::vector<float> scores;    // merge priority (higher merges first)
  std::vector<int32_t> types;   // PieceType per piece
  int bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = true;          // encode(add_special=true) prepends BOS
  bool add_dummy_prefix = true; // SentencePiece: a space is prepended to non-empty text
  bool byte_fallback = true;    // unknown characters become <0xAB> byte pieces

  bool operator==(const TokenizerData&) const = default;
};

class Tokenizer {
 public:
  explicit Tokenizer(std::shared_ptr<const TokenizerData> data);
  // Token ids for `text` (raw bytes, UTF-8 expected; invalid bytes go through byte fallback).
  // add_special: prepend BOS when the vocabulary asks for it.
  std::vector<int> encode(std::string_view text, bool add_special = true) const;
  // The bytes token `id` contributes to the text when it follows token `prev` (e.g. the leading
  // space of the first piece after BOS is dropped; <0xAB> pieces become the raw byte).
  std::string decode_piece(int prev, int id) const;
  // The text of a whole id sequence (special tokens produce nothing).
  std::string decode(const std::vector<int>& ids) const;

  const TokenizerData& data() const { return *data_; }
  int vocab_size() const { return int(data_->pieces.size()); }
  int bos() const { return data_->bos; }
  int eos() const { return data_->eos; }

 private:
  std::shared_ptr<const TokenizerData> data_;
  std::map<std::string, int, std::less<>> piece_to_id_;  // normal/user-defined pieces
  int byte_id_[256];                                     // id of <0xAB>, or -1
};

// Loaders (throw zip::Error on malformed input).
TokenizerData load_llama2c_tokenizer(const std::string& path);      // llama2.c tokenizer.bin
TokenizerData load_sentencepiece_model(const std::string& path);    // SentencePiece tokenizer.model
// A file (by content/name) or a directory containing tokenizer.model / tokenizer.bin.
TokenizerData load_tokenizer(const std::string& file_or_dir);

// Embedding in a .zlm: scalar fields go to `meta` (the header's "tokenizer" object), the
// vocabulary to tensors named "tokenizer.*" (u8 piece bytes, i32 offsets, f32 scores, i32 types).
void tokenizer_to_zlm(const TokenizerData& t, nlohmann::json& meta, std::map<std::string, Tensor>& tensors);
TokenizerData tokenizer_from_zlm(const nlohmann::json& meta, const std::map<std::string, Tensor>& tensors);

}  // namespace zip
