// The .zlm reader. Order matters: the preamble's sizes are bounded by the file size first (they
// say what the checksum covers), then the checksum, then the header and index are parsed with
// every count, length and offset checked before use, and only then are tensor views made. No
// size read from the file reaches an allocation before it has been bounded by the file size.
#include <algorithm>
#include <cstring>
#include <set>
#include <string_view>
#include <unordered_map>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/finite_check.h"
#include "engine/file_io.h"
#include "engine/zlm.h"

namespace zip {

using json = nlohmann::json;
namespace P = zlm_preamble;

namespace {

static_assert(uint8_t(DType::F32) == 0 && uint8_t(DType::F16) == 1 && uint8_t(DType::BF16) == 2 &&
                  uint8_t(DType::I32) == 3 && uint8_t(DType::U8) == 4 && uint8_t(DType::Q8_0) == 5 &&
                  uint8_t(DType::Q4_0) == 6 && uint8_t(DType::Q4_K) == 7 && uint8_t(DType::Q6_K) == 8 &&
                  uint8_t(DType::Q5_0) == 9,
              "the dtype codes are part of the .zlm format");

constexpr uint64_t kMaxHeaderBytes = uint64_t(1) << 30;
constexpr uint64_t kMaxIndexBytes = uint64_t(1) << 30;
constexpr uint64_t kMaxDim = uint64_t(1) << 40;
constexpr int kMaxJsonDepth = 64;
// Smallest possible index entry: u16 name length, a 1-byte name, dtype, ndim 0, offset, nbytes.
constexpr uint64_t kMinEntryBytes = 2 + 1 + 1 + 1 + 8 + 8;

uint32_t rd32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
uint64_t rd64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
void wr32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i));
}

uint64_t align_up(uint64_t x) { return (x + kZlmAlign - 1) / kZlmAlign * kZlmAlign; }

// CRC-32C of everything before the data section except the meta_crc field itself.
uint32_t meta_crc(const uint8_t* d, uint64_t data_offset) {
  uint32_t c = crc32c(d, P::kMetaCrc);
  return crc32c(d + kZlmPreambleBytes, size_t(data_offset - kZlmPreambleBytes), c);
}

// Reads the index with a bounds check on every field.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n) : p_(p), end_(p + n) {}
  size_t left() const { return size_t(end_ - p_); }
  const uint8_t* take(size_t n, const char* what) {
    ZIP_CHECK(n <= left(), "index is truncated (reading {})", what);
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  uint8_t u8(const char* what) { return *take(1, what); }
  uint16_t u16(const char* what) {
    const uint8_t* q = take(2, what);
    return uint16_t(q[0] | (q[1] << 8));
  }
  uint32_t u32(const char* what) { return rd32(take(4, what)); }
  uint64_t u64(const char* what) { return rd64(take(8, what)); }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// The JSON parser keeps its own stack, but dumping and destroying a value recurse; bound nesting
// before parsing so a hostile header cannot exhaust the stack later (e.g. in `zip inspect --json`).
void check_json_depth(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ZIP_CHECK(++depth <= kMaxJsonDepth, "header JSON is nested deeper than {} levels", kMaxJsonDepth);
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
}


struct Parsed {
  uint32_t version = 0;
  uint64_t header_bytes = 0, index_bytes = 0, data_offset = 0, data_bytes = 0;
  uint32_t meta_crc = 0, data_crc = 0;
  json header;
  ModelConfig config;
  std::vector<ZlmTensorInfo> entries;
};

void parse_preamble(const uint8_t* d, size_t size, Parsed& r) {
  ZIP_CHECK(size >= kZlmPreambleBytes, "too small to be a .zlm file ({} bytes)", size);
  if (std::memcmp(d + P::kMagic, P::kMagicBytes, 8) != 0) {
    if (std::memcmp(d, "GGUF", 4) == 0) fail("a GGUF file, not a .zlm file: convert it first (zip convert FILE.gguf -o MODEL.zlm)");
    fail("not a .zlm file (bad magic){}", d[0] == '{' ? "; a Hugging Face folder converts with zip convert DIR -o MODEL.zlm" : "");
  }
  r.version = rd32(d + P::kVersion);
  // Checked before anything else is interpreted: another version may lay the rest out differently.
  ZIP_CHECK(r.version >= kZlmMinVersion && r.version <= kZlmVersion,
            "unsupported .zlm version {} (this build reads versions {} to {})", r.version, kZlmMinVersion, kZlmVersion);
  r.header_bytes = rd64(d + P::kHeaderBytes);
  r.index_bytes = rd64(d + P::kIndexBytes);
  r.data_offset = rd64(d + P::kDataOffset);
  r.data_bytes = rd64(d + P::kDataBytes);
  r.data_crc = rd32(d + P::kDataCrc);
  r.meta_crc = rd32(d + P::kMetaCrc);
  ZIP_CHECK(r.header_bytes >= 2 && r.header_bytes <= kMaxHeaderBytes, "header size {} out of range",
            r.header_bytes);
  ZIP_CHECK(r.index_bytes >= 4 && r.index_bytes <= kMaxIndexBytes, "index size {} out of range", r.index_bytes);
  uint64_t want = align_up(kZlmPreambleBytes + r.header_bytes + r.index_bytes);  // cannot overflow: bounded above
  ZIP_CHECK(r.data_offset == want, "data offset {} is not {} (the 64-byte aligned end of the index)",
            r.data_offset, want);
  ZIP_CHECK(r.data_offset <= size && r.data_bytes <= size - r.data_offset,
            "truncated: the file has {} bytes but its preamble describes a data section of {} bytes at offset {}",
            size, r.data_bytes, r.data_offset);
  ZIP_CHECK(r.data_offset + r.data_bytes == size, "{} unexpected bytes after the tensor data",
            size - r.data_offset - r.data_bytes);
  uint32_t c = meta_crc(d, r.data_offset);
  ZIP_CHECK(c == r.meta_crc, "header checksum mismatch (stored {:08x}, computed {:08x}): the file is corrupt",
            r.meta_crc, c);
  // Covered by the checksum, so a nonzero value here was written that way (e.g. by a newer writer).
  ZIP_CHECK(rd32(d + P::kFlags) == 0, "unsupported flags {:#x}", rd32(d + P::kFlags));
  ZIP_CHECK(rd64(d + P::kReserved) == 0, "reserved preamble bytes are not zero");
  for (uint64_t i = kZlmPreambleBytes + r.header_bytes + r.index_bytes; i < r.data_offset; i++)
    ZIP_CHECK(d[i] == 0, "padding before the data section is not zero");
}

void parse_header(const uint8_t* d, Parsed& r) {
  std::string_view text(reinterpret_cast<const char*>(d + kZlmPreambleBytes), size_t(r.header_bytes));
  check_json_depth(text);
  try {
    r.header = json::parse(text);
  } catch (const json::exception& e) {
    fail("header is not valid JSON: {}", printable(e.what()));
  }
  const json& h = r.header;
  ZIP_CHECK(h.is_object(), "header is not a JSON object");
  ZIP_CHECK(h.contains("format") && h["format"] == "zlm", "header: 'format' is not \"zlm\"");
  ZIP_CHECK(h.contains("version") && h["version"].is_number_unsigned() && h["version"] == r.version,
            "header: 'version' does not match the preamble's version {}", r.version);
  ZIP_CHECK(h.contains("config"), "header: missing 'config'");
  ZIP_CHECK(h.contains("provenance") && h["provenance"].is_object(), "header: 'provenance' must be an object");
  ZIP_CHECK(!h.contains("tokenizer") || h["tokenizer"].is_object(), "header: 'tokenizer' must be an object");
  r.config = config_from_json(h["config"]);
}

bool is_tokenizer_tensor(const std::string& name) { return name.rfind("tokenizer.", 0) == 0; }

// Bytes a tensor of `numel` elements takes: rows of whole blocks for a block type.
uint64_t stored_bytes(const ZlmTensorInfo& e, uint64_t numel) {
  uint64_t n;
  if (!is_quantized(e.dtype)) {
    ZIP_CHECK(!__builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &n), "tensor '{}': too many bytes", e.name);
    return n;
  }
  const uint64_t be = uint64_t(dtype_block_elems(e.dtype));
  ZIP_CHECK(!e.shape.empty() && uint64_t(e.shape.back()) % be == 0,
            "tensor '{}': {} rows of {} elements are not a whole number of {}-element blocks", e.name,
            dtype_name(e.dtype), e.shape.empty() ? 0 : e.shape.back(), be);
  ZIP_CHECK(!__builtin_mul_overflow(numel / be, uint64_t(dtype_block_bytes(e.dtype)), &n), "tensor '{}': too many bytes",
            e.name);
  return n;
}

void parse_index(const uint8_t* d, Parsed& r) {
  Cursor cur(d + kZlmPreambleBytes + r.header_bytes, size_t(r.index_bytes));
  uint32_t count = cur.u32("the tensor count");
  ZIP_CHECK(count <= r.index_bytes / kMinEntryBytes, "index claims {} tensors, more than its {} bytes can hold",
            count, r.index_bytes);
  r.entries.reserve(count);
  std::set<std::string> names;
  for (uint32_t i = 0; i < count; i++) {
    ZlmTensorInfo e;
    uint16_t len = cur.u16("a name length");
    ZIP_CHECK(len >= 1 && len <= kZlmMaxNameBytes, "index entry {}: name length {} out of range (1..{})", i, len,
              kZlmMaxNameBytes);
    const uint8_t* nm = cur.take(len, "a name");
    e.name.assign(reinterpret_cast<const char*>(nm), len);
    ZIP_CHECK(zlm_name_ok(e.name), "index entry {}: the name has bytes outside printable ASCII", i);
    ZIP_CHECK(names.insert(e.name).second, "tensor '{}' appears twice in the index", e.name);
    uint8_t dt = cur.u8("a dtype");
    const uint8_t last_code = r.version >= 3   ? uint8_t(DType::Q5_0)
                              : r.version >= 2 ? uint8_t(DType::Q6_K)
                                               : uint8_t(DType::U8);
    ZIP_CHECK(dt <= last_code, "tensor '{}': unknown dtype code {} in a version {} file", e.name, dt, r.version);
    e.dtype = DType(dt);
    uint8_t ndim = cur.u8("a rank");
    ZIP_CHECK(ndim <= kZlmMaxDims, "tensor '{}': {} dimensions (at most {})", e.name, ndim, kZlmMaxDims);
    uint64_t numel = 1;
    for (int k = 0; k < ndim; k++) {
      uint64_t dim = cur.u64("a dimension");
      ZIP_CHECK(dim <= kMaxDim, "tensor '{}': dimension {} is {}, out of range", e.name, k, dim);
      ZIP_CHECK(!__builtin_mul_overflow(numel, dim, &numel), "tensor '{}': too many elements", e.name);
      e.shape.push_back(int64_t(dim));
    }
    e.offset = cur.u64("an offset");
    e.nbytes = cur.u64("a byte count");
    const uint64_t want = stored_bytes(e, numel);
    ZIP_CHECK(e.nbytes == want, "tensor '{}': {} bytes, but shape {} of {} needs {}", e.name, e.nbytes,
              shape_to_string(e.shape), dtype_name(e.dtype), want);
    ZIP_CHECK(e.offset % kZlmAlign == 0, "tensor '{}': offset {} is not 64-byte aligned", e.name, e.offset);
    ZIP_CHECK(e.offset <= r.data_bytes && e.nbytes <= r.data_bytes - e.offset,
              "tensor '{}' (offset {}, {} bytes) lies outside the {}-byte data section", e.name, e.offset, e.nbytes,
              r.data_bytes);
    r.entries.push_back(std::move(e));
  }
  ZIP_CHECK(cur.left() == 0, "index has {} unexpected bytes after its last entry", cur.left());

  std::vector<const ZlmTensorInfo*> by_offset;
  for (auto& e : r.entries)
    if (e.nbytes > 0) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const ZlmTensorInfo* a, const ZlmTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); i++)
    ZIP_CHECK(by_offset[i]->offset >= by_offset[i - 1]->offset + by_offset[i - 1]->nbytes,
              "tensors '{}' and '{}' overlap", by_offset[i - 1]->name, by_offset[i]->name);
}

// The weights must be exactly what the config implies; anything else must be the tokenizer's.
void check_tensor_set(Parsed& r) {
  std::unordered_map<std::string, const TensorSpec*> want;
  auto specs = expected_tensors(r.config);
  for (auto& s : specs) want[s.name] = &s;
  bool has_tok_meta = r.header.contains("tokenizer");
  size_t matched = 0;
  for (auto& e : r.entries) {
    if (is_tokenizer_tensor(e.name)) {
      ZIP_CHECK(has_tok_meta, "tensor '{}' but the header has no 'tokenizer'", e.name);
      continue;
    }
    auto it = want.find(e.name);
    ZIP_CHECK(it != want.end(), "unexpected tensor '{}' (not implied by the config)", e.name);
    ZIP_CHECK(e.shape == it->second->shape, "tensor '{}' has shape {}, the config implies {}", e.name,
              shape_to_string(e.shape), shape_to_string(it->second->shape));
    ZIP_CHECK(is_float(e.dtype) || (is_quantized(e.dtype) && e.shape.size() == 2), "tensor '{}' has dtype {}, expected {}",
              e.name, dtype_name(e.dtype), e.shape.size() == 2 ? "f32, f16, bf16 or a block type" : "f32, f16 or bf16");
    matched++;
  }
  if (matched != specs.size()) {
    std::set<std::string> have;
    for (auto& e : r.entries) have.insert(e.name);
    for (auto& s : specs) ZIP_CHECK(have.count(s.name), "missing tensor '{}'", s.name);
  }
}

Parsed parse(const uint8_t* d, size_t size) {
  Parsed r;
  parse_preamble(d, size, r);
  parse_header(d, r);
  parse_index(d, r);
  check_tensor_set(r);
  return r;
}

bool data_crc_matches(const uint8_t* d, const Parsed& r, uint32_t* computed) {
  *computed = crc32c(d + r.data_offset, size_t(r.data_bytes));
  return *computed == r.data_crc;
}

// Runs `f`, turning every failure into one zip::Error line that starts with the file's name.
template <typename F>
auto with_name(const std::string& name, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    fail("{}: invalid .zlm header: {}", name, printable(e.what()));
  } catch (const Error& e) {
    fail("{}: {}", name, e.what());
  }
}

ZlmInfo make_info(const uint8_t* d, size_t size, Parsed&& r, bool verify_data) {
  ZlmInfo info;
  info.version = r.version;
  info.file_size = size;
  info.header_bytes = r.header_bytes;
  info.index_bytes = r.index_bytes;
  info.data_offset = r.data_offset;
  info.data_bytes = r.data_bytes;
  info.header_crc = r.meta_crc;
  info.data_crc = r.data_crc;
  info.data_verified = verify_data;
  uint32_t computed = 0;
  info.data_crc_ok = verify_data && data_crc_matches(d, r, &computed);
  info.header = std::move(r.header);
  info.tensors = std::move(r.entries);
  return info;
}

}  // namespace

Model load_zlm_from_memory(const uint8_t* data, size_t size, std::shared_ptr<void> holder, const std::string& name,
                           const ZlmLoadOptions& opts) {
  return with_name(name, [&] {
    ZIP_CHECK(reinterpret_cast<uintptr_t>(data) % kZlmAlign == 0, "image is not 64-byte aligned in memory");
    Parsed r = parse(data, size);
    if (opts.verify_data) {
      uint32_t c;
      ZIP_CHECK(data_crc_matches(data, r, &c),
                "data checksum mismatch (stored {:08x}, computed {:08x}): the tensor data is corrupt", r.data_crc, c);
    }
    Model m;
    m.config = r.config;
    m.provenance = r.header["provenance"];
    std::map<std::string, Tensor> tok;
    const uint8_t* base = data + r.data_offset;
    for (auto& e : r.entries) {
      Tensor t = Tensor::view(e.dtype, e.shape, base + e.offset, holder);
      (is_tokenizer_tensor(e.name) ? tok : m.tensors).emplace(e.name, std::move(t));
    }
    if (r.header.contains("tokenizer"))
      m.tokenizer = std::make_shared<const TokenizerData>(tokenizer_from_zlm(r.header["tokenizer"], tok));
    m.validate();
    if (opts.check_finite) require_finite_weights(m);
    return m;
  });
}

Model load_zlm(const std::string& path, const ZlmLoadOptions& opts) {
  auto file = MappedFile::open(path);  // its errors already name the path
  const uint8_t* d = file->data();
  size_t n = file->size();
  return load_zlm_from_memory(d, n, std::shared_ptr<void>(file, const_cast<uint8_t*>(d)), path, opts);
}

ZlmInfo inspect_zlm_memory(const uint8_t* data, size_t size, const std::string& name, bool verify_data) {
  return with_name(name, [&] { return make_info(data, size, parse(data, size), verify_data); });
}

ZlmInfo inspect_zlm(const std::string& path, bool verify_data) {
  auto file = MappedFile::open(path);
  return inspect_zlm_memory(file->data(), file->size(), path, verify_data);
}

std::string zlm_content_hash(const std::string& path) {
  ZlmInfo info = inspect_zlm(path, false);
  return fmt::format("{:08x}{:08x}{:016x}", info.header_crc, info.data_crc, info.file_size);
}

void zlm_reseal(uint8_t* d, size_t size, bool data_crc) {
  if (size < kZlmPreambleBytes) return;
  uint64_t off = rd64(d + P::kDataOffset), nb = rd64(d + P::kDataBytes);
  if (off < kZlmPreambleBytes || off > size) return;
  if (data_crc && nb <= size - off) wr32(d + P::kDataCrc, crc32c(d + off, size_t(nb)));
  wr32(d + P::kMetaCrc, meta_crc(d, off));
}

}  // namespace zip
