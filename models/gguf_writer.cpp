// GGUF v3 writer; see gguf_writer.h and the layout in gguf.h.
#include "models/gguf_writer.h"

#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"

namespace zip::gguf {

namespace {

constexpr uint64_t kAlignment = 32;

uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

template <typename T>
void put(std::string& out, T x) {
  char b[sizeof x];
  std::memcpy(b, &x, sizeof x);
  out.append(b, sizeof x);
}

void put_str(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

}  // namespace

GgmlType ggml_type_of(DType t) {
  switch (t) {
    case DType::F32: return GgmlType::F32;
    case DType::F16: return GgmlType::F16;
    case DType::BF16: return GgmlType::BF16;
    case DType::Q8_0: return GgmlType::Q8_0;
    case DType::Q4_0: return GgmlType::Q4_0;
    case DType::Q5_0: return GgmlType::Q5_0;
    case DType::Q4_K: return GgmlType::Q4_K;
    case DType::Q6_K: return GgmlType::Q6_K;
    default: fail("GGUF export: tensor type {} has no GGUF equivalent", dtype_name(t));
  }
}

void Writer::set(const std::string& key, ValueType type, std::string value_bytes) {
  std::string bytes;
  put<uint32_t>(bytes, uint32_t(type));
  bytes += value_bytes;
  for (Entry& e : kv_)
    if (e.key == key) {
      e.bytes = std::move(bytes);
      return;
    }
  kv_.push_back({key, std::move(bytes)});
}

void Writer::set_u32(const std::string& key, uint32_t v) {
  std::string b;
  put(b, v);
  set(key, ValueType::U32, b);
}
void Writer::set_i32(const std::string& key, int32_t v) {
  std::string b;
  put(b, v);
  set(key, ValueType::I32, b);
}
void Writer::set_f32(const std::string& key, float v) {
  std::string b;
  put(b, v);
  set(key, ValueType::F32, b);
}
void Writer::set_bool(const std::string& key, bool v) { set(key, ValueType::Bool, std::string(1, v ? '\1' : '\0')); }
void Writer::set_str(const std::string& key, const std::string& v) {
  std::string b;
  put_str(b, v);
  set(key, ValueType::String, b);
}
void Writer::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  std::string b;
  put<uint32_t>(b, uint32_t(ValueType::I32));
  put<uint64_t>(b, v.size());
  for (int32_t x : v) put(b, x);
  set(key, ValueType::Array, b);
}
void Writer::set_f32_array(const std::string& key, const std::vector<float>& v) {
  std::string b;
  put<uint32_t>(b, uint32_t(ValueType::F32));
  put<uint64_t>(b, v.size());
  for (float x : v) put(b, x);
  set(key, ValueType::Array, b);
}
void Writer::set_str_array(const std::string& key, const std::vector<std::string>& v) {
  std::string b;
  put<uint32_t>(b, uint32_t(ValueType::String));
  put<uint64_t>(b, v.size());
  for (const std::string& s : v) put_str(b, s);
  set(key, ValueType::Array, b);
}

void Writer::add_tensor(const std::string& name, const Tensor& t) {
  ZIP_CHECK(t.ndim() >= 1 && t.ndim() <= 4, "GGUF export: tensor '{}' has {} dimensions (1..4)", name, t.ndim());
  ggml_type_of(t.dtype);  // refuses types GGUF cannot hold
  for (const auto& [n, _] : tensors_) ZIP_CHECK(n != name, "GGUF export: tensor '{}' added twice", name);
  tensors_.emplace_back(name, t);
}

uint64_t Writer::data_bytes() const {
  uint64_t off = 0;
  for (const auto& [_, t] : tensors_) off = align_up(off) + t.nbytes();
  return off;
}

void Writer::write(const std::string& path) const {
  std::string head;
  put<uint32_t>(head, 0x46554747);  // "GGUF"
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const Entry& e : kv_) {
    put_str(head, e.key);
    head += e.bytes;
  }
  uint64_t off = 0;
  for (const auto& [name, t] : tensors_) {
    off = align_up(off);
    put_str(head, name);
    put<uint32_t>(head, uint32_t(t.ndim()));
    for (int d = t.ndim() - 1; d >= 0; d--) put<uint64_t>(head, uint64_t(t.dim(d)));
    put<uint32_t>(head, uint32_t(ggml_type_of(t.dtype)));
    put<uint64_t>(head, off);
    off += t.nbytes();
  }
  AtomicFile f(path);
  f.write(head.data(), head.size());
  f.write_zeros(align_up(head.size()) - head.size());
  const uint64_t data_start = f.offset();
  for (const auto& [name, t] : tensors_) {
    f.write_zeros(align_up(f.offset() - data_start) - (f.offset() - data_start));
    f.write(t.data, t.nbytes());
  }
  f.commit();
}

}  // namespace zip::gguf
