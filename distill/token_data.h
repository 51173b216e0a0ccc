// tokens.bin: a tokenised corpus for `zip train` / `zip distill` (docs/TRAINING.md has the byte
// layout). Documents are kept as offsets so that a validation split and document joining stay
// on document boundaries; the tokenizer hash ties the ids to the vocabulary that produced them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace zip::distill {

inline constexpr char kTokensMagic[8] = {'Z', 'I', 'P', 'T', 'O', 'K', 'S', '\0'};
inline constexpr uint32_t kTokensVersion = 1;

struct TokenData {
  uint32_t tokenizer_hash = 0;
  uint32_t vocab_size = 0;
  std::vector<uint64_t> offsets = {0};  // n_docs + 1 token offsets; document d is [offsets[d], offsets[d+1])
  std::vector<int32_t> ids;
  uint32_t file_crc = 0;  // CRC-32C of the file it was read from (provenance "data hash")

  size_t n_docs() const { return offsets.size() - 1; }
  size_t n_tokens() const { return ids.size(); }
  void add_document(const std::vector<int>& doc);
  // Documents [first, last) as a new corpus (same tokenizer).
  TokenData slice(size_t first, size_t last) const;
};

// A stable id of a vocabulary: CRC-32C over every piece (u32 length, bytes) and its type.
uint32_t tokenizer_hash(const TokenizerData& t);

// Encodes documents joined the way the tokenizer's family was trained: BOS before every
// document when the vocabulary adds BOS (SentencePiece / Llama), else EOS after every document
// but the last (GPT-2's <|endoftext|> between documents), else plain concatenation.
TokenData tokenize_documents(const TokenizerData& tok, const std::vector<std::string>& docs);

void save_tokens(const TokenData& d, const std::string& path);  // atomic
TokenData load_tokens(const std::string& path);                 // validates everything; throws zip::Error

}  // namespace zip::distill
