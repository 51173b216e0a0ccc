#include "engine/quant/quantize_model.h"

#include <algorithm>

#include "base/thread_pool.h"
#include "engine/error.h"
#include "engine/quant/quantize.h"

namespace zip::quant {

namespace {

// `src` converted to `to`, rows split over the pool (each row on its own: deterministic).
Tensor convert_rows(const Tensor& src, DType to, ThreadPool& pool) {
  if (src.dtype == to) return src;
  const bool through_f32 = is_quantized(src.dtype) && is_quantized(to);
  if (!is_quantized(to) && !through_f32) return src.converted(to);
  const Tensor f = through_f32 ? src.converted(DType::F32) : src;
  Tensor out = Tensor::zeros(to, src.shape);
  const int64_t cols = src.shape.back(), rows = src.numel() / std::max<int64_t>(cols, 1);
  const size_t in_row = dtype_row_bytes(f.dtype, cols), out_row = dtype_row_bytes(to, cols);
  pool.run([&](int t, int n) {
    size_t b, e;
    ThreadPool::split(size_t(rows), t, n, &b, &e);
    std::vector<float> buf(static_cast<size_t>(cols));
    for (size_t r = b; r < e; r++) {
      to_f32(f.dtype, static_cast<const uint8_t*>(f.data) + r * in_row, buf.data(), size_t(cols));
      quantize(to, buf.data(), static_cast<uint8_t*>(out.data) + r * out_row, cols);
    }
  });
  return out;
}

}  // namespace

int quantize_model(Model& m, QuantMix mix, int threads) {
  ThreadPool pool(std::max(1, threads));
  int fell_back = 0;
  for (const TensorType& t : mix_tensor_types(m.config, mix)) {
    Tensor& w = m.tensors.at(t.name);
    w = convert_rows(w, t.type, pool);
    fell_back += t.fell_back;
  }
  m.validate();
  return fell_back;
}

std::vector<WeightTypeStats> weight_type_stats(const std::vector<TensorSize>& tensors) {
  std::vector<WeightTypeStats> out;
  for (const TensorSize& t : tensors) {
    auto it = std::find_if(out.begin(), out.end(), [&](const WeightTypeStats& s) { return s.type == t.type; });
    if (it == out.end()) it = out.insert(out.end(), WeightTypeStats{t.type});
    it->tensors++;
    it->params += t.numel;
    it->bytes += t.bytes;
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  return out;
}

std::vector<WeightTypeStats> weight_type_stats(const Model& m) {
  std::vector<TensorSize> sizes;
  for (const auto& [name, t] : m.tensors) sizes.push_back({t.dtype, t.numel(), t.nbytes()});
  return weight_type_stats(sizes);
}

double bits_per_weight(const std::vector<WeightTypeStats>& stats) {
  double bytes = 0, params = 0;
  for (const auto& s : stats) bytes += double(s.bytes), params += double(s.params);
  return params > 0 ? 8.0 * bytes / params : 0.0;
}

std::string weight_type_summary(const Model& m) {
  std::vector<TensorSize> sizes;
  for (const auto& [name, t] : m.tensors)
    if (t.ndim() == 2) sizes.push_back({t.dtype, t.numel(), t.nbytes()});
  std::string s;
  for (const auto& w : weight_type_stats(sizes)) s += (s.empty() ? "" : "+") + std::string(dtype_name(w.type));
  return s;
}

bool has_block_weights(const Model& m) {
  for (const auto& [name, t] : m.tensors)
    if (is_quantized(t.dtype)) return true;
  return false;
}

void require_float_weights(const Model& m, const std::string& what) {
  if (has_block_weights(m))
    fail("{} needs float weights and this model has quantized ones: make a float copy with "
         "zip quantize MODEL.zlm -o MODEL-f32.zlm --type f32",
         what);
}

}  // namespace zip::quant
