// Tokenizer metadata of an exported GGUF file (tokenizer.ggml.*, tokenizer.chat_template), the
// inverse of the GGUF importer's read_tokenizer: SentencePiece vocabularies as model "llama"
// (spaces spelled U+2581, scores), byte-level BPE as "gpt2" (normal pieces in GPT-2's byte
// alphabet, merges by rank, tokenizer.ggml.pre), WordPiece as "bert" (llama.cpp's spelling: a
// word-initial piece gets U+2581, a "##" continuation loses its "##").
#pragma once
#include "engine/tokenizer/tokenizer.h"
#include "models/gguf_writer.h"

namespace zip {

// Writes the vocabulary padded to `vocab_size` entries ("[PAD<i>]", type unused) when the model's
// embedding has more rows than the tokenizer has pieces, as llama.cpp needs one token per row.
void write_gguf_tokenizer(gguf::Writer& w, const TokenizerData& t, int vocab_size);

}  // namespace zip
