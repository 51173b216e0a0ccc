#include "distill/token_data.h"

#include <cstring>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip::distill {

namespace {

constexpr size_t kHeaderBytes = 40;

template <typename U>
void put(std::string& s, U v) {
  for (size_t i = 0; i < sizeof(U); i++) s.push_back(char(uint8_t(uint64_t(v) >> (8 * i))));
}
template <typename U>
U get(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(U); i++) v |= uint64_t(p[i]) << (8 * i);
  return U(v);
}

}  // namespace

void TokenData::add_document(const std::vector<int>& doc) {
  ids.insert(ids.end(), doc.begin(), doc.end());
  offsets.push_back(ids.size());
}

TokenData TokenData::slice(size_t first, size_t last) const {
  TokenData d;
  d.tokenizer_hash = tokenizer_hash, d.vocab_size = vocab_size, d.file_crc = file_crc;
  for (size_t i = first; i < last; i++)
    d.add_document(std::vector<int>(ids.begin() + int64_t(offsets[i]), ids.begin() + int64_t(offsets[i + 1])));
  return d;
}

uint32_t tokenizer_hash(const TokenizerData& t) {
  uint32_t crc = 0;
  for (size_t i = 0; i < t.pieces.size(); i++) {
    std::string rec;
    put<uint32_t>(rec, uint32_t(t.pieces[i].size()));
    rec += t.pieces[i];
    put<int32_t>(rec, i < t.types.size() ? t.types[i] : 0);
    crc = crc32c(rec.data(), rec.size(), crc);
  }
  return crc;
}

TokenData tokenize_documents(const TokenizerData& data, const std::vector<std::string>& docs) {
  auto shared = std::make_shared<TokenizerData>(data);
  Tokenizer tok(shared);
  TokenData d;
  d.tokenizer_hash = tokenizer_hash(data);
  d.vocab_size = uint32_t(data.pieces.size());
  bool bos_rule = data.add_bos && data.bos >= 0;
  for (size_t i = 0; i < docs.size(); i++) {
    std::vector<int> ids = tok.encode(docs[i], false);
    if (bos_rule) ids.insert(ids.begin(), data.bos);
    else if (data.eos >= 0 && i + 1 < docs.size()) ids.push_back(data.eos);
    d.add_document(ids);
  }
  return d;
}

void save_tokens(const TokenData& d, const std::string& path) {
  uint32_t width = d.vocab_size <= 65535 ? 2 : 4;
  std::string s(kTokensMagic, 8);
  put<uint32_t>(s, kTokensVersion);
  put<uint32_t>(s, width);
  put<uint32_t>(s, d.tokenizer_hash);
  put<uint32_t>(s, d.vocab_size);
  put<uint64_t>(s, d.n_docs());
  put<uint64_t>(s, d.n_tokens());
  s.reserve(s.size() + 8 * d.offsets.size() + width * d.ids.size() + 4);
  for (uint64_t o : d.offsets) put<uint64_t>(s, o);
  for (int32_t id : d.ids) width == 2 ? put<uint16_t>(s, uint16_t(id)) : put<uint32_t>(s, uint32_t(id));
  put<uint32_t>(s, crc32c(s.data(), s.size()));
  write_file_atomic(path, s);
}

TokenData load_tokens(const std::string& path) {
  std::string s = read_file(path);
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  if (s.size() < kHeaderBytes + 12 || std::memcmp(p, kTokensMagic, 8) != 0) fail("{}: not a tokens.bin file", path);
  if (get<uint32_t>(p + 8) != kTokensVersion) fail("{}: unsupported tokens.bin version {}", path, get<uint32_t>(p + 8));
  uint32_t width = get<uint32_t>(p + 12);
  uint64_t n_docs = get<uint64_t>(p + 24), n_tok = get<uint64_t>(p + 32);
  if (width != 2 && width != 4) fail("{}: corrupt tokens.bin (id width {})", path, width);
  // Sizes are checked before any multiplication can overflow.
  if (n_docs > s.size() / 8 || n_tok > s.size() / width ||
      kHeaderBytes + 8 * (n_docs + 1) + width * n_tok + 4 != s.size())
    fail("{}: corrupt tokens.bin (size does not match the header)", path);
  if (get<uint32_t>(p + s.size() - 4) != crc32c(p, s.size() - 4))
    fail("{}: corrupt tokens.bin (checksum mismatch)", path);
  TokenData d;
  d.tokenizer_hash = get<uint32_t>(p + 16);
  d.vocab_size = get<uint32_t>(p + 20);
  d.file_crc = get<uint32_t>(p + s.size() - 4);
  d.offsets.resize(n_docs + 1);
  const uint8_t* q = p + kHeaderBytes;
  for (auto& o : d.offsets) o = get<uint64_t>(q), q += 8;
  if (d.offsets.front() != 0 || d.offsets.back() != n_tok) fail("{}: corrupt tokens.bin (document offsets)", path);
  for (size_t i = 0; i < n_docs; i++)
    if (d.offsets[i] > d.offsets[i + 1]) fail("{}: corrupt tokens.bin (document offsets)", path);
  d.ids.resize(n_tok);
  for (auto& id : d.ids) {
    id = width == 2 ? int32_t(get<uint16_t>(q)) : int32_t(get<uint32_t>(q));
    q += width;
    if (id < 0 || uint32_t(id) >= d.vocab_size) fail("{}: corrupt tokens.bin (token id {} out of range)", path, id);
  }
  return d;
}

}  // namespace zip::distill
