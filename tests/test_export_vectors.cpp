// The GGUF writer's output as llama.cpp's `gguf` Python package reads it: the committed vectors
// (tools/gguf_export_vectors.py: the stories260K golden slice exported through the CLI) list every
// key with its type and value and every tensor with its type, ne and a CRC-32 of its bytes; the
// same model exported in-process must read back identically with this repository's reader.
#include "models/export.h"
#include "models/gguf.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

// zlib's CRC-32 (reflected 0xEDB88320), as Python's zlib.crc32.
uint32_t crc32_zlib(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

// gguf-py's GGUFValueType names.
std::string py_type_name(gguf::ValueType t) {
  static const char* names[] = {"UINT8", "INT8",  "UINT16", "INT16", "UINT32", "INT32",  "FLOAT32",
                                "BOOL",  "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  return names[uint32_t(t)];
}

void check_value(const gguf::Value& v, const nlohmann::json& want) {
  if (v.type == gguf::ValueType::Array) {
    CHECK(py_type_name(v.elem) == want["elem"].get<std::string>());
    CHECK(v.count == want["count"].get<uint64_t>());
    if (want.contains("values"))
      for (uint64_t i = 0; i < v.count; i++) CHECK(v.int_at(i) == want["values"][i].get<int64_t>());
  } else if (v.type == gguf::ValueType::String) {
    CHECK(std::string(v.s) == want.get<std::string>());
  } else if (v.is_float()) {
    CHECK(v.f == want.get<double>());
  } else if (v.type == gguf::ValueType::Bool) {
    CHECK(int(v.b) == want.get<int>());
  } else {
    CHECK((v.is_unsigned() ? int64_t(v.u) : v.i) == want.get<int64_t>());
  }
}

}  // namespace

TEST_CASE("gguf export vectors: the writer's output reads as gguf-py read it (keys, types, tensor bytes)") {
  const nlohmann::json vec = ztest::load_json("tests/data/gguf_export_vectors.json");
  const std::string path = ztest::temp_dir() + "/vectors.gguf";
  export_gguf(ztest::stories260K_sliced(), path);
  const gguf::File f = gguf::read_file(path);
  CHECK(f.version == vec["version"].get<uint32_t>());
  CHECK(f.alignment == vec["alignment"].get<uint64_t>());

  REQUIRE(f.kv.size() == vec["keys"].size());
  for (const auto& k : vec["keys"]) {
    const std::string key = k["key"];
    CAPTURE(key);
    const gguf::Value* v = f.find(key);
    REQUIRE(v);
    CHECK(py_type_name(v->type) == k["type"].get<std::string>());
    check_value(*v, k["value"]);
  }
  REQUIRE(f.tensors.size() == vec["tensors"].size());
  for (size_t i = 0; i < f.tensors.size(); i++) {
    const gguf::TensorInfo& t = f.tensors[i];
    const auto& w = vec["tensors"][i];
    CAPTURE(t.name);
    CHECK(t.name == w["name"].get<std::string>());
    CHECK(gguf::ggml_type_name(t.type) == w["type"].get<std::string>());
    CHECK(t.ne == w["ne"].get<std::vector<uint64_t>>());
    CHECK(t.n_bytes == w["n_bytes"].get<uint64_t>());
    CHECK(crc32_zlib(t.data, t.n_bytes) == w["crc32"].get<uint32_t>());
  }
}
