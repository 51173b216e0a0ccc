// `zip convert --tokenizer FILE`: the tokenizer is read before the weights (a bad file fails at
// once, naming the format it was read as) and checked against the model it is paired with.
#pragma once
#include <memory>
#include <string>

#include "engine/model.h"

namespace zip {

// load_tokenizer(path), with a failure reworded to name the format the file was read as and the
// formats zip reads.
std::shared_ptr<const TokenizerData> load_given_tokenizer(const std::string& path);

// Throws a one-line zip::Error unless `t` can serve a model of config `c`: no more pieces than
// embedding rows; for decoders, at least half as many (a decoder samples every row, so a
// tokenizer that cannot spell most of them belongs to another model) and not a WordPiece
// vocabulary (BERT's; no byte fallback, no decoding of generated text); every special id
// (BOS, EOS, UNK, PAD, CLS, SEP, MASK) a piece of the tokenizer. `source` names it in messages.
void check_tokenizer_fits(const TokenizerData& t, const ModelConfig& c, const std::string& source);

}  // namespace zip
