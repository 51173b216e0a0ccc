// Helpers of the export tests: tensor-for-tensor model comparison and decoder logits.
#pragma once
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "tests/test_util.h"

namespace ztest {

// Same config, same tensor names, dtypes, shapes and bytes, same tokenizer.
inline void check_same_model(const zip::Model& a, const zip::Model& b) {
  CHECK(a.config == b.config);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const zip::Tensor* u = b.find(name);
    REQUIRE_MESSAGE(u, name);
    CHECK_MESSAGE(t.dtype == u->dtype, name);
    REQUIRE_MESSAGE(t.shape == u->shape, name);
    CHECK_MESSAGE(std::memcmp(t.data, u->data, t.nbytes()) == 0, name);
  }
  REQUIRE(bool(a.tokenizer) == bool(b.tokenizer));
  if (a.tokenizer) CHECK(*a.tokenizer == *b.tokenizer);
}

inline void write_file_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

// Logits of every position of `ids` (a decoder).
inline std::vector<float> all_logits(const zip::Model& m, const std::vector<int>& ids) {
  auto be = zip::make_cpu_backend(1);
  zip::InferenceContext ctx(m, *be);
  const float* p = ctx.eval(ids, true);
  return std::vector<float>(p, p + ids.size() * size_t(m.config.vocab_size));
}

}  // namespace ztest
