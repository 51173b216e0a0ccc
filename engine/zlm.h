// The .zlm model file, versions 1 and 2 (docs/FORMAT.md is the byte-level specification): a 64-byte
// little-endian preamble, a JSON header (config, tokenizer metadata, provenance), a binary tensor
// index, then tensor data with every tensor 64-byte aligned so it loads zero-copy from an mmap.
// The reader checks every byte before the tensor data (a CRC-32C plus structural validation
// against the config) before it trusts any of it; the data checksum is optional because checking
// it reads the whole file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/model.h"

namespace zip {

// Version 2 adds the block-quantized dtypes (Q8_0, Q4_0, Q4_K, Q6_K), version 3 Q5_0; the writer
// writes the lowest version its tensors need (1 when none has a block type), so files stay
// readable by older builds wherever they can be.
inline constexpr uint32_t kZlmVersion = 3;
inline constexpr uint32_t kZlmMinVersion = 1;
// The version a model needs: 3 if any tensor is Q5_0, 2 if any other has a block type, else 1.
uint32_t zlm_version_for(const Model& m);
inline constexpr size_t kZlmPreambleBytes = 64;
inline constexpr size_t kZlmAlign = 64;  // data section and every tensor start
inline constexpr size_t kZlmMaxNameBytes = 256;
inline constexpr int kZlmMaxDims = 4;

// Byte offsets of the preamble fields (little-endian); see docs/FORMAT.md.
namespace zlm_preamble {
inline constexpr size_t kMagic = 0, kVersion = 8, kFlags = 12, kHeaderBytes = 16, kIndexBytes = 24,
                        kDataOffset = 32, kDataBytes = 40, kDataCrc = 48, kReserved = 52, kMetaCrc = 60;
inline constexpr char kMagicBytes[8] = {'Z', 'I', 'P', 'L', 'M', '\0', '\0', '\0'};
}  // namespace zlm_preamble

// Tensor names: 1..256 bytes of printable ASCII other than space.
inline bool zlm_name_ok(const std::string& s) {
  if (s.empty() || s.size() > kZlmMaxNameBytes) return false;
  for (char c : s)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// Writes `m` atomically (temp file, fsync, rename): a failure leaves any old file untouched.
// Validates the model first; every tensor must be on the CPU.
void save_zlm(const Model& m, const std::string& path);

struct ZlmLoadOptions {
  bool verify_data = false;  // also check the CRC-32C of the tensor data (reads the whole file)
  bool check_finite = true;  // refuse NaN / ±inf weights (engine/finite_check.h; reads every weight)
};

// Loads zero-copy: the tensors are views into a read-only mmap that they keep alive.
// Any malformed, truncated or corrupt file is a zip::Error naming the file.
Model load_zlm(const std::string& path, const ZlmLoadOptions& opts = {});

// The same from an image in memory (what load_zlm runs on the mmap; also the fuzzing entry).
// `data` must be 64-byte aligned; the tensors point into it and keep `holder` alive.
// `name` labels error messages.
Model load_zlm_from_memory(const uint8_t* data, size_t size, std::shared_ptr<void> holder, const std::string& name,
                           const ZlmLoadOptions& opts = {});

struct ZlmTensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t offset, nbytes;  // offset from the start of the data section
};

// What `zip inspect` shows. Everything is validated as for loading, except that a data checksum
// mismatch is reported in data_crc_ok instead of thrown.
struct ZlmInfo {
  uint32_t version;
  uint64_t file_size, header_bytes, index_bytes, data_offset, data_bytes;
  uint32_t header_crc;  // CRC-32C of everything before the data section (the preamble's meta_crc)
  uint32_t data_crc;    // CRC-32C of the data section, as stored
  bool data_verified;   // whether the data was read to check data_crc
  bool data_crc_ok;     // data_verified and it matched
  nlohmann::json header;
  std::vector<ZlmTensorInfo> tensors;  // index order
};
ZlmInfo inspect_zlm(const std::string& path, bool verify_data);
ZlmInfo inspect_zlm_memory(const uint8_t* data, size_t size, const std::string& name, bool verify_data);

// A stable id of the file's content for provenance ("parent hash"): 32 hex digits, the header
// CRC, the stored data CRC and the file size (docs/FORMAT.md). Validates the file, without
// reading the tensor data.
std::string zlm_content_hash(const std::string& path);

// For tests and fuzzing only: recomputes the header checksum (and the data checksum too if
// `data_crc`) of a .zlm image in place, so a deliberately mutated image gets past the checksum
// to the structural checks. Leaves the image alone if the preamble's sizes don't fit `size`.
void zlm_reseal(uint8_t* image, size_t size, bool data_crc);

}  // namespace zip
