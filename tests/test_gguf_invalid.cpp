// GGUF: corrupt, truncated and unsupported files give one-line errors (never a crash), checked on
// files built from parts (tests/gguf_builder.h) and on mutations of the committed tiny model.
#include <cstring>
#include <fstream>
#include <random>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/gguf.h"
#include "models/import.h"
#include "tests/gguf_builder.h"
#include "tests/test_util.h"

TEST_CASE("gguf corrupt: truncated files are clean errors at every offset") {
  const std::string bytes = spm_llama().bytes();
  // Every cut of the header and data must fail to parse: the last tensor ends at the file end
  // except for its alignment padding, which a file may lack.
  std::vector<uint8_t> whole(bytes.begin(), bytes.end());
  const zip::gguf::File full = zip::gguf::parse(whole.data(), whole.size(), nullptr, "full");
  size_t data_end = 0;
  for (const auto& t : full.tensors) data_end = std::max(data_end, size_t(t.data - whole.data() + t.n_bytes));
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    const std::string err = parse_error(bytes.substr(0, cut));
    if (cut < data_end) {
      INFO("cut at " << cut);
      CHECK(!err.empty());
    }
    if (cut % 97 == 0) CHECK(!import_error(bytes.substr(0, cut)).empty());
  }
  // The committed tiny model, cut at many points through the file-level importer.
  const std::string tiny = zip::read_file(kData + "tiny-llama.gguf");
  for (size_t cut = 0; cut < tiny.size(); cut += 1 + cut / 3) {
    INFO("cut at " << cut);
    CHECK(!import_error(tiny.substr(0, cut)).empty());
  }
}

TEST_CASE("gguf invalid: header, metadata and tensor-info errors") {
  const std::string good = spm_llama().bytes();
  CHECK(parse_error(good).empty());
  auto patched = [&](size_t at, const std::string& with) {
    return good.substr(0, at) + with + good.substr(at + with.size());
  };
  auto u32s = [](uint32_t v) { return raw_of(std::vector<uint32_t>{v}); };
  auto u64s = [](uint64_t v) { return raw_of(std::vector<uint64_t>{v}); };
  CHECK_HAS(parse_error("GGU"), "not a GGUF file");
  CHECK_HAS(parse_error(patched(0, "GGML")), "bad magic");
  CHECK_HAS(parse_error(patched(4, u32s(1))), "version 1 is not supported");
  CHECK_HAS(parse_error(patched(4, u32s(4))), "unsupported GGUF version 4");
  CHECK_HAS(parse_error(patched(4, u32s(0x03000000))), "big-endian");
  CHECK_HAS(parse_error(patched(8, u64s(uint64_t(1) << 60))), "tensor infos cannot fit");
  CHECK_HAS(parse_error(patched(16, u64s(~uint64_t(0)))), "metadata entries cannot fit");
  CHECK_HAS(parse_error(patched(24, u64s(uint64_t(1) << 62))), "claims");  // first key's length

  Builder b = spm_llama();
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType(13), "").bytes()), "unknown value type 13");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::Bool, std::string(1, '\2')).bytes()), "not 0 or 1");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::Array, u32s(9) + u64s(0)).bytes()), "nested arrays");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::Array, u32s(20) + u64s(0)).bytes()), "unknown array element");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::Array, u32s(4) + u64s(uint64_t(1) << 61)).bytes()),
            "cannot fit");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::Array, u32s(8) + u64s(~uint64_t(0) / 2)).bytes()), "cannot fit");
  CHECK_HAS(parse_error(Builder(b).set("x", ValueType::String, u64s(~uint64_t(0))).bytes()), "claims");
  Builder dup = b;
  dup.kv.push_back(dup.kv[0]);
  CHECK_HAS(parse_error(dup.bytes()), "appears twice");
  CHECK_HAS(parse_error(Builder(b).u32("general.alignment", 48).bytes()), "not a power of two");
  CHECK_HAS(parse_error(Builder(b).u32("general.alignment", 0).bytes()), "not a power of two");
  CHECK_HAS(parse_error(Builder(b).str("general.alignment", "32").bytes()), "must be a u32");
  CHECK_HAS(parse_error(Builder(b).tensor("t", {1, 1, 1, 1, 1}, 0, "xxxx").bytes()), "5 dimensions");
  CHECK_HAS(parse_error(Builder(b).tensor("t", {0}, 0, "").bytes()), "dimension 0 = 0");
  CHECK_HAS(parse_error(Builder(b).tensor("t", {1u << 30, 1u << 30, 1u << 30}, 0, "").bytes()), "too many elements");
  CHECK_HAS(parse_error(Builder(b).tensor("t", {32}, 77, std::string(64, 'x')).bytes()), "unknown ggml type 77");
  CHECK_HAS(parse_error(Builder(b).tensor("t", {48}, 12, std::string(144, 'x')).bytes()),
            "not a multiple of its block");
  Builder twice = b;
  twice.tensors.push_back(twice.tensors[0]);
  CHECK_HAS(parse_error(twice.bytes()), "appears twice");
  // Tensor data beyond the file end: more rows than written, or an offset past the data.
  Builder big = b;
  big.tensors.back().ne = {16, 800};
  CHECK_HAS(parse_error(big.bytes()), "outside the");
  Builder far = b;
  far.tensors[2].offset_delta = uint64_t(1) << 40;
  CHECK_HAS(parse_error(far.bytes()), "outside the");
  // An aligned offset just below 2^64, so offset + size wraps around.
  far.tensors[2].offset_delta =
      ~uint64_t(0) - 31 - (far.tensors[0].data.size() + 31) / 32 * 32 - (far.tensors[1].data.size() + 31) / 32 * 32;
  CHECK_HAS(parse_error(far.bytes()), "outside the");
  Builder unaligned = b;
  unaligned.tensors[1].offset_delta = 4;
  CHECK_HAS(parse_error(unaligned.bytes()), "not a multiple of the alignment 32");
}

TEST_CASE("gguf invalid: unsupported models, hyperparameters and tokenizers are clean errors") {
  const Builder b = spm_llama();
  CHECK(import_error(b.bytes()).empty());
  auto err = [&](auto edit) {
    Builder x = b;
    edit(x);
    return import_error(x.bytes());
  };
  CHECK_HAS(err([](Builder& x) { x.str("general.architecture", "falcon"); }), "unsupported architecture 'falcon'");
  CHECK_HAS(err([](Builder& x) { x.erase("general.architecture"); }), "general.architecture");
  CHECK_HAS(err([](Builder& x) { x.erase("llama.embedding_length"); }), "missing metadata 'llama.embedding_length'");
  CHECK_HAS(err([](Builder& x) { x.str("llama.block_count", "1"); }), "must be an integer");
  CHECK_HAS(err([](Builder& x) { x.u32("llama.attention.head_count_kv", 3); }), "not a multiple of head_count_kv");
  CHECK_HAS(err([](Builder& x) {
              x.array("llama.attention.head_count", ValueType::U32, std::vector<uint32_t>{2, 2});
            }),
            "one per layer");
  CHECK_HAS(err([](Builder& x) { x.str("llama.rope.scaling.type", "yarn"); }), "RoPE scaling 'yarn'");
  CHECK_HAS(err([](Builder& x) { x.str("llama.rope.scaling.type", "linear").f32("llama.rope.scaling.factor", 4); }),
            "RoPE scaling 'linear'");
  CHECK(
      err([](Builder& x) { x.str("llama.rope.scaling.type", "linear").f32("llama.rope.scaling.factor", 1); }).empty());
  CHECK_HAS(err([](Builder& x) { x.u32("llama.rope.dimension_count", 2); }), "partial rotary");
  CHECK_HAS(err([](Builder& x) { x.u32("llama.expert_count", 8); }), "mixture-of-experts");
  CHECK_HAS(err([](Builder& x) { x.f32("llama.attention.clamp_kqv", 8); }), "clamp_kqv");
  CHECK_HAS(err([](Builder& x) { x.erase("llama.attention.layer_norm_rms_epsilon"); }), "layer_norm_rms_epsilon");
  CHECK_HAS(err([](Builder& x) { x.u32("llama.vocab_size", 11); }), "vocabulary has 11 tokens");
  CHECK_HAS(err([](Builder& x) { x.tensors.pop_back(); }), "missing tensor 'blk.0.ffn_down.weight'");
  CHECK_HAS(err([](Builder& x) { x.f32_tensor("blk.0.attn_k.weight", {8, 8}); }), "the metadata implies [4, 8]");
  CHECK_HAS(err([](Builder& x) { x.f32_tensor("blk.0.attn_q.bias", {8}); }), "biases are not supported");
  CHECK_HAS(err([](Builder& x) { x.f32_tensor("rope_freqs.weight", {2}); }), "rope_freqs");
  CHECK_HAS(err([](Builder& x) { x.f32_tensor("blk.3.extra.weight", {2}); }), "unexpected tensor 'blk.3.extra.weight'");
  // A ggml type the reader knows but the engine cannot dequantise (Q5_1, in an FFN of width 32).
  CHECK_HAS(err([](Builder& x) {
              x.u32("llama.feed_forward_length", 32).f32_tensor("blk.0.ffn_gate.weight", {8, 32});
              x.f32_tensor("blk.0.ffn_up.weight", {8, 32})
                  .tensor("blk.0.ffn_down.weight", {32, 8}, 7, std::string(8 * 24, '\0'));
            }),
            "has ggml type Q5_1, which this engine cannot dequantise");
  // Tokenizers.
  CHECK_HAS(err([](Builder& x) { x.str("tokenizer.ggml.model", "bert"); }), "tokenizer model 'bert'");
  CHECK_HAS(err([](Builder& x) { x.erase("tokenizer.ggml.tokens"); }), "tokenizer.ggml.tokens");
  CHECK_HAS(err([](Builder& x) { x.array("tokenizer.ggml.scores", ValueType::F32, std::vector<float>{0}); }),
            "tokenizer.ggml.scores");
  CHECK_HAS(err([](Builder& x) { x.array("tokenizer.ggml.token_type", ValueType::I32, std::vector<int32_t>(10, 9)); }),
            "unknown type 9");
  CHECK_HAS(err([](Builder& x) { x.u32("tokenizer.ggml.eos_token_id", 10); }), "outside the 10-token vocabulary");
  CHECK_HAS(err([](Builder& x) { x.boolean("tokenizer.ggml.add_eos_token", true); }), "add_eos_token");
  auto bpe = [](Builder& x, const std::string& pre) {
    x.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", pre);
    x.strs("tokenizer.ggml.tokens", {"a", "b", "ab", "c", "Ġ", "Ġa", "<|endoftext|>", "d", "e", "f"});
    x.array("tokenizer.ggml.token_type", ValueType::I32, std::vector<int32_t>{1, 1, 1, 1, 1, 1, 3, 1, 1, 1});
    x.strs("tokenizer.ggml.merges", {"a b", "Ġ a"});
  };
  CHECK(err([&](Builder& x) { bpe(x, "smollm"); }).empty());
  CHECK_HAS(err([&](Builder& x) { bpe(x, "tekken"); }), "unknown pre-tokenizer 'tekken'");
  CHECK_HAS(err([&](Builder& x) {
              bpe(x, "gpt-2");
              x.strs("tokenizer.ggml.merges", {"a c"});
            }),
            "uses 'ac'");
  CHECK_HAS(err([&](Builder& x) {
              bpe(x, "gpt-2");
              x.strs("tokenizer.ggml.merges", {"ab"});
            }),
            "not two tokens");
  CHECK_HAS(err([&](Builder& x) {
              bpe(x, "gpt-2");
              x.erase("tokenizer.ggml.merges");
            }),
            "tokenizer.ggml.merges");
}

TEST_CASE("gguf corrupt: random byte mutations are clean errors or valid models, never crashes") {
  const std::string good = spm_llama().bytes();
  std::mt19937 rng(12345);
  int errors = 0;
  for (int round = 0; round < 400; round++) {
    std::string bad = good;
    const int n = 1 + int(rng() % 4);
    for (int k = 0; k < n; k++) {
      // Mostly the header (where the structure is), sometimes anywhere.
      const size_t span = rng() % 4 == 0 ? bad.size() : std::min<size_t>(bad.size(), 1200);
      bad[rng() % span] = char(rng() % 4 == 0 ? 0xff : rng());
    }
    if (round % 4 == 0) {
      errors += !import_error(bad).empty();
    } else {
      errors += !parse_error(bad).empty();
    }
  }
  CHECK(errors > 0);
}

