#include "models/tokenizer_fit.h"

#include "engine/error.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

std::shared_ptr<const TokenizerData> load_given_tokenizer(const std::string& path) {
  try {
    return std::make_shared<const TokenizerData>(load_tokenizer(path));
  } catch (const Error& e) {
    fail("--tokenizer {}: not a tokenizer zip reads ({}); zip reads tokenizer.json, vocab.json + merges.txt, vocab.txt "
         "(WordPiece), tokenizer.model (SentencePiece) and tokenizer.bin (llama2.c)", path, e.what());
  }
}

void check_tokenizer_fits(const TokenizerData& t, const ModelConfig& c, const std::string& source) {
  const int64_t n = int64_t(t.pieces.size()), rows = c.vocab_size;
  ZIP_CHECK(n <= rows, "tokenizer {} has {} pieces, more than the model's vocabulary ({} embedding rows)", source, n,
            rows);
  if (c.info().causal) {
    ZIP_CHECK(t.type != "wordpiece",
              "tokenizer {} is a WordPiece vocabulary (BERT's), which cannot decode a decoder's output; pass this "
              "model's own tokenizer", source);
    ZIP_CHECK(2 * n >= rows,
              "tokenizer {} has {} pieces for a decoder with {} embedding rows: it is not this model's tokenizer",
              source, n, rows);
  }
  const std::pair<const char*, int> specials[] = {{"BOS", t.bos}, {"EOS", t.eos}, {"UNK", t.unk}, {"PAD", t.pad},
                                                 {"CLS", t.cls}, {"SEP", t.sep}, {"MASK", t.mask}};
  for (auto [name, id] : specials)
    ZIP_CHECK(id < n && id >= -1, "tokenizer {}: {} id {} is outside its {} pieces", source, name, id, n);
}

}  // namespace zip
