#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>

#include "engine/error.h"
#include "engine/host_memory.h"

namespace zip {

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t Tensor::numel() const { return shape_numel(shape); }
std::string Tensor::shape_str() const { return shape_to_string(shape); }

static std::shared_ptr<void> alloc_aligned(size_t nbytes) {
  return std::shared_ptr<void>(host_alloc_zeroed(nbytes), host_free);
}

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.holder = alloc_aligned(t.nbytes());
  t.data = t.holder.get();
  return t;
}

Tensor Tensor::view(DType dtype, std::vector<int64_t> shape, const void* data, std::shared_ptr<void> holder) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = const_cast<void*>(data);
  t.holder = std::move(holder);
  return t;
}

Tensor Tensor::from_floats(const std::vector<float>& values, std::vector<int64_t> shape, DType dtype) {
  Tensor t = zeros(dtype, std::move(shape));
  ZIP_CHECK(int64_t(values.size()) == t.numel(), "from_floats: {} values for shape {}", values.size(), t.shape_str());
  from_f32(dtype, values.data(), t.data, values.size());
  return t;
}

std::vector<float> Tensor::to_floats() const {
  ZIP_CHECK(device == Device::CPU, "to_floats: tensor is not on the CPU");
  std::vector<float> out(static_cast<size_t>(numel()));
  if (dtype == DType::I32) {
    for (size_t i = 0; i < out.size(); i++) out[i] = float(ptr<int32_t>()[i]);
    return out;
  }
  to_f32(dtype, data, out.data(), out.size());
  return out;
}

void Tensor::gather_rows_f32(const int* ids, int n, float* out) const {
  ZIP_CHECK(ndim() == 2 && (is_float(dtype) || is_quantized(dtype)), "gather_rows_f32: expected a 2-D float tensor");
  int64_t V = dim(0), D = dim(1);
  for (int m = 0; m < n; m++) {
    ZIP_CHECK(ids[m] >= 0 && ids[m] < V, "token id {} out of range (vocabulary {})", ids[m], V);
    const char* row = static_cast<const char*>(data) + size_t(ids[m]) * dtype_row_bytes(dtype, D);
    to_f32(dtype, row, out + size_t(m) * D, size_t(D));
  }
}

Tensor Tensor::converted(DType to) const {
  ZIP_CHECK(device == Device::CPU, "converted: tensor is not on the CPU");
  Tensor t = zeros(to, shape);
  if (to == dtype) {
    std::memcpy(t.data, data, nbytes());
  } else {
    auto numeric = [](DType t) { return is_float(t) || is_quantized(t); };
    ZIP_CHECK(numeric(dtype) && numeric(to) && !(is_quantized(dtype) && is_quantized(to)), "cannot convert {} to {}",
              dtype_name(dtype), dtype_name(to));
    std::vector<float> tmp = to_floats();
    from_f32(to, tmp.data(), t.data, tmp.size());
  }
  return t;
}

}  // namespace zip
