// Reader for the safetensors format (Hugging Face): an 8-byte little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section the offsets are relative to. Everything is validated before any tensor
// data is touched; tensors are zero-copy views into the file's memory map.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/file_io.h"
#include "engine/tensor.h"

namespace zip {

struct SafetensorsFile {
  std::string path;
  std::shared_ptr<MappedFile> file;       // kept alive by every tensor view as well
  std::map<std::string, Tensor> tensors;  // F32 / F16 / BF16 only
  nlohmann::json metadata;                // "__metadata__" object, or null when absent
};

// Names of tensors to leave out, whatever their dtype: non-weight buffers some checkpoints carry
// (BERT's int64 embeddings.position_ids, GPT-2's attention masks) that importers recompute.
using TensorFilter = std::function<bool(const std::string& name)>;

// Opens and validates one .safetensors file. Throws zip::Error naming the file (and tensor)
// on anything malformed: short file, header length out of bounds, bad JSON, unknown dtype,
// offsets outside the data section or inconsistent with shape × dtype size.
// Entries `skip` accepts are not read at all.
SafetensorsFile read_safetensors(const std::string& path, const TensorFilter& skip = {});

// All tensors of a checkpoint directory: `model.safetensors`, or else the shards listed in
// `model.safetensors.index.json` ({"weight_map": {tensor: shard file}}), each shard opened once.
// A tensor listed in the index but absent from its shard, or a shard tensor the index does not
// list, is an error.
std::map<std::string, Tensor> load_safetensors_dir(const std::string& dir, const TensorFilter& skip = {});

}  // namespace zip
