// GGUF v3 writer, the inverse of models/gguf.h's reader: metadata key/values (in the order they
// are set; setting a key again replaces its value in place), tensor infos in the order they are
// added, then the data section with every tensor aligned to 32 bytes (ggml's default
// `general.alignment`, which is therefore not written). Tensors are kept as views, so a model is
// written without a second copy in memory; the file is written atomically (temp file + rename).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/gguf.h"

namespace zip::gguf {

// The ggml type of an engine dtype (F32, F16, BF16 and the GGUF-identical block types Q8_0,
// Q4_0, Q5_0, Q4_K, Q6_K); throws for a dtype GGUF has no equivalent of.
GgmlType ggml_type_of(DType t);

class Writer {
 public:
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_str(const std::string& key, const std::string& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_str_array(const std::string& key, const std::vector<std::string>& v);

  // A tensor under `name` with the engine's row-major shape (written as ggml ne, reversed).
  void add_tensor(const std::string& name, const Tensor& t);
  size_t n_tensors() const { return tensors_.size(); }
  uint64_t data_bytes() const;

  void write(const std::string& path) const;

 private:
  void set(const std::string& key, ValueType type, std::string value_bytes);
  struct Entry {
    std::string key;
    std::string bytes;  // u32 type then the value, encoded
  };
  std::vector<Entry> kv_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
};

}  // namespace zip::gguf
