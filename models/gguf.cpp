// GGUF reader: one pass over the header with a cursor that refuses to read past the end, then
// the tensor infos are checked against the data section. See gguf.h for the layout.
#include "models/gguf.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <set>

#include "engine/error.h"
#include "engine/file_io.h"

namespace zip::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr int kMaxDims = 4;              // GGML_MAX_DIMS

// Bytes of one element of a scalar value type (0 for strings and arrays).
size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::Bool: return 1;
    case ValueType::U16:
    case ValueType::I16: return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32: return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64: return 8;
    default: return 0;
  }
}

bool valid_value_type(uint32_t t) { return t <= uint32_t(ValueType::F64); }

// Decodes a scalar of type t from p (scalar_size(t) readable bytes).
void decode_scalar(ValueType t, const uint8_t* p, Value& v) {
  auto load = [&](auto x) {
    std::memcpy(&x, p, sizeof x);
    return x;
  };
  v.type = t;
  switch (t) {
    case ValueType::U8: v.u = load(uint8_t()); break;
    case ValueType::U16: v.u = load(uint16_t()); break;
    case ValueType::U32: v.u = load(uint32_t()); break;
    case ValueType::U64: v.u = load(uint64_t()); break;
    case ValueType::I8: v.i = load(int8_t()); break;
    case ValueType::I16: v.i = load(int16_t()); break;
    case ValueType::I32: v.i = load(int32_t()); break;
    case ValueType::I64: v.i = load(int64_t()); break;
    case ValueType::F32: v.f = load(float()); break;
    case ValueType::F64: v.f = load(double()); break;
    case ValueType::Bool: v.b = p[0] != 0; break;
    default: break;
  }
}

bool unsigned_type(ValueType t) {
  return t == ValueType::U8 || t == ValueType::U16 || t == ValueType::U32 || t == ValueType::U64;
}

// A cursor over the header; every read checks the bytes left first.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& name) : p_(data), size_(size), name_(name) {}
  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  const uint8_t* take(size_t n, const char* what) {
    if (n > left())
      fail("{}: truncated GGUF file: {} needs {} bytes at offset {}, only {} left", name_, what, n, pos_, left());
    const uint8_t* out = p_ + pos_;
    pos_ += n;
    return out;
  }
  uint32_t u32(const char* what) {
    uint32_t x;
    std::memcpy(&x, take(4, what), 4);
    return x;
  }
  uint64_t u64(const char* what) {
    uint64_t x;
    std::memcpy(&x, take(8, what), 8);
    return x;
  }
  std::string_view str(const char* what) {
    uint64_t n = u64(what);
    ZIP_CHECK(n <= left(), "{}: {} at offset {} claims {} bytes, only {} left in the file", name_, what, pos_ - 8, n,
              left());
    return {reinterpret_cast<const char*>(take(size_t(n), what)), size_t(n)};
  }
  // Checks that `count` items of at least `min_bytes` each can fit in what is left.
  void check_count(uint64_t count, size_t min_bytes, const char* what) {
    ZIP_CHECK(count <= left() / min_bytes, "{}: {} {} cannot fit in the {} bytes left at offset {}", name_, count, what,
              left(), pos_);
  }

 private:
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& name_;
};

Value read_value(Cursor& c, ValueType t, const std::string& key, const std::string& name) {
  Value v;
  v.type = t;
  if (t == ValueType::String) {
    v.s = c.str("a string value");
  } else if (t == ValueType::Array) {
    const uint32_t et = c.u32("an array element type");
    ZIP_CHECK(valid_value_type(et), "{}: key '{}': unknown array element type {}", name, key, et);
    v.elem = ValueType(et);
    ZIP_CHECK(v.elem != ValueType::Array, "{}: key '{}': nested arrays are not supported", name, key);
    v.count = c.u64("an array length");
    if (v.elem == ValueType::String) {
      c.check_count(v.count, 8, "array strings");
      v.strs.reserve(size_t(v.count));
      for (uint64_t k = 0; k < v.count; k++) v.strs.push_back(c.str("an array string"));
    } else {
      const size_t es = scalar_size(v.elem);
      c.check_count(v.count, es, "array elements");
      v.raw = c.take(size_t(v.count) * es, "array elements");
      if (v.elem == ValueType::Bool)
        for (uint64_t k = 0; k < v.count; k++)
          ZIP_CHECK(v.raw[k] <= 1, "{}: key '{}': bool element {} is {}, not 0 or 1", name, key, k, v.raw[k]);
    }
  } else {
    const uint8_t* p = c.take(scalar_size(t), "a value");
    decode_scalar(t, p, v);
    ZIP_CHECK(t != ValueType::Bool || p[0] <= 1, "{}: key '{}': bool value {} is not 0 or 1", name, key, p[0]);
  }
  return v;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

const char* value_type_name(ValueType t) {
  static const char* const names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                      "bool", "string", "array", "u64", "i64", "f64"};
  return uint32_t(t) <= uint32_t(ValueType::F64) ? names[uint32_t(t)] : "?";
}

bool Value::is_int() const { return scalar_size(type) > 0 && type != ValueType::Bool && !is_float(); }
bool Value::is_unsigned() const { return unsigned_type(type); }
bool Value::is_float() const { return type == ValueType::F32 || type == ValueType::F64; }
bool Value::is_array_of_ints() const {
  return type == ValueType::Array && scalar_size(elem) > 0 && elem != ValueType::Bool && elem != ValueType::F32 &&
         elem != ValueType::F64;
}

int64_t Value::int_at(uint64_t k) const {
  ZIP_CHECK(is_array_of_ints() && k < count, "GGUF: element {} of a non-integer array or out of range", k);
  Value e;
  decode_scalar(elem, raw + k * scalar_size(elem), e);
  if (!unsigned_type(elem)) return e.i;
  ZIP_CHECK(e.u <= uint64_t(INT64_MAX), "GGUF: array element {} = {} is too large", k, e.u);
  return int64_t(e.u);
}

double Value::float_at(uint64_t k) const {
  ZIP_CHECK(type == ValueType::Array && (elem == ValueType::F32 || elem == ValueType::F64) && k < count,
            "GGUF: element {} of a non-float array or out of range", k);
  Value e;
  decode_scalar(elem, raw + k * scalar_size(elem), e);
  return e.f;
}

std::string Value::describe() const {
  switch (type) {
    case ValueType::String: return fmt::format("\"{}\"", s.size() > 60 ? std::string(s.substr(0, 60)) + "..." : s);
    case ValueType::Array: return fmt::format("[{} × {}]", count, value_type_name(elem));
    case ValueType::Bool: return b ? "true" : "false";
    case ValueType::F32:
    case ValueType::F64: return fmt::format("{}", f);
    default: return unsigned_type(type) ? fmt::format("{}", u) : fmt::format("{}", i);
  }
}

bool ggml_type_traits(uint32_t type, int* block_elems, int* block_bytes) {
  struct Traits {
    GgmlType t;
    int elems, bytes;
  };
  // Block sizes from ggml's published type table (ggml.c type_traits / gguf-py GGML_QUANT_SIZES).
  static const Traits table[] = {
      {GgmlType::F32, 1, 4},        {GgmlType::F16, 1, 2},        {GgmlType::Q4_0, 32, 18},
      {GgmlType::Q4_1, 32, 20},     {GgmlType::Q5_0, 32, 22},     {GgmlType::Q5_1, 32, 24},
      {GgmlType::Q8_0, 32, 34},     {GgmlType::Q8_1, 32, 40},     {GgmlType::Q2_K, 256, 84},
      {GgmlType::Q3_K, 256, 110},   {GgmlType::Q4_K, 256, 144},   {GgmlType::Q5_K, 256, 176},
      {GgmlType::Q6_K, 256, 210},   {GgmlType::Q8_K, 256, 292},   {GgmlType::IQ2_XXS, 256, 66},
      {GgmlType::IQ2_XS, 256, 74},  {GgmlType::IQ3_XXS, 256, 98}, {GgmlType::IQ1_S, 256, 50},
      {GgmlType::IQ4_NL, 32, 18},   {GgmlType::IQ3_S, 256, 110},  {GgmlType::IQ2_S, 256, 82},
      {GgmlType::IQ4_XS, 256, 136}, {GgmlType::I8, 1, 1},         {GgmlType::I16, 1, 2},
      {GgmlType::I32, 1, 4},        {GgmlType::I64, 1, 8},        {GgmlType::F64, 1, 8},
      {GgmlType::IQ1_M, 256, 56},   {GgmlType::BF16, 1, 2},       {GgmlType::TQ1_0, 256, 54},
      {GgmlType::TQ2_0, 256, 66},   {GgmlType::MXFP4, 32, 17},
  };
  for (const Traits& e : table)
    if (uint32_t(e.t) == type) {
      *block_elems = e.elems;
      *block_bytes = e.bytes;
      return true;
    }
  return false;
}

std::string ggml_type_name(uint32_t type) {
  static const char* const names[] = {"F32",     "F16",    "Q4_0",    "Q4_1",  nullptr,  nullptr, "Q5_0",  "Q5_1",
                                      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",  "Q6_K",  "Q8_K",
                                      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
                                      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M", "BF16",  nullptr,
                                      nullptr,   nullptr,  "TQ1_0",   "TQ2_0", nullptr,  nullptr, nullptr, "MXFP4"};
  if (type < std::size(names) && names[type]) return names[type];
  return fmt::format("type {}", type);
}

std::vector<int64_t> TensorInfo::shape() const { return std::vector<int64_t>(ne.rbegin(), ne.rend()); }

const Value* File::find(const std::string& key) const {
  auto it = kv.find(key);
  return it == kv.end() ? nullptr : &it->second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

File parse(const uint8_t* data, size_t size, std::shared_ptr<void> holder, const std::string& name) {
  File f;
  f.path = name;
  f.holder = std::move(holder);
  Cursor c(data, size, name);
  ZIP_CHECK(size >= 4, "{}: not a GGUF file ({} bytes)", name, size);
  ZIP_CHECK(c.u32("the magic") == kMagic, "{}: not a GGUF file (bad magic)", name);
  f.version = c.u32("the version");
  if (f.version == 1) fail("{}: GGUF version 1 is not supported (only 2 and 3); convert it again with llama.cpp", name);
  ZIP_CHECK(f.version == 2 || f.version == 3, "{}: unsupported GGUF version {} (supported: 2, 3{})", name, f.version,
            (f.version & 0xffff) == 0 ? "; a big-endian file?" : "");
  const uint64_t n_tensors = c.u64("the tensor count");
  const uint64_t n_kv = c.u64("the metadata count");

  // Smallest encodings: a key/value is an 8-byte key length, a 4-byte type and a 1-byte value;
  // a tensor info is name length 8, n_dims 4, one dim 8, type 4, offset 8.
  c.check_count(n_kv, 13, "metadata entries");
  for (uint64_t k = 0; k < n_kv; k++) {
    const std::string key(c.str("a metadata key"));
    const uint32_t t = c.u32("a value type");
    ZIP_CHECK(valid_value_type(t), "{}: key '{}' has unknown value type {}", name, key, t);
    Value v = read_value(c, ValueType(t), key, name);
    ZIP_CHECK(f.kv.emplace(key, std::move(v)).second, "{}: metadata key '{}' appears twice", name, key);
  }
  if (const Value* a = f.find("general.alignment")) {
    ZIP_CHECK(a->type == ValueType::U32, "{}: general.alignment must be a u32, got {} {}", name,
              value_type_name(a->type), a->describe());
    ZIP_CHECK(a->u > 0 && std::has_single_bit(a->u), "{}: general.alignment {} is not a power of two", name, a->u);
    f.alignment = a->u;
  }

  c.check_count(n_tensors, 32, "tensor infos");
  std::set<std::string_view> names;
  f.tensors.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; k++) {
    TensorInfo t;
    t.name = std::string(c.str("a tensor name"));
    const uint32_t nd = c.u32("a tensor's dimension count");
    ZIP_CHECK(nd >= 1 && nd <= uint32_t(kMaxDims), "{}: tensor '{}' has {} dimensions (1..{} allowed)", name, t.name,
              nd, kMaxDims);
    t.n_elems = 1;
    for (uint32_t d = 0; d < nd; d++) {
      const uint64_t n = c.u64("a tensor dimension");
      ZIP_CHECK(n >= 1 && n <= (uint64_t(1) << 40), "{}: tensor '{}' has dimension {} = {}", name, t.name, d, n);
      ZIP_CHECK(!__builtin_mul_overflow(t.n_elems, n, &t.n_elems) && t.n_elems <= (uint64_t(1) << 48),
                "{}: tensor '{}' has too many elements", name, t.name);
      t.ne.push_back(n);
    }
    t.type = c.u32("a tensor type");
    int be = 0, bb = 0;
    ZIP_CHECK(ggml_type_traits(t.type, &be, &bb), "{}: tensor '{}' has unknown ggml type {}", name, t.name, t.type);
    ZIP_CHECK(t.ne[0] % uint64_t(be) == 0,
              "{}: tensor '{}' ({}) has rows of {} elements, not a multiple of its block size {}", name, t.name,
              ggml_type_name(t.type), t.ne[0], be);
    t.n_bytes = t.n_elems / uint64_t(be) * uint64_t(bb);  // n_elems <= 2^48 and bb < 2^9: no overflow
    t.offset = c.u64("a tensor offset");
    ZIP_CHECK(t.offset % f.alignment == 0, "{}: tensor '{}' offset {} is not a multiple of the alignment {}", name,
              t.name, t.offset, f.alignment);
    f.tensors.push_back(std::move(t));
  }
  for (const TensorInfo& t : f.tensors)
    ZIP_CHECK(names.insert(t.name).second, "{}: tensor '{}' appears twice", name, t.name);

  // The data section starts at the next multiple of the alignment after the infos.
  const uint64_t data_start = align_up(c.pos(), f.alignment);
  if (!f.tensors.empty())
    ZIP_CHECK(data_start <= size, "{}: truncated GGUF file: the data section would start at {}, the file has {} bytes",
              name, data_start, size);
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  for (TensorInfo& t : f.tensors) {
    ZIP_CHECK(t.offset <= data_size && t.n_bytes <= data_size - t.offset,
              "{}: tensor '{}' data [{}, +{}) lies outside the {}-byte data section (truncated file?)", name, t.name,
              t.offset, t.n_bytes, data_size);
    t.data = data + data_start + t.offset;
  }
  return f;
}

File read_file(const std::string& path) {
  auto m = MappedFile::open(path);
  return parse(m->data(), m->size(), m, path);
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace zip::gguf
