// The compression database's file: named flat arrays (f64, f32, bf16, i32) behind a JSON header,
// sealed by a CRC-32C. Written atomically, so a killed run leaves either a whole file or none;
// a damaged one fails to read and the caller recomputes it. Not a model format: the database is
// a cache (docs/COMPRESS.md), keyed by what it was computed from.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zip {

enum class ArrayType : uint8_t { F64, F32, BF16, I32 };

struct ArrayOut {
  std::string name;
  ArrayType type;
  const void* data;
  size_t count;  // elements
};

// Writes `meta` and the arrays to `path` (temp file + rename).
void write_db_file(const std::string& path, const nlohmann::json& meta, const std::vector<ArrayOut>& arrays);

// A read (mapped) database file; throws zip::Error if missing, truncated or corrupt.
class DbFile {
 public:
  static DbFile open(const std::string& path);
  const nlohmann::json& meta() const { return meta_; }
  bool has(const std::string& name) const { return arrays_.count(name) != 0; }
  std::vector<double> f64(const std::string& name) const;
  std::vector<float> f32(const std::string& name) const;  // f32 or bf16, widened
  std::vector<int> i32(const std::string& name) const;

 private:
  struct Slot {
    ArrayType type;
    const uint8_t* data;
    size_t count;
  };
  const Slot& slot(const std::string& name) const;
  std::shared_ptr<const void> holder_;
  nlohmann::json meta_;
  std::map<std::string, Slot> arrays_;
  std::string path_;
};

}  // namespace zip
