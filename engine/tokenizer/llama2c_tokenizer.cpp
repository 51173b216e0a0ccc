// llama2.c tokenizer.bin: int32 max_token_len, then until EOF one record per piece:
// float32 score, int32 byte length, the bytes. The vocabulary size is not stored.
// llama2.c's exporter (tokenizer.py) wrote SentencePiece pieces with U+2581 already replaced by
// ' ', and spelled BOS/EOS "\n<s>\n" / "\n</s>\n"; ids 0/1/2 are <unk>/BOS/EOS. We normalise
// those two spellings so the result equals what load_sentencepiece_model gives for the same
// vocabulary.
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

namespace {

bool is_byte_piece(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

}  // namespace

TokenizerData load_llama2c_tokenizer(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint8_t* p = file->data();
  const size_t size = file->size();
  size_t pos = 0;
  auto read_i32 = [&](const char* what) {
    ZIP_CHECK(size - pos >= 4, "'{}': truncated llama2.c tokenizer (reading {} at byte {})", path, what, pos);
    int32_t v;
    std::memcpy(&v, p + pos, 4);
    pos += 4;
    return v;
  };

  const int32_t max_token_len = read_i32("max_token_len");
  ZIP_CHECK(max_token_len > 0 && size_t(max_token_len) <= size, "'{}': not a llama2.c tokenizer (max_token_len {})",
            path, max_token_len);

  TokenizerData t;
  while (pos < size) {
    const size_t id = t.pieces.size();
    float score;
    {
      int32_t bits = read_i32("a score");
      std::memcpy(&score, &bits, 4);
    }
    ZIP_CHECK(!std::isnan(score), "'{}': piece {} has a NaN score", path, id);
    const int32_t len = read_i32("a piece length");
    // llama2.c sizes its buffers by max_token_len, so a longer piece means a corrupt file.
    ZIP_CHECK(len >= 0 && len <= max_token_len, "'{}': piece {} has length {} (max_token_len {})", path, id, len,
              max_token_len);
    ZIP_CHECK(size - pos >= size_t(len), "'{}': truncated llama2.c tokenizer (piece {} needs {} bytes, {} left)", path,
              id, len, size - pos);
    t.pieces.emplace_back(reinterpret_cast<const char*>(p + pos), size_t(len));
    t.scores.push_back(score);
    pos += size_t(len);
  }
  ZIP_CHECK(t.pieces.size() >= 3, "'{}': llama2.c tokenizer has {} pieces, need at least <unk>, BOS and EOS", path,
            t.pieces.size());

  t.types.assign(t.pieces.size(), kNormal);
  for (size_t i = 0; i < t.pieces.size(); i++)
    if (is_byte_piece(t.pieces[i])) t.types[i] = kByte;
  t.types[0] = kUnknown;
  t.types[1] = t.types[2] = kControl;
  t.pieces[1] = "<s>";
  t.pieces[2] = "</s>";
  t.unk = 0;
  t.bos = 1;
  t.eos = 2;
  t.pad = -1;
  t.add_bos = true;
  t.add_dummy_prefix = true;  // llama2.c always prepends a space to non-empty text
  t.byte_fallback = false;
  for (int type : t.types) t.byte_fallback = t.byte_fallback || type == kByte;
  return t;
}

}  // namespace zip
