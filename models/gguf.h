// GGUF container reader (llama.cpp's model file, versions 2 and 3, little-endian): header,
// metadata key/values of every value type (nested arrays included), tensor infos and the
// aligned data section. Everything is bounds-checked before use: counts and lengths are
// compared with the bytes left, sizes with overflow checks, tensor data against the file end.
// A malformed file is a zip::Error naming it, never a crash or a huge allocation.
//
// Layout (all integers little-endian):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count
//   kv_count × { string key, u32 value_type, value }
//   tensor_count × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the data section; every tensor's offset
//   is relative to the data section and a multiple of the alignment.
//   string = u64 length + bytes (no terminator); array = u32 element type, u64 count, elements.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace zip::gguf {

// clang-format off
enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10,
  I64 = 11, F64 = 12
};
// clang-format on
const char* value_type_name(ValueType t);

// One metadata value. Scalars are widened (u: unsigned, i: signed, f: float, b: bool, s: string).
// Arrays (of any type but arrays: nested arrays are refused, as ggml does) are views into the
// file: numeric elements stay in their little-endian bytes, read with the *_at accessors, so a
// hostile count costs no memory beyond the file itself. Strings point into the file too: a Value
// is valid while its File's holder lives.
struct Value {
  ValueType type = ValueType::U8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string_view s;
  // Arrays.
  ValueType elem = ValueType::U8;
  uint64_t count = 0;
  const uint8_t* raw = nullptr;        // numeric arrays: count elements of elem's size
  std::vector<std::string_view> strs;  // string arrays

  bool is_int() const;       // any integer type (not bool)
  bool is_float() const;     // f32 or f64
  bool is_unsigned() const;  // u8..u64 (the value is in u; other integers are in i)
  bool is_array_of_ints() const;
  // Element k of an integer array as int64 (a u64 above INT64_MAX is an error).
  int64_t int_at(uint64_t k) const;
  // Element k of a float array (f32/f64), widened.
  double float_at(uint64_t k) const;
  std::string describe() const;  // short text for error messages: 3, "text", [5 × u32]
};

// ggml tensor types (ggml.h's enum ggml_type; the gaps are retired types).
// clang-format off
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10, Q3_K = 11, Q4_K = 12,
  Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30, TQ1_0 = 34,
  TQ2_0 = 35, MXFP4 = 39
};
// clang-format on
// Elements per block and bytes per block of a type; false for a value no ggml type has.
bool ggml_type_traits(uint32_t type, int* block_elems, int* block_bytes);
std::string ggml_type_name(uint32_t type);  // "Q4_K"; "type 77" for unknown values

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the fastest-varying (a row's length)
  uint32_t type = 0;         // GgmlType value (always a known one)
  uint64_t offset = 0;       // from the start of the data section
  uint64_t n_elems = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // inside the file; n_bytes are readable

  // The engine's row-major shape: ne reversed (a matrix with ne = [in, out] is [out, in]).
  std::vector<int64_t> shape() const;
};

struct File {
  std::string path;
  uint32_t version = 0;
  uint64_t alignment = 32;
  std::map<std::string, Value> kv;
  std::vector<TensorInfo> tensors;  // in file order
  std::shared_ptr<void> holder;     // keeps the bytes `data` points into alive

  const Value* find(const std::string& key) const;
  const TensorInfo* find_tensor(const std::string& name) const;
};

// Parses a GGUF image held in memory; `holder` keeps `data` alive, `name` labels errors.
File parse(const uint8_t* data, size_t size, std::shared_ptr<void> holder, const std::string& name);
// Maps and parses a file.
File read_file(const std::string& path);
// Whether the file starts with the GGUF magic (false when unreadable or shorter).
bool has_gguf_magic(const std::string& path);

}  // namespace zip::gguf
