// The tokenizer inside a .zlm file, and picking a loader for a tokenizer file or directory.
// In a .zlm the scalars live in the header's "tokenizer" object and the vocabulary in four 1-D
// tensors: tokenizer.pieces (u8, all piece bytes concatenated), tokenizer.offsets (i32, n+1,
// piece i is bytes [offsets[i], offsets[i+1])), tokenizer.scores (f32, n), tokenizer.types
// (i32, n, PieceType). Everything read back is validated: the file may be corrupt.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer/tokenizer.h"

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

int64_t require_int(const nlohmann::json& meta, const char* key, int64_t lo, int64_t hi) {
  const auto& v = require_field(meta, key);
  ZIP_CHECK(v.is_number_integer(), "tokenizer metadata: '{}' must be an integer", key);
  int64_t x = v.get<int64_t>();
  ZIP_CHECK(x >= lo && x <= hi, "tokenizer metadata: '{}' = {} is out of range [{}, {}]", key, x, lo, hi);
  return x;
}

bool require_bool(const nlohmann::json& meta, const char* key) {
  const auto& v = require_field(meta, key);
  ZIP_CHECK(v.is_boolean(), "tokenizer metadata: '{}' must be true or false", key);
  return v.get<bool>();
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
  meta["add_bos"] = t.add_bos;
  meta["add_dummy_prefix"] = t.add_dummy_prefix;
  meta["byte_fallback"] = t.byte_fallback;
  meta["n_pieces"] = n;

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
  t.add_bos = require_bool(meta, "add_bos");
  t.add_dummy_prefix = require_bool(meta, "add_dummy_prefix");
  t.byte_fallback = require_bool(meta, "byte_fallback");

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
  return t;
}

TokenizerData load_tokenizer(const std::string& file_or_dir) {
  namespace fs = std::filesystem;
  if (is_directory(file_or_dir)) {
    const fs::path dir(file_or_dir);
    if (file_exists((dir / "tokenizer.model").string()))
      return load_sentencepiece_model((dir / "tokenizer.model").string());
    if (file_exists((dir / "tokenizer.bin").string())) return load_llama2c_tokenizer((dir / "tokenizer.bin").string());
    // llama2.c's custom vocabularies are named tok<N>.bin; other *.bin files there are checkpoints.
    std::vector<std::string> candidates;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      std::string name = entry.path().filename().string();
      if (name.size() > 7 && name.rfind("tok", 0) == 0 && name.ends_with(".bin") && file_exists(entry.path().string()))
        candidates.push_back(entry.path().string());
    }
    ZIP_CHECK(!ec, "cannot list directory '{}': {}", file_or_dir, ec.message());
    ZIP_CHECK(!candidates.empty(), "no tokenizer in '{}' (looked for tokenizer.model, tokenizer.bin, tok*.bin)",
              file_or_dir);
    ZIP_CHECK(candidates.size() == 1, "'{}' holds several tok*.bin files; name the tokenizer file", file_or_dir);
    return load_llama2c_tokenizer(candidates[0]);
  }
  require_regular_file(file_or_dir);
  if (file_or_dir.ends_with(".model")) return load_sentencepiece_model(file_or_dir);
  return load_llama2c_tokenizer(file_or_dir);
}

}  // namespace zip
