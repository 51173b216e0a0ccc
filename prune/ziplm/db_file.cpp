#include "prune/ziplm/db_file.h"

#include <cstring>

#include "engine/checksum.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

// Layout: "ZIPDB001" | u64 header bytes | header JSON | arrays (8-byte aligned) | u32 CRC-32C of
// everything before it. The header names each array's type, element count and offset.
static constexpr char kMagic[8] = {'Z', 'I', 'P', 'D', 'B', '0', '0', '1'};

static size_t type_size(ArrayType t) {
  switch (t) {
    case ArrayType::F64: return 8;
    case ArrayType::F32: return 4;
    case ArrayType::BF16: return 2;
    case ArrayType::I32: return 4;
  }
  return 0;
}
static const char* type_name(ArrayType t) {
  switch (t) {
    case ArrayType::F64: return "f64";
    case ArrayType::F32: return "f32";
    case ArrayType::BF16: return "bf16";
    case ArrayType::I32: return "i32";
  }
  return "?";
}
static ArrayType parse_type(const std::string& s) {
  for (ArrayType t : {ArrayType::F64, ArrayType::F32, ArrayType::BF16, ArrayType::I32})
    if (s == type_name(t)) return t;
  fail("unknown array type '{}'", s);
}
static size_t align8(size_t n) { return (n + 7) & ~size_t(7); }

void write_db_file(const std::string& path, const nlohmann::json& meta, const std::vector<ArrayOut>& arrays) {
  nlohmann::json index = nlohmann::json::array();
  size_t offset = 0;
  for (const ArrayOut& a : arrays) {
    index.push_back({{"name", a.name}, {"type", type_name(a.type)}, {"count", a.count}, {"offset", offset}});
    offset = align8(offset + a.count * type_size(a.type));
  }
  std::string header = nlohmann::json{{"meta", meta}, {"arrays", index}}.dump();
  header.resize(align8(header.size()), ' ');
  uint64_t header_size = header.size();

  AtomicFile f(path);
  uint32_t crc = 0;
  auto put = [&](const void* p, size_t n) {
    f.write(p, n);
    crc = crc32c(p, n, crc);
  };
  put(kMagic, 8);
  put(&header_size, 8);
  put(header.data(), header.size());
  size_t at = 0;
  for (const ArrayOut& a : arrays) {
    size_t bytes = a.count * type_size(a.type);
    if (bytes) put(a.data, bytes);
    size_t pad = align8(at + bytes) - (at + bytes);
    f.write_zeros(pad);
    crc = crc32c_zeros(pad, crc);
    at = align8(at + bytes);
  }
  f.write(&crc, 4);
  f.commit();
}

DbFile DbFile::open(const std::string& path) {
  auto map = MappedFile::open(path);
  const uint8_t* p = map->data();
  size_t size = map->size();
  ZIP_CHECK(size >= 20 && std::memcmp(p, kMagic, 8) == 0, "{}: not a compression database file", path);
  uint32_t stored;
  std::memcpy(&stored, p + size - 4, 4);
  ZIP_CHECK(crc32c(p, size - 4) == stored, "{}: checksum mismatch (damaged database file)", path);
  uint64_t header_size;
  std::memcpy(&header_size, p + 8, 8);
  ZIP_CHECK(header_size <= size - 20, "{}: bad header size", path);
  DbFile f;
  f.path_ = path;
  nlohmann::json h = nlohmann::json::parse(p + 16, p + 16 + header_size);
  f.meta_ = h.at("meta");
  const uint8_t* base = p + 16 + header_size;
  size_t avail = size - 20 - header_size;
  for (const auto& a : h.at("arrays")) {
    ArrayType t = parse_type(a.at("type").get<std::string>());
    size_t count = a.at("count").get<size_t>(), offset = a.at("offset").get<size_t>();
    ZIP_CHECK(offset <= avail && count <= (avail - offset) / type_size(t), "{}: array {} out of bounds", path,
              a.at("name").get<std::string>());
    f.arrays_[a.at("name").get<std::string>()] = Slot{t, base + offset, count};
  }
  f.holder_ = map;
  return f;
}

const DbFile::Slot& DbFile::slot(const std::string& name) const {
  auto it = arrays_.find(name);
  ZIP_CHECK(it != arrays_.end(), "{}: no array '{}'", path_, name);
  return it->second;
}

std::vector<double> DbFile::f64(const std::string& name) const {
  const Slot& s = slot(name);
  ZIP_CHECK(s.type == ArrayType::F64, "{}: array '{}' is not f64", path_, name);
  std::vector<double> v(s.count);
  if (s.count) std::memcpy(v.data(), s.data, s.count * 8);
  return v;
}

std::vector<float> DbFile::f32(const std::string& name) const {
  const Slot& s = slot(name);
  std::vector<float> v(s.count);
  if (s.type == ArrayType::F32) {
    if (s.count) std::memcpy(v.data(), s.data, s.count * 4);
  } else if (s.type == ArrayType::BF16) {
    for (size_t i = 0; i < s.count; i++) {
      uint16_t h;
      std::memcpy(&h, s.data + 2 * i, 2);
      v[i] = bf16_to_f32(h);
    }
  } else {
    fail("{}: array '{}' is not f32/bf16", path_, name);
  }
  return v;
}

std::vector<int> DbFile::i32(const std::string& name) const {
  const Slot& s = slot(name);
  ZIP_CHECK(s.type == ArrayType::I32, "{}: array '{}' is not i32", path_, name);
  std::vector<int> v(s.count);
  if (s.count) std::memcpy(v.data(), s.data, s.count * 4);
  return v;
}

}  // namespace zip
