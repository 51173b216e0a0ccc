// safetensors writer (the inverse of models/safetensors.h's reader): an 8-byte little-endian
// header length, the JSON header (padded with spaces to a multiple of 8 bytes, as the Hugging Face
// library does), then the tensors back to back in the order given. Written atomically.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace zip {

// Tensors must be F32, F16 or BF16 (safetensors has no block types); `metadata` goes under
// "__metadata__" (string values) when not empty.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata = {});

}  // namespace zip
