// Tokenizer: checks what every vocabulary must satisfy, builds the algorithm for its type, and
// does what all algorithms share: cutting special pieces out of the text and the
// BOS / [CLS] ... [SEP] templates.
#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/tokenizer/tokenizer_model.h"

namespace zip {

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerData> data) : data_(std::move(data)) {
  ZIP_CHECK(data_ != nullptr, "tokenizer: no vocabulary");
  const TokenizerData& d = *data_;
  const size_t n = d.pieces.size();
  ZIP_CHECK(n > 0, "tokenizer: empty vocabulary");
  ZIP_CHECK(n <= size_t(INT32_MAX), "tokenizer: vocabulary too large ({} pieces)", n);
  ZIP_CHECK(d.scores.size() == n && d.types.size() == n, "tokenizer: {} pieces but {} scores and {} types", n,
            d.scores.size(), d.types.size());
  for (int id : {d.bos, d.eos, d.unk, d.pad, d.cls, d.sep, d.mask})
    ZIP_CHECK(id >= -1 && id < int(n), "tokenizer: special token id {} out of range [0, {})", id, n);
  for (size_t i = 0; i < n; i++) {
    ZIP_CHECK(d.types[i] >= kNormal && d.types[i] <= kByte, "tokenizer: piece {} has unknown type {}", i, d.types[i]);
    ZIP_CHECK(!std::isnan(d.scores[i]), "tokenizer: piece {} has a NaN score", i);
  }
  if (d.type == "sentencepiece-bpe")
    model_ = detail::make_sentencepiece_bpe(d);
  else if (d.type == "byte-bpe")
    model_ = detail::make_byte_bpe(d);
  else if (d.type == "wordpiece")
    model_ = detail::make_wordpiece(d);
  else
    fail("tokenizer: unknown tokenizer type '{}'", d.type);

  // Pieces that can be cut out of the text, indexed by first byte, longest first.
  special_by_byte_.resize(256);
  const bool user_defined = model_->splits_user_defined();
  for (size_t i = 0; i < n; i++) {
    const int type = d.types[i];
    if (d.pieces[i].empty() || !(detail::is_special_type(type) || (user_defined && type == kUserDefined))) continue;
    special_by_byte_[(unsigned char)d.pieces[i][0]].push_back(int(i));
    (type == kUserDefined ? has_user_defined_ : has_control_) = true;
  }
  for (auto& ids : special_by_byte_)
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int a, int b) { return d.pieces[size_t(a)].size() > d.pieces[size_t(b)].size(); });
}

Tokenizer::~Tokenizer() = default;

int Tokenizer::match_special(std::string_view text, size_t pos, bool parse_special) const {
  for (int id : special_by_byte_[(unsigned char)text[pos]]) {
    const bool user_defined = data_->types[size_t(id)] == kUserDefined;
    if ((user_defined || parse_special) && text.substr(pos).starts_with(data_->pieces[size_t(id)])) return id;
  }
  return -1;
}

void Tokenizer::encode_segments(std::string_view text, bool parse_special, std::vector<int>& ids) const {
  if (!has_user_defined_ && !(parse_special && has_control_)) {
    model_->encode(text, ids);
    return;
  }
  // Leftmost-longest matching, as Hugging Face's added-token splitter does.
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    int id = match_special(text, pos, parse_special);
    if (id < 0) {
      pos++;
      continue;
    }
    if (pos > start) model_->encode(text.substr(start, pos - start), ids);
    ids.push_back(id);
    pos += data_->pieces[size_t(id)].size();
    start = pos;
  }
  if (start < text.size()) model_->encode(text.substr(start), ids);
}

std::vector<int> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  return encode_with_types(text, add_special, parse_special).ids;
}

Tokenizer::Encoding Tokenizer::encode_with_types(std::string_view text, bool add_special, bool parse_special) const {
  const TokenizerData& d = *data_;
  Encoding e;
  const bool cls_sep = d.cls >= 0 && d.sep >= 0;
  if (add_special && cls_sep) e.ids.push_back(d.cls);
  if (add_special && !cls_sep && d.add_bos && d.bos >= 0) e.ids.push_back(d.bos);
  encode_segments(text, parse_special, e.ids);
  if (add_special && cls_sep) e.ids.push_back(d.sep);
  e.type_ids.assign(e.ids.size(), 0);
  return e;
}

Tokenizer::Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, bool parse_special) const {
  const TokenizerData& d = *data_;
  ZIP_CHECK(d.cls >= 0 && d.sep >= 0, "tokenizer: sentence pairs need a vocabulary with [CLS] and [SEP] ({} has none)",
            d.type);
  Encoding e = encode_with_types(a, true, parse_special);
  const size_t first = e.ids.size();
  encode_segments(b, parse_special, e.ids);
  e.ids.push_back(d.sep);
  e.type_ids.resize(e.ids.size(), 0);
  std::fill(e.type_ids.begin() + std::ptrdiff_t(first), e.type_ids.end(), 1);
  return e;
}

std::string Tokenizer::decode_piece(int prev, int id) const {
  ZIP_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  // A previous id the vocabulary does not have (a model's padded vocabulary) counts as none.
  return model_->decode_piece(prev >= 0 && prev < vocab_size() ? prev : -1, id);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  for (int id : ids) ZIP_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return model_->decode(ids);
}

}  // namespace zip
