// The .zlm writer. The whole layout (header, index, offsets, both checksums) is computed in
// memory first, because the preamble at the front carries the checksums and AtomicFile writes
// sequentially; then the file is streamed out once, tensors straight from their storage.
#include <bit>
#include <cstring>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"

namespace zip {

using json = nlohmann::json;
namespace P = zlm_preamble;

static_assert(std::endian::native == std::endian::little, "tensor data is written in host order: little-endian");

namespace {

void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) s.push_back(char(uint8_t(v >> (8 * i))));
}
void store(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = uint8_t(v >> (8 * i));
}
uint64_t align_up(uint64_t x) { return (x + kZlmAlign - 1) / kZlmAlign * kZlmAlign; }

struct Entry {
  std::string name;
  const Tensor* t;
  uint64_t offset;
};

void check_writable(const std::string& name, const Tensor& t) {
  ZIP_CHECK(zlm_name_ok(name), "tensor name '{}' is not 1..{} bytes of printable ASCII", name, kZlmMaxNameBytes);
  ZIP_CHECK(t.device == Device::CPU, "tensor '{}' is not on the CPU", name);
  ZIP_CHECK(t.ndim() <= kZlmMaxDims, "tensor '{}' has {} dimensions (at most {})", name, t.ndim(), kZlmMaxDims);
  for (int64_t d : t.shape) ZIP_CHECK(d >= 0, "tensor '{}' has a negative dimension", name);
  ZIP_CHECK(t.data != nullptr || t.nbytes() == 0, "tensor '{}' has no data", name);
}

std::string build_index(const std::vector<Entry>& entries) {
  std::string idx;
  put(idx, entries.size(), 4);
  for (auto& e : entries) {
    put(idx, e.name.size(), 2);
    idx += e.name;
    put(idx, uint8_t(e.t->dtype), 1);
    put(idx, uint8_t(e.t->ndim()), 1);
    for (int64_t d : e.t->shape) put(idx, uint64_t(d), 8);
    put(idx, e.offset, 8);
    put(idx, e.t->nbytes(), 8);
  }
  return idx;
}

void save(const Model& m, const std::string& path) {
  m.validate();
  ZIP_CHECK(m.provenance.is_object(), "provenance must be a JSON object");
  const uint32_t version = zlm_version_for(m);
  json header = {{"format", "zlm"}, {"version", version}, {"config", config_to_json(m.config)}};
  std::map<std::string, Tensor> tok;
  if (m.tokenizer) {
    json meta = json::object();
    tokenizer_to_zlm(*m.tokenizer, meta, tok);
    ZIP_CHECK(meta.is_object(), "tokenizer metadata is not a JSON object");
    header["tokenizer"] = std::move(meta);
  }
  header["provenance"] = m.provenance;
  std::string hdr;
  try {
    hdr = header.dump();  // strict: invalid UTF-8 in a string throws rather than writing bad JSON
  } catch (const json::exception& e) {
    fail("the header cannot be written as JSON: {}", e.what());
  }

  // Weights in the config's canonical order, then the tokenizer's tensors (sorted by name).
  std::vector<Entry> entries;
  for (auto& s : expected_tensors(m.config)) entries.push_back({s.name, &m.get(s.name), 0});
  for (auto& [name, t] : tok) {
    ZIP_CHECK(name.rfind("tokenizer.", 0) == 0, "tokenizer tensor '{}' must be named tokenizer.*", name);
    entries.push_back({name, &t, 0});
  }
  uint64_t data_bytes = 0;
  for (auto& e : entries) {
    check_writable(e.name, *e.t);
    e.offset = align_up(data_bytes);
    data_bytes = e.offset + e.t->nbytes();
  }
  std::string idx = build_index(entries);

  uint32_t data_crc = 0;
  uint64_t pos = 0;
  for (auto& e : entries) {
    data_crc = crc32c_zeros(size_t(e.offset - pos), data_crc);
    data_crc = crc32c(e.t->data, e.t->nbytes(), data_crc);
    pos = e.offset + e.t->nbytes();
  }

  uint64_t meta_end = kZlmPreambleBytes + hdr.size() + idx.size();
  uint64_t data_offset = align_up(meta_end);
  uint8_t pre[kZlmPreambleBytes] = {};
  std::memcpy(pre + P::kMagic, P::kMagicBytes, 8);
  store(pre + P::kVersion, version, 4);
  store(pre + P::kHeaderBytes, hdr.size(), 8);
  store(pre + P::kIndexBytes, idx.size(), 8);
  store(pre + P::kDataOffset, data_offset, 8);
  store(pre + P::kDataBytes, data_bytes, 8);
  store(pre + P::kDataCrc, data_crc, 4);
  uint32_t meta = crc32c(pre, P::kMetaCrc);
  meta = crc32c(hdr.data(), hdr.size(), meta);
  meta = crc32c(idx.data(), idx.size(), meta);
  meta = crc32c_zeros(size_t(data_offset - meta_end), meta);
  store(pre + P::kMetaCrc, meta, 4);

  AtomicFile f(path);
  f.write(pre, sizeof pre);
  f.write(hdr.data(), hdr.size());
  f.write(idx.data(), idx.size());
  f.write_zeros(size_t(data_offset - meta_end));
  for (auto& e : entries) {
    f.write_zeros(size_t(data_offset + e.offset - f.offset()));
    f.write(e.t->data, e.t->nbytes());
  }
  f.commit();
}

}  // namespace

uint32_t zlm_version_for(const Model& m) {
  uint32_t v = 1;
  for (const auto& [name, t] : m.tensors) {
    if (t.dtype == DType::Q5_0) return 3;
    if (is_quantized(t.dtype)) v = 2;
  }
  return v;
}

void save_zlm(const Model& m, const std::string& path) {
  try {
    save(m, path);
  } catch (const Error& e) {
    fail("cannot write '{}': {}", path, e.what());
  }
}

}  // namespace zip
