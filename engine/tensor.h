// Tensor: a typed, shaped view of memory on a device. Storage is either owned (a heap or device
// buffer) or borrowed from something kept alive by `holder` (e.g. the mmap of a .zlm file), so
// weights load zero-copy. Row-major; shape[0] is the slowest dimension.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace zip {

enum class Device : uint8_t { CPU = 0, CUDA = 1 };

struct Tensor {
  DType dtype = DType::F32;
  Device device = Device::CPU;
  std::vector<int64_t> shape;
  void* data = nullptr;
  std::shared_ptr<void> holder;  // keeps `data` alive (owned buffer or the mapping it points into)

  // A zero-filled CPU tensor that owns its storage.
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);
  // A view of external memory kept alive by `holder`.
  static Tensor view(DType dtype, std::vector<int64_t> shape, const void* data, std::shared_ptr<void> holder);
  // Float tensor from values (converted to `dtype`).
  static Tensor from_floats(const std::vector<float>& values, std::vector<int64_t> shape, DType dtype = DType::F32);

  bool empty() const { return data == nullptr; }
  int ndim() const { return int(shape.size()); }
  int64_t dim(int i) const { return shape.at(size_t(i)); }
  int64_t numel() const;
  size_t nbytes() const { return dtype_row_bytes(dtype, numel()); }
  std::string shape_str() const;  // "[512, 64]"

  template <typename T> T* ptr() { return static_cast<T*>(data); }
  template <typename T> const T* ptr() const { return static_cast<const T*>(data); }

  // Values as f32 (a copy, converting f16/bf16, dequantising block types).
  std::vector<float> to_floats() const;
  // Rows ids[0..n) of a 2-D float or block-type tensor, as f32 into out[n, dim(1)]; ids are checked.
  void gather_rows_f32(const int* ids, int n, float* out) const;
  // A deep copy that owns its storage, converted to `dtype` (float → float, block → float, or float →
  // block through the reference quantiser).
  Tensor converted(DType dtype) const;
  Tensor clone() const { return converted(dtype); }
};

int64_t shape_numel(const std::vector<int64_t>& shape);
std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace zip
