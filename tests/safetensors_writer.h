// Test helper: a minimal safetensors writer (header padded with spaces to 8 bytes, tensors back
// to back) and readers of real checkpoints into editable entry lists, to build variants of the
// golden Hugging Face folders (renamed, missing, reshaped tensors) in temp directories.
#pragma once
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/safetensors.h"
#include "tests/test_util.h"

namespace ztest {

struct StEntry {
  std::string name, dtype;  // dtype as safetensors spells it: "F32", "BF16", "I64", ...
  std::vector<int64_t> shape;
  std::string bytes;
};

inline std::string safetensors_bytes(const std::vector<StEntry>& entries) {
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (const auto& e : entries) {
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {data.size(), data.size() + e.bytes.size()}}};
    data += e.bytes;
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::string out(8, '\0');
  uint64_t n = hs.size();
  std::memcpy(out.data(), &n, 8);
  return out + hs + data;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

inline StEntry entry_of(const std::string& name, const zip::Tensor& t) {
  const char* dt = t.dtype == zip::DType::F32 ? "F32" : t.dtype == zip::DType::F16 ? "F16" : "BF16";
  return {name, dt, t.shape, std::string(static_cast<const char*>(t.data), t.nbytes())};
}

// Every tensor of a .safetensors file, in name order.
inline std::vector<StEntry> read_entries(const std::string& path) {
  zip::SafetensorsFile f = zip::read_safetensors(path);
  std::vector<StEntry> out;
  for (const auto& [name, t] : f.tensors) out.push_back(entry_of(name, t));
  return out;
}

// A fresh temp directory holding config.json and model.safetensors.
inline std::string make_hf_dir(const nlohmann::json& config, const std::vector<StEntry>& entries) {
  std::string dir = temp_dir();
  write_bytes(dir + "/config.json", config.dump(1));
  write_bytes(dir + "/model.safetensors", safetensors_bytes(entries));
  return dir;
}

}  // namespace ztest
