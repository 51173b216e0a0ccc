// Test helper: builds GGUF files from parts (tests edit the parts to make invalid ones), writes
// them to a temp folder, and returns the one-line error of parsing or importing them.
#pragma once
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/gguf.h"
#include "models/import.h"
#include "tests/test_util.h"

using zip::gguf::ValueType;

namespace {

const std::string kData = "tests/data/gguf/";


inline void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
inline void put64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
inline void putstr(std::string& s, std::string_view v) {
  put64(s, v.size());
  s += v;
}
template <typename T>
inline std::string raw_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Writes GGUF files from parts; tests edit the parts to make invalid ones.
struct Builder {
  struct Kv {
    std::string key;
    uint32_t type;
    std::string payload;
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
    uint64_t offset_delta = 0;  // added to the offset written in the info (to make bad files)
  };
  uint32_t version = 3;
  uint64_t alignment = 32;
  std::vector<Kv> kv;
  std::vector<Tensor> tensors;

  Builder& set(const std::string& key, ValueType t, std::string payload) {
    for (Kv& e : kv)
      if (e.key == key) {
        e = {key, uint32_t(t), std::move(payload)};
        return *this;
      }
    kv.push_back({key, uint32_t(t), std::move(payload)});
    return *this;
  }
  Builder& erase(const std::string& key) {
    std::erase_if(kv, [&](const Kv& e) { return e.key == key; });
    return *this;
  }
  Builder& u32(const std::string& key, uint32_t v) {
    std::string p;
    put32(p, v);
    return set(key, ValueType::U32, p);
  }
  Builder& f32(const std::string& key, float v) { return set(key, ValueType::F32, raw_of(std::vector<float>{v})); }
  Builder& boolean(const std::string& key, bool v) { return set(key, ValueType::Bool, std::string(1, char(v))); }
  Builder& str(const std::string& key, const std::string& v) {
    std::string p;
    putstr(p, v);
    return set(key, ValueType::String, p);
  }
  Builder& strs(const std::string& key, const std::vector<std::string>& v) {
    std::string p;
    put32(p, uint32_t(ValueType::String));
    put64(p, v.size());
    for (const auto& s : v) putstr(p, s);
    return set(key, ValueType::Array, p);
  }
  template <typename T>
  Builder& array(const std::string& key, ValueType elem, const std::vector<T>& v) {
    std::string p;
    put32(p, uint32_t(elem));
    put64(p, v.size());
    return set(key, ValueType::Array, p + raw_of(v));
  }
  Builder& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, std::string data) {
    std::erase_if(tensors, [&](const Tensor& t) { return t.name == name; });
    tensors.push_back({name, std::move(ne), type, std::move(data)});
    return *this;
  }
  // f32 values 0.01·(i mod 17) − 0.08 for a tensor of ggml dims ne.
  Builder& f32_tensor(const std::string& name, std::vector<uint64_t> ne) {
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    std::vector<float> v(n);
    for (uint64_t i = 0; i < n; i++) v[i] = 0.01f * float((i + name.size()) % 17) - 0.08f;
    return tensor(name, std::move(ne), 0, raw_of(v));
  }

  std::string bytes() const {
    std::string out = "GGUF";
    put32(out, version);
    put64(out, tensors.size());
    put64(out, kv.size());
    for (const Kv& e : kv) {
      putstr(out, e.key);
      put32(out, e.type);
      out += e.payload;
    }
    std::string data;
    for (const Tensor& t : tensors) {
      putstr(out, t.name);
      put32(out, uint32_t(t.ne.size()));
      for (uint64_t d : t.ne) put64(out, d);
      put32(out, t.type);
      put64(out, data.size() + t.offset_delta);
      data += t.data;
      data.resize((data.size() + alignment - 1) / alignment * alignment, '\0');
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out + data;
  }
};

// A valid one-layer Llama with f32 weights and a small SentencePiece vocabulary:
// dim 8, 2 query heads of 4 sharing 1 KV head, FFN 16, vocabulary 10, tied embeddings.
inline Builder spm_llama() {
  Builder b;
  b.str("general.architecture", "llama").str("general.name", "builder llama");
  b.u32("llama.embedding_length", 8).u32("llama.block_count", 1).u32("llama.context_length", 32);
  b.u32("llama.feed_forward_length", 16).u32("llama.attention.head_count", 2).u32("llama.attention.head_count_kv", 1);
  b.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f).f32("llama.rope.freq_base", 10000.0f);
  b.str("tokenizer.ggml.model", "llama");
  const std::string sp = "\xE2\x96\x81";  // SentencePiece's visible space
  b.strs("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0x0A>", sp, "a", "b", sp + "a", "ab", sp + "ab"});
  b.array("tokenizer.ggml.scores", ValueType::F32, std::vector<float>{0, 0, 0, 0, -1, -2, -3, -4, -5, -6});
  b.array("tokenizer.ggml.token_type", ValueType::I32, std::vector<int32_t>{2, 3, 3, 6, 1, 1, 1, 1, 1, 1});
  b.u32("tokenizer.ggml.bos_token_id", 1)
      .u32("tokenizer.ggml.eos_token_id", 2)
      .u32("tokenizer.ggml.unknown_token_id", 0);
  b.f32_tensor("token_embd.weight", {8, 10}).f32_tensor("output_norm.weight", {8});
  b.f32_tensor("blk.0.attn_norm.weight", {8}).f32_tensor("blk.0.attn_q.weight", {8, 8});
  b.f32_tensor("blk.0.attn_k.weight", {8, 4}).f32_tensor("blk.0.attn_v.weight", {8, 4});
  b.f32_tensor("blk.0.attn_output.weight", {8, 8}).f32_tensor("blk.0.ffn_norm.weight", {8});
  b.f32_tensor("blk.0.ffn_gate.weight", {8, 16}).f32_tensor("blk.0.ffn_up.weight", {8, 16});
  b.f32_tensor("blk.0.ffn_down.weight", {16, 8});
  return b;
}

inline std::string write_temp(const std::string& bytes, const std::string& name = "model.gguf") {
  static const std::string dir = ztest::temp_dir();
  const std::string path = dir + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
  return path;
}

// The zip::Error message of importing `bytes` ("" if it imports); any other exception fails.
inline std::string import_error(const std::string& bytes, zip::ImportOptions opt = {}) {
  const std::string path = write_temp(bytes);
  try {
    zip::import_model(path, opt);
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "";
}

// Parses an exactly-sized heap copy (so ASan sees any read past the end).
inline std::string parse_error(const std::string& bytes) {
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  try {
    zip::gguf::parse(buf.data(), buf.size(), nullptr, "mem.gguf");
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "";
}

inline std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// Index of the first element whose bits differ, or -1.
inline int64_t first_bit_difference(const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (std::memcmp(a + i, b + i, 4) != 0) return int64_t(i);
  return -1;
}

}  // namespace
