// safetensors writer; see safetensors_writer.h.
#include "models/safetensors_writer.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    default: fail("safetensors: tensor type {} cannot be stored (F32, F16, BF16 only)", dtype_name(t));
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) md[k] = v;
    h["__metadata__"] = md;
  }
  uint64_t off = 0;
  for (const auto& [name, t] : tensors) {
    ZIP_CHECK(!h.contains(name), "safetensors: tensor '{}' written twice", name);
    h[name] = {{"dtype", st_dtype(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  const uint64_t n = hs.size();
  AtomicFile f(path);
  f.write(&n, 8);
  f.write(hs.data(), hs.size());
  for (const auto& [_, t] : tensors) f.write(t.data, t.nbytes());
  f.commit();
}

}  // namespace zip
