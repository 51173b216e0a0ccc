// The tokenizer inside a .zlm file. The scalars live in the header's "tokenizer" object and the
// vocabulary in 1-D tensors: tokenizer.pieces (u8, all piece bytes concatenated),
// tokenizer.offsets (i32, n+1, piece i is bytes [offsets[i], offsets[i+1])), tokenizer.scores
// (f32, n), tokenizer.types (i32, n, PieceType), and for byte-bpe tokenizer.merges (i32,
// 2 * n_merges: left id, right id of each merge by rank; absent when there are none).
// Keys added after the first version (cls, sep, mask, pre, n_merges, ignore_merges, the
// wordpiece normaliser flags and chat_template) default when missing, so older files still load. Everything read
// back is validated, finally by building a Tokenizer from it: the file may be corrupt.
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/tensor.h"
#include "engine/tokenizer/pretokenize.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"

namespace zip {

namespace {

const char* const kKnownTypes[] = {"sentencepiece-bpe", "byte-bpe", "wordpiece"};

const Tensor& require_tensor(const std::map<std::string, Tensor>& tensors, const std::string& name, DType dtype,
                             int64_t expected_len) {
  auto it = tensors.find(name);
  ZIP_CHECK(it != tensors.end(), "tokenizer: tensor '{}' is missing", name);
  const Tensor& t = it->second;
  ZIP_CHECK(t.dtype == dtype, "tokenizer: tensor '{}' has dtype {}, expected {}", name, dtype_name(t.dtype),
            dtype_name(dtype));
  ZIP_CHECK(t.device == Device::CPU, "tokenizer: tensor '{}' is not on the CPU", name);
  ZIP_CHECK(t.ndim() == 1, "tokenizer: tensor '{}' has shape {}, expected 1-D", name, t.shape_str());
  if (expected_len >= 0)
    ZIP_CHECK(t.dim(0) == expected_len, "tokenizer: tensor '{}' has {} elements, expected {}", name, t.dim(0),
              expected_len);
  ZIP_CHECK(t.dim(0) >= 0, "tokenizer: tensor '{}' has negative size", name);
  ZIP_CHECK(t.dim(0) == 0 || t.data != nullptr, "tokenizer: tensor '{}' has no data", name);
  return t;
}

const nlohmann::json& require_field(const nlohmann::json& meta, const char* key) {
  auto it = meta.find(key);
  ZIP_CHECK(it != meta.end(), "tokenizer metadata: '{}' is missing", key);
  return *it;
}

int64_t check_int(const nlohmann::json& v, const char* key, int64_t lo, int64_t hi) {
  ZIP_CHECK(v.is_number_integer(), "tokenizer metadata: '{}' must be an integer", key);
  int64_t x = v.get<int64_t>();
  ZIP_CHECK(x >= lo && x <= hi, "tokenizer metadata: '{}' = {} is out of range [{}, {}]", key, x, lo, hi);
  return x;
}

int64_t require_int(const nlohmann::json& meta, const char* key, int64_t lo, int64_t hi) {
  return check_int(require_field(meta, key), key, lo, hi);
}

bool check_bool(const nlohmann::json& v, const char* key) {
  ZIP_CHECK(v.is_boolean(), "tokenizer metadata: '{}' must be true or false", key);
  return v.get<bool>();
}

bool require_bool(const nlohmann::json& meta, const char* key) { return check_bool(require_field(meta, key), key); }

// Keys newer files have: their value when present, else the default.
int64_t optional_int(const nlohmann::json& meta, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  auto it = meta.find(key);
  return it == meta.end() ? fallback : check_int(*it, key, lo, hi);
}

bool optional_bool(const nlohmann::json& meta, const char* key, bool fallback) {
  auto it = meta.find(key);
  return it == meta.end() ? fallback : check_bool(*it, key);
}

}  // namespace

void tokenizer_to_zlm(const TokenizerData& t, nlohmann::json& meta, std::map<std::string, Tensor>& tensors) {
  const size_t n = t.pieces.size();
  ZIP_CHECK(t.scores.size() == n && t.types.size() == n, "tokenizer: {} pieces but {} scores and {} types", n,
            t.scores.size(), t.types.size());
  meta["type"] = t.type;
  meta["bos"] = t.bos;
  meta["eos"] = t.eos;
  meta["unk"] = t.unk;
  meta["pad"] = t.pad;
  meta["cls"] = t.cls;
  meta["sep"] = t.sep;
  meta["mask"] = t.mask;
  meta["add_bos"] = t.add_bos;
  meta["add_dummy_prefix"] = t.add_dummy_prefix;
  meta["byte_fallback"] = t.byte_fallback;
  meta["pre"] = t.pre;
  meta["ignore_merges"] = t.ignore_merges;
  meta["clean_text"] = t.clean_text;
  meta["handle_chinese_chars"] = t.handle_chinese_chars;
  meta["strip_accents"] = t.strip_accents;
  meta["lowercase"] = t.lowercase;
  meta["n_pieces"] = n;
  meta["n_merges"] = t.merges.size();
  ZIP_CHECK(unicode::is_valid_utf8(t.chat_template), "tokenizer: the chat template is not valid UTF-8");
  if (!t.chat_template.empty()) meta["chat_template"] = t.chat_template;

  size_t total = 0;
  for (const auto& p : t.pieces) total += p.size();
  ZIP_CHECK(total <= size_t(INT32_MAX), "tokenizer: {} bytes of pieces do not fit i32 offsets", total);
  Tensor bytes = Tensor::zeros(DType::U8, {int64_t(total)});
  Tensor offsets = Tensor::zeros(DType::I32, {int64_t(n) + 1});
  Tensor scores = Tensor::zeros(DType::F32, {int64_t(n)});
  Tensor types = Tensor::zeros(DType::I32, {int64_t(n)});
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) {
    offsets.ptr<int32_t>()[i] = int32_t(pos);
    if (!t.pieces[i].empty()) std::memcpy(bytes.ptr<uint8_t>() + pos, t.pieces[i].data(), t.pieces[i].size());
    pos += t.pieces[i].size();
    scores.ptr<float>()[i] = t.scores[i];
    types.ptr<int32_t>()[i] = t.types[i];
  }
  offsets.ptr<int32_t>()[n] = int32_t(pos);
  tensors["tokenizer.pieces"] = std::move(bytes);
  tensors["tokenizer.offsets"] = std::move(offsets);
  tensors["tokenizer.scores"] = std::move(scores);
  tensors["tokenizer.types"] = std::move(types);
  if (!t.merges.empty()) {
    ZIP_CHECK(t.merges.size() <= size_t(INT32_MAX / 2), "tokenizer: too many merges ({})", t.merges.size());
    Tensor merges = Tensor::zeros(DType::I32, {int64_t(2 * t.merges.size())});
    for (size_t r = 0; r < t.merges.size(); r++) {
      merges.ptr<int32_t>()[2 * r] = t.merges[r].first;
      merges.ptr<int32_t>()[2 * r + 1] = t.merges[r].second;
    }
    tensors["tokenizer.merges"] = std::move(merges);
  }
}

TokenizerData tokenizer_from_zlm(const nlohmann::json& meta, const std::map<std::string, Tensor>& tensors) {
  ZIP_CHECK(meta.is_object(), "tokenizer metadata must be a JSON object");
  TokenizerData t;
  const auto& type = require_field(meta, "type");
  ZIP_CHECK(type.is_string(), "tokenizer metadata: 'type' must be a string");
  t.type = type.get<std::string>();
  bool known = false;
  for (const char* k : kKnownTypes) known = known || t.type == k;
  ZIP_CHECK(known, "tokenizer metadata: unknown tokenizer type '{}'", t.type);

  const int64_t n = require_int(meta, "n_pieces", 1, INT32_MAX - 1);
  t.bos = int(require_int(meta, "bos", -1, n - 1));
  t.eos = int(require_int(meta, "eos", -1, n - 1));
  t.unk = int(require_int(meta, "unk", -1, n - 1));
  t.pad = int(require_int(meta, "pad", -1, n - 1));
  t.cls = int(optional_int(meta, "cls", -1, -1, n - 1));
  t.sep = int(optional_int(meta, "sep", -1, -1, n - 1));
  t.mask = int(optional_int(meta, "mask", -1, -1, n - 1));
  t.add_bos = require_bool(meta, "add_bos");
  t.add_dummy_prefix = require_bool(meta, "add_dummy_prefix");
  t.byte_fallback = require_bool(meta, "byte_fallback");
  t.ignore_merges = optional_bool(meta, "ignore_merges", false);
  t.clean_text = optional_bool(meta, "clean_text", false);
  t.handle_chinese_chars = optional_bool(meta, "handle_chinese_chars", false);
  t.strip_accents = optional_bool(meta, "strip_accents", false);
  t.lowercase = optional_bool(meta, "lowercase", false);
  if (auto it = meta.find("pre"); it != meta.end()) {
    ZIP_CHECK(it->is_string(), "tokenizer metadata: 'pre' must be a string");
    t.pre = it->get<std::string>();
  }
  if (auto it = meta.find("chat_template"); it != meta.end()) {
    ZIP_CHECK(it->is_string(), "tokenizer metadata: 'chat_template' must be a string");
    t.chat_template = it->get<std::string>();
  }
  ZIP_CHECK(t.type != "byte-bpe" || find_pretokenizer(t.pre), "tokenizer metadata: unknown pre-tokenizer '{}' (known: {})",
            t.pre, pretokenizer_names());

  const Tensor& bytes = require_tensor(tensors, "tokenizer.pieces", DType::U8, -1);
  const Tensor& offsets = require_tensor(tensors, "tokenizer.offsets", DType::I32, n + 1);
  const Tensor& scores = require_tensor(tensors, "tokenizer.scores", DType::F32, n);
  const Tensor& types = require_tensor(tensors, "tokenizer.types", DType::I32, n);

  const int32_t* off = offsets.ptr<int32_t>();
  const int64_t total = bytes.dim(0);
  ZIP_CHECK(off[0] == 0, "tokenizer: tensor 'tokenizer.offsets' must start at 0, not {}", off[0]);
  ZIP_CHECK(off[n] == total, "tokenizer: tensor 'tokenizer.offsets' ends at {} but there are {} piece bytes", off[n],
            total);
  t.pieces.reserve(size_t(n));
  const char* chars = reinterpret_cast<const char*>(bytes.ptr<uint8_t>());
  for (int64_t i = 0; i < n; i++) {
    ZIP_CHECK(off[i] <= off[i + 1] && off[i + 1] <= total,
              "tokenizer: tensor 'tokenizer.offsets' is not increasing within [0, {}] at piece {}", total, i);
    if (off[i] == off[i + 1])
      t.pieces.emplace_back();  // the data pointer may be null when total is 0
    else
      t.pieces.emplace_back(chars + off[i], size_t(off[i + 1] - off[i]));
  }
  t.scores.assign(scores.ptr<float>(), scores.ptr<float>() + n);
  for (int64_t i = 0; i < n; i++) ZIP_CHECK(!std::isnan(t.scores[size_t(i)]), "tokenizer: piece {} has a NaN score", i);
  t.types.assign(types.ptr<int32_t>(), types.ptr<int32_t>() + n);
  for (int64_t i = 0; i < n; i++) {
    int32_t ty = t.types[size_t(i)];
    ZIP_CHECK(ty >= kNormal && ty <= kByte, "tokenizer: piece {} has unknown type {}", i, ty);
  }

  const int64_t n_merges = optional_int(meta, "n_merges", 0, 0, INT32_MAX / 2);
  if (n_merges > 0) {
    const Tensor& merges = require_tensor(tensors, "tokenizer.merges", DType::I32, 2 * n_merges);
    const int32_t* m = merges.ptr<int32_t>();
    for (int64_t r = 0; r < n_merges; r++) {
      ZIP_CHECK(m[2 * r] >= 0 && m[2 * r] < n && m[2 * r + 1] >= 0 && m[2 * r + 1] < n,
                "tokenizer: merge {} refers to a piece outside [0, {})", r, n);
      t.merges.emplace_back(m[2 * r], m[2 * r + 1]);
    }
  } else {
    ZIP_CHECK(!tensors.contains("tokenizer.merges"), "tokenizer: tensor 'tokenizer.merges' but n_merges is 0");
  }
  // The rest (merges that make no piece, byte pieces misspelled...) is what building the
  // tokenizer checks.
  Tokenizer check(std::make_shared<const TokenizerData>(t));
  return t;
}

}  // namespace zip
