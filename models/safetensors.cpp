#include "models/safetensors.h"

#include <cstring>
#include <set>

#include "engine/error.h"

namespace zip {

using json = nlohmann::json;

namespace {

// Bounds that no real checkpoint comes near; they keep every size computation far from overflow.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxDims = 16;
constexpr uint64_t kMaxDim = uint64_t(1) << 40;

bool parse_st_dtype(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::F32;
  else if (s == "F16") *out = DType::F16;
  else if (s == "BF16") *out = DType::BF16;
  else return false;
  return true;
}

uint64_t get_u64(const json& v) {
  // nlohmann stores non-negative integers as unsigned, negative ones as signed.
  return v.is_number_unsigned() ? v.get<uint64_t>() : uint64_t(v.get<int64_t>());
}

bool is_nonneg_int(const json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
}

Tensor parse_entry(const std::string& path, const std::string& name, const json& e,
                   const std::shared_ptr<MappedFile>& file, const uint8_t* data, uint64_t data_size) {
  ZIP_CHECK(e.is_object(), "{}: tensor '{}': header entry is not an object", path, name);
  ZIP_CHECK(e.contains("dtype") && e["dtype"].is_string(), "{}: tensor '{}': missing 'dtype'", path, name);
  std::string dt = e["dtype"].get<std::string>();
  DType dtype;
  ZIP_CHECK(parse_st_dtype(dt, &dtype), "{}: tensor '{}' has unsupported dtype '{}' (supported: F32, F16, BF16)",
            path, name, dt);

  ZIP_CHECK(e.contains("shape") && e["shape"].is_array(), "{}: tensor '{}': missing 'shape'", path, name);
  const json& sh = e["shape"];
  ZIP_CHECK(sh.size() <= kMaxDims, "{}: tensor '{}' has {} dimensions", path, name, sh.size());
  std::vector<int64_t> shape;
  uint64_t numel = 1;
  for (const json& d : sh) {
    ZIP_CHECK(is_nonneg_int(d) && get_u64(d) <= kMaxDim, "{}: tensor '{}': bad dimension {}", path, name, d.dump());
    uint64_t v = get_u64(d);
    ZIP_CHECK(!__builtin_mul_overflow(numel, v, &numel) && numel <= kMaxDim,
              "{}: tensor '{}': shape {} is too large", path, name, sh.dump());
    shape.push_back(int64_t(v));
  }
  uint64_t nbytes = numel * dtype_size(dtype);  // numel <= 2^40, size <= 4: no overflow

  ZIP_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() && e["data_offsets"].size() == 2,
            "{}: tensor '{}': 'data_offsets' must be [begin, end]", path, name);
  const json& off = e["data_offsets"];
  ZIP_CHECK(is_nonneg_int(off[0]) && is_nonneg_int(off[1]), "{}: tensor '{}': bad data_offsets {}", path, name,
            off.dump());
  uint64_t begin = get_u64(off[0]), end = get_u64(off[1]);
  ZIP_CHECK(begin <= end && end <= data_size,
            "{}: tensor '{}': data_offsets [{}, {}] outside the data section ({} bytes; file truncated?)", path,
            name, begin, end, data_size);
  ZIP_CHECK(end - begin == nbytes, "{}: tensor '{}': data_offsets span {} bytes, but shape {} of {} needs {}", path,
            name, end - begin, sh.dump(), dt, nbytes);
  for (const auto& [k, v] : e.items())
    ZIP_CHECK(k == "dtype" || k == "shape" || k == "data_offsets", "{}: tensor '{}': unknown field '{}'", path,
              name, k);

  const uint8_t* p = data + begin;
  if (nbytes == 0) return Tensor::zeros(dtype, shape);
  // The format does not promise alignment; typed access needs it, so copy the rare misfit.
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(dtype) != 0) {
    Tensor t = Tensor::zeros(dtype, shape);
    std::memcpy(t.data, p, nbytes);
    return t;
  }
  return Tensor::view(dtype, std::move(shape), p, file);
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path, const TensorFilter& skip) {
  SafetensorsFile out;
  out.path = path;
  out.file = MappedFile::open(path);
  const uint8_t* base = out.file->data();
  uint64_t size = out.file->size();
  ZIP_CHECK(size >= 8, "{}: not a safetensors file ({} bytes, too short for the header length)", path, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | base[i];  // little-endian u64
  ZIP_CHECK(n <= kMaxHeaderBytes, "{}: not a safetensors file (header length {} exceeds {} bytes)", path, n,
            kMaxHeaderBytes);
  ZIP_CHECK(n <= size - 8, "{}: safetensors header length {} exceeds the file ({} bytes; truncated?)", path, n, size);
  ZIP_CHECK(n >= 2 && base[8] == '{', "{}: not a safetensors file (header is not a JSON object)", path);

  const char* hb = reinterpret_cast<const char*>(base + 8);
  json header = json::parse(hb, hb + n, nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!header.is_discarded() && header.is_object(), "{}: corrupt safetensors header (invalid JSON)", path);

  const uint8_t* data = base + 8 + n;
  uint64_t data_size = size - 8 - n;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      ZIP_CHECK(e.is_object() || e.is_null(), "{}: '__metadata__' must be an object", path);
      out.metadata = e;
      continue;
    }
    if (skip && skip(name)) continue;
    out.tensors.emplace(name, parse_entry(path, name, e, out.file, data, data_size));
  }
  return out;
}

static bool is_plain_filename(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\\') == std::string::npos;
}

std::map<std::string, Tensor> load_safetensors_dir(const std::string& dir, const TensorFilter& skip) {
  std::string single = dir + "/model.safetensors";
  if (file_exists(single)) return read_safetensors(single, skip).tensors;

  std::string index_path = dir + "/model.safetensors.index.json";
  if (!file_exists(index_path)) {
    if (file_exists(dir + "/pytorch_model.bin") || file_exists(dir + "/pytorch_model.bin.index.json"))
      fail("{}: only PyTorch .bin weights found; zip reads safetensors (re-save with safe_serialization=True)", dir);
    fail("{}: no model.safetensors or model.safetensors.index.json", dir);
  }
  json index = json::parse(read_file(index_path), nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!index.is_discarded() && index.is_object(), "{}: invalid JSON", index_path);
  ZIP_CHECK(index.contains("weight_map") && index["weight_map"].is_object(), "{}: missing 'weight_map' object",
            index_path);

  // Group tensor names by shard so each shard is mapped and parsed once.
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    ZIP_CHECK(shard.is_string() && is_plain_filename(shard.get<std::string>()),
              "{}: tensor '{}': shard must be a file name in the same directory, got {}", index_path, name,
              shard.dump());
    by_shard[shard.get<std::string>()].insert(name);
  }
  ZIP_CHECK(!by_shard.empty(), "{}: 'weight_map' is empty", index_path);

  std::map<std::string, Tensor> out;
  for (const auto& [shard, names] : by_shard) {
    SafetensorsFile f = read_safetensors(dir + "/" + shard, skip);
    for (const std::string& name : names) {
      if (skip && skip(name)) continue;
      auto it = f.tensors.find(name);
      ZIP_CHECK(it != f.tensors.end(), "{}: tensor '{}' is listed in the index but missing from shard {}", dir, name,
                shard);
      out.emplace(name, std::move(it->second));
      f.tensors.erase(it);
    }
    ZIP_CHECK(f.tensors.empty(), "{}: shard {} holds tensor '{}', which the index does not list", dir, shard,
              f.tensors.begin()->first);
  }
  return out;
}

}  // namespace zip
