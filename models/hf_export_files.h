// The files of an exported Hugging Face folder besides config.json and the weights: the
// tokenizer (tokenizer.json and tokenizer_config.json with the chat template; the inverse of
// engine/tokenizer/hf_tokenizer_json.cpp) and, for a sentence-embedding BERT, the
// sentence-transformers modules (modules.json, 1_Pooling/config.json, 2_Normalize/).
#pragma once
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

// Byte-level BPE and WordPiece vocabularies; a SentencePiece one is refused (transformers reads it
// from tokenizer.model, which this exporter does not write): a note says so and nothing is written.
void write_hf_tokenizer(const std::string& dir, const TokenizerData& t, std::vector<std::string>& notes);

// modules.json (the Transformer at the folder root), Pooling (mean or cls) and Normalize.
void write_sentence_transformers(const std::string& dir, const ModelConfig& c);

}  // namespace zip
