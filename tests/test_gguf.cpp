// GGUF: the container reader, the dequantisers against gguf-py's reference vectors (bit for bit),
// import of the committed tiny random Llama and of GGUFs built here, clean errors on corrupt or
// unsupported files, and the real SmolLM2-135M-Instruct when tools/fetch-models.sh can get it.
// Reference data: tests/data/gguf (tools/make_gguf_testdata.py says how it was made).
#include <cstring>
#include <fstream>
#include <random>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/generate.h"
#include "models/gguf.h"
#include "models/gguf_dequant.h"
#include "models/import.h"
#include "tests/test_util.h"

using zip::gguf::ValueType;

namespace {

const std::string kData = "tests/data/gguf/";


void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void putstr(std::string& s, std::string_view v) {
  put64(s, v.size());
  s += v;
}
template <typename T>
std::string raw_of(const std::vector<T>& v) {
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
Builder spm_llama() {
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

std::string write_temp(const std::string& bytes, const std::string& name = "model.gguf") {
  static const std::string dir = ztest::temp_dir();
  const std::string path = dir + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
  return path;
}

// The zip::Error message of importing `bytes` ("" if it imports); any other exception fails.
std::string import_error(const std::string& bytes, zip::ImportOptions opt = {}) {
  const std::string path = write_temp(bytes);
  try {
    zip::import_model(path, opt);
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "";
}

// Parses an exactly-sized heap copy (so ASan sees any read past the end).
std::string parse_error(const std::string& bytes) {
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  try {
    zip::gguf::parse(buf.data(), buf.size(), nullptr, "mem.gguf");
  } catch (const zip::Error& e) {
    return e.what();
  }
  return "";
}

std::vector<float> floats_of(const std::string& bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// Index of the first element whose bits differ, or -1.
int64_t first_bit_difference(const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (std::memcmp(a + i, b + i, 4) != 0) return int64_t(i);
  return -1;
}

}  // namespace

TEST_CASE("gguf dequant: every type matches gguf-py's reference vectors bit for bit") {
  const auto index = ztest::load_json(kData + "index.json");
  int checked = 0;
  for (const auto& item : index["dequant"].items()) {
    const std::string name = item.key();  // not a structured binding: INFO captures it
    const auto& e = item.value();
    INFO("type " << name);
    const uint32_t type = e["ggml_type"];
    const uint64_t n = e["n"];
    const std::string blocks = zip::read_file(kData + "dequant/" + name + ".blocks");
    const std::vector<float> want = floats_of(zip::read_file(kData + "dequant/" + name + ".f32"));
    REQUIRE(want.size() == n);
    int be = 0, bb = 0;
    REQUIRE(zip::gguf::ggml_type_traits(type, &be, &bb));
    REQUIRE(blocks.size() == n / uint64_t(be) * uint64_t(bb));
    REQUIRE(zip::gguf::can_dequantize(type));
    std::vector<float> got(n);
    zip::gguf::dequantize(type, reinterpret_cast<const uint8_t*>(blocks.data()), got.data(), n);
    const int64_t diff = first_bit_difference(got.data(), want.data(), n);
    INFO("first difference at " << diff << ": " << (diff >= 0 ? got[size_t(diff)] : 0.f) << " vs "
                                << (diff >= 0 ? want[size_t(diff)] : 0.f));
    CHECK(diff == -1);
    checked++;
  }
  CHECK(checked == 9);
  CHECK(!zip::gguf::can_dequantize(6));  // Q5_0: known to the reader, not dequantised
  CHECK_THROWS_AS(zip::gguf::dequantize(6, nullptr, nullptr, 32), zip::Error);
}

TEST_CASE("gguf reader: metadata of every value type, arrays, tensor infos, alignment") {
  Builder b;
  b.alignment = 64;
  b.u32("general.alignment", 64);
  b.set("u8", ValueType::U8, std::string(1, char(200))).set("i8", ValueType::I8, std::string(1, char(-5)));
  b.set("u16", ValueType::U16, raw_of(std::vector<uint16_t>{60000}))
      .set("i16", ValueType::I16, raw_of(std::vector<int16_t>{-300}));
  b.u32("u32", 4000000000u).set("i32", ValueType::I32, raw_of(std::vector<int32_t>{-7}));
  b.set("u64", ValueType::U64, raw_of(std::vector<uint64_t>{uint64_t(1) << 63}));
  b.set("i64", ValueType::I64, raw_of(std::vector<int64_t>{-(int64_t(1) << 40)}));
  b.f32("f32", 1.5f).set("f64", ValueType::F64, raw_of(std::vector<double>{-2.25})).boolean("bool", true);
  b.str("str", "héllo").strs("strs", {"a", "", "ccc"});
  b.array("a_u8", ValueType::U8, std::vector<uint8_t>{1, 255})
      .array("a_i16", ValueType::I16, std::vector<int16_t>{-1, 2});
  b.array("a_u64", ValueType::U64, std::vector<uint64_t>{7, 8})
      .array("a_f64", ValueType::F64, std::vector<double>{0.5});
  b.array("a_bool", ValueType::Bool, std::vector<uint8_t>{0, 1}).array("a_i32", ValueType::I32, std::vector<int32_t>{});
  b.f32_tensor("w", {32, 3}).tensor("q", {64}, 8, std::string(2 * 34, '\0'));
  const std::string bytes = b.bytes();
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  const zip::gguf::File f = zip::gguf::parse(buf.data(), buf.size(), nullptr, "mem");
  CHECK(f.version == 3);
  CHECK(f.alignment == 64);
  CHECK(f.find("u8")->u == 200);
  CHECK(f.find("i8")->i == -5);
  CHECK(f.find("u16")->u == 60000);
  CHECK(f.find("i16")->i == -300);
  CHECK(f.find("u32")->u == 4000000000u);
  CHECK(f.find("i32")->i == -7);
  CHECK(f.find("u64")->u == uint64_t(1) << 63);
  CHECK(f.find("i64")->i == -(int64_t(1) << 40));
  CHECK(f.find("f32")->f == 1.5);
  CHECK(f.find("f64")->f == -2.25);
  CHECK(f.find("bool")->b);
  CHECK(f.find("str")->s == "héllo");
  const auto* s = f.find("strs");
  REQUIRE(s->type == ValueType::Array);
  CHECK(s->strs == std::vector<std::string_view>{"a", "", "ccc"});
  CHECK(f.find("a_u8")->int_at(1) == 255);
  CHECK(f.find("a_i16")->int_at(0) == -1);
  CHECK(f.find("a_u64")->int_at(1) == 8);
  CHECK(f.find("a_f64")->float_at(0) == 0.5);
  CHECK(f.find("a_bool")->count == 2);
  CHECK(f.find("a_i32")->count == 0);
  CHECK_THROWS_AS(f.find("a_u8")->int_at(2), zip::Error);
  CHECK_THROWS_AS(f.find("a_f64")->int_at(0), zip::Error);
  REQUIRE(f.tensors.size() == 2);
  const auto& w = f.tensors[0];
  CHECK(w.name == "w");
  CHECK(w.shape() == std::vector<int64_t>{3, 32});  // ne [32, 3] is 3 rows of 32
  CHECK(w.n_bytes == 3 * 32 * 4);
  CHECK((w.data - buf.data()) % 64 == 0);
  CHECK(f.tensors[1].n_bytes == 68);
  CHECK(f.tensors[1].offset == 3 * 32 * 4);  // 384, already a multiple of 64
  CHECK(zip::gguf::ggml_type_name(12) == "Q4_K");
  CHECK(zip::gguf::ggml_type_name(77) == "type 77");
}

TEST_CASE("gguf import: tiny-llama.gguf (config, per-layer KV heads, dequantised tensors, BPE tokenizer)") {
  const auto index = ztest::load_json(kData + "index.json");
  const auto& tiny = index["tiny"];
  const auto& want = tiny["config"];
  const zip::Model m = zip::import_model(kData + tiny["file"].get<std::string>(), {});
  const zip::ModelConfig& c = m.config;
  CHECK(c.arch == zip::Arch::Llama);
  CHECK(c.dim == want["dim"]);
  CHECK(c.head_dim == want["head_dim"]);
  CHECK(c.vocab_size == want["vocab_size"]);
  CHECK(c.max_seq_len == want["max_seq_len"]);
  CHECK(c.rope_theta == want["rope_theta"].get<float>());
  CHECK(c.norm_eps == want["norm_eps"].get<float>());
  CHECK(c.tied_embeddings == want["tied"].get<bool>());
  REQUIRE(c.n_layers() == 2);
  CHECK(c.layers[0] == zip::uniform_layer(2, 1, 256));
  CHECK(c.layers[1] == zip::uniform_layer(2, 2, 256));
  CHECK(m.provenance["importer"] == "gguf");
  CHECK(m.provenance["source_format"] == "gguf v3");
  CHECK(m.provenance["source_name"] == "zip tiny random llama");

  // Every tensor: its first and last rows equal gguf-py's dequantisation bit for bit.
  const std::vector<float> rows = floats_of(zip::read_file(kData + tiny["rows_file"].get<std::string>()));
  for (const auto& e : tiny["tensors"]) {
    const std::string name = e["name"];
    INFO("tensor " << name);
    const zip::Tensor& t = m.get(name);
    REQUIRE(t.dtype == zip::DType::F32);
    CHECK(t.shape == e["shape"].get<std::vector<int64_t>>());
    const size_t off = e["offset"];
    const auto picked = e["rows"].get<std::vector<int64_t>>();
    if (picked.empty()) {
      CHECK(first_bit_difference(t.ptr<float>(), rows.data() + off, size_t(t.numel())) == -1);
      continue;
    }
    const size_t cols = size_t(t.dim(1));
    for (size_t k = 0; k < picked.size(); k++)
      CHECK(first_bit_difference(t.ptr<float>() + size_t(picked[k]) * cols, rows.data() + off + k * cols, cols) == -1);
  }

  // The tokenizer: byte-level pieces decoded, merges resolved, ids as Hugging Face tokenizers gives.
  REQUIRE(m.tokenizer);
  const zip::TokenizerData& td = *m.tokenizer;
  CHECK(td.type == "byte-bpe");
  CHECK(td.pre == "gpt2");
  CHECK(td.bos == 1);
  CHECK(td.eos == 2);
  CHECK(td.add_bos);
  CHECK(!td.add_dummy_prefix);
  CHECK(td.merges.size() == tiny["tokenizer"]["n_merges"].get<size_t>());
  CHECK(td.pieces[3 + ' '] == " ");
  CHECK(td.pieces[3 + '\n'] == "\n");
  zip::Tokenizer tok(m.tokenizer);
  for (const auto& item : tiny["tokenizer"]["ids_without_bos"].items()) {
    const std::string text = item.key();
    const auto& ids = item.value();
    INFO("text: " << text);
    CHECK(tok.encode(text, false, true) == ids.get<std::vector<int>>());
    std::vector<int> with_bos = {1};
    for (int id : ids.get<std::vector<int>>()) with_bos.push_back(id);
    CHECK(tok.encode(text, true, true) == with_bos);
  }
  CHECK(tok.decode(tok.encode("Hello world", false)) == "Hello world");
}

TEST_CASE("gguf import: SentencePiece vocabulary, tied embeddings, removed-module arrays, --dtype f16") {
  zip::Model m = zip::import_model(write_temp(spm_llama().bytes()), {});
  CHECK(m.config.tied_embeddings);
  CHECK(m.config.head_dim == 4);
  CHECK(m.config.norm_eps == 1e-5f);
  CHECK(m.config.layers[0] == zip::uniform_layer(2, 1, 16));
  REQUIRE(m.tokenizer);
  const zip::TokenizerData& t = *m.tokenizer;
  CHECK(t.type == "sentencepiece-bpe");
  CHECK(t.pieces[4] == " ");
  CHECK(t.pieces[9] == " ab");
  CHECK(t.pieces[3] == "<0x0A>");
  CHECK(t.types[3] == zip::kByte);
  CHECK(t.scores[9] == -6.0f);
  CHECK(t.byte_fallback);
  CHECK(t.add_bos);
  CHECK(t.add_dummy_prefix);
  CHECK(t.unk == 0);
  zip::Tokenizer tok(m.tokenizer);
  CHECK(tok.encode("ab") == std::vector<int>{1, 9});
  CHECK(tok.encode("a") == std::vector<int>{1, 7});
  CHECK(tok.encode("\n") == std::vector<int>{1, 4, 3});
  // ggml dims are fastest first: ffn_down ne [16, 8] is the engine's [8, 16].
  CHECK(m.get("blk.0.ffn_down").shape == std::vector<int64_t>{8, 16});
  CHECK(m.get("blk.0.attn_k").shape == std::vector<int64_t>{4, 8});

  zip::ImportOptions f16;
  f16.dtype = zip::DType::F16;
  f16.dtype_given = true;
  zip::Model h = zip::import_model(write_temp(spm_llama().bytes()), f16);
  CHECK(h.get("blk.0.attn_q").dtype == zip::DType::F16);
  CHECK(h.get("blk.0.attn_norm").dtype == zip::DType::F32);
  CHECK(h.provenance["dtype"] == "f16");

  // Per-layer arrays: layer 1 has no attention (0 heads) and a narrower FFN.
  Builder b = spm_llama();
  b.u32("llama.block_count", 2);
  b.array("llama.attention.head_count", ValueType::U32, std::vector<uint32_t>{2, 0});
  b.array("llama.attention.head_count_kv", ValueType::I32, std::vector<int32_t>{1, 0});
  b.array("llama.feed_forward_length", ValueType::U32, std::vector<uint32_t>{16, 8});
  b.u32("llama.attention.key_length", 4);
  b.f32_tensor("blk.1.ffn_norm.weight", {8}).f32_tensor("blk.1.ffn_gate.weight", {8, 8});
  b.f32_tensor("blk.1.ffn_up.weight", {8, 8}).f32_tensor("blk.1.ffn_down.weight", {8, 8});
  zip::Model p = zip::import_model(write_temp(b.bytes()), {});
  REQUIRE(p.config.n_layers() == 2);
  CHECK(!p.config.layers[1].has_attention());
  CHECK(p.config.layers[1].ffn_dim == 8);
}

TEST_CASE("gguf import: zip convert and run on tiny-llama.gguf") {
  const std::string out = ztest::temp_dir() + "/tiny.zlm";
  ztest::CmdResult c = ztest::run_zip("convert " + kData + "tiny-llama.gguf -o " + out + " --dtype bf16");
  INFO(c.err);
  REQUIRE(c.status == 0);
  ztest::CmdResult i = ztest::run_zip("inspect " + out);
  CHECK(i.status == 0);
  CHECK(i.out.find("gguf") != std::string::npos);
  ztest::CmdResult r = ztest::run_zip("run " + out + " -p Hello -n 4 --temp 0");
  CHECK(r.status == 0);
  CHECK(r.out.starts_with("Hello"));
}

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
  // A ggml type the reader knows but the engine cannot dequantise (Q5_0, in an FFN of width 32).
  CHECK_HAS(err([](Builder& x) {
              x.u32("llama.feed_forward_length", 32).f32_tensor("blk.0.ffn_gate.weight", {8, 32});
              x.f32_tensor("blk.0.ffn_up.weight", {8, 32})
                  .tensor("blk.0.ffn_down.weight", {32, 8}, 6, std::string(8 * 22, '\0'));
            }),
            "has ggml type Q5_0, which this engine cannot dequantise");
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

TEST_CASE("gguf import: the real SmolLM2-135M-Instruct (tools/fetch-models.sh)") {
  ztest::CmdResult r = ztest::run_cmd("bash tools/fetch-models.sh smollm2-135m-instruct");
  if (r.status == 3) {
    MESSAGE("skipped: registry unreachable (" << r.err << ")");
    return;
  }
  INFO("fetch-models.sh: " << r.err);
  REQUIRE(r.status == 0);
  const std::string path = r.out.substr(0, r.out.find('\n')) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  const zip::Model m = zip::import_model(path, {});
  const zip::ModelConfig& c = m.config;
  CHECK(c.dim == 576);
  CHECK(c.head_dim == 64);
  CHECK(c.vocab_size == 49152);
  CHECK(c.max_seq_len == 8192);
  CHECK(c.tied_embeddings);
  CHECK(c.rope_theta == 100000.0f);
  REQUIRE(c.n_layers() == 30);
  for (const auto& l : c.layers) CHECK(l == zip::uniform_layer(9, 3, 1536));
  CHECK(c.n_params() == 134515008);
  CHECK(m.provenance["source_dtype"] == "F32+Q4_1+Q8_0");

  // Expected ids: Hugging Face `tokenizers` 0.23 BPE built from this file's tokens and merges with
  // SmolLM2's pre-tokenizer (Digits(individual_digits) + ByteLevel(add_prefix_space=False)) and
  // its 17 special tokens as added tokens; computed once, see the report of the GGUF issue.
  REQUIRE(m.tokenizer);
  CHECK(m.tokenizer->pre == "smollm");
  CHECK(!m.tokenizer->add_bos);
  zip::Tokenizer tok(m.tokenizer);
  CHECK(tok.encode("Hello world!") == std::vector<int>{19556, 905, 17});
  CHECK(tok.encode("The capital of France is") == std::vector<int>{504, 3575, 282, 4649, 314});
  CHECK(tok.encode("In 2024, 3.14159 people wrote  code\n\ttabs.") ==
        std::vector<int>{788, 216, 34, 32,  34,   36,  28,   216, 35,  30,  33,   36,
                         33,  37,  41, 701, 4150, 216, 2909, 198, 197, 100, 7366, 30});
  CHECK(tok.encode("naïve café — 日本語 😀") ==
        std::vector<int>{3546, 46494, 37366, 1841, 17097, 241, 115, 40993, 179, 120, 248, 40303, 218});
  CHECK(tok.encode("don't I'll WE'RE") == std::vector<int>{12420, 982, 339, 3060, 26587, 23, 3256});

  // Greedy generation is English that knows the answer (q/k rows need no RoPE permutation).
  auto be = zip::make_cpu_backend(2);
  zip::InferenceContext ctx(m, *be, 256);
  zip::GenerateOptions opt;
  opt.max_new_tokens = 16;
  opt.sampling.temperature = 0;
  std::string text;
  zip::generate(ctx, &tok, tok.encode("The capital of France is"), opt, [&](int, const std::string& piece) {
    text += piece;
    return true;
  });
  MESSAGE("SmolLM2 greedy: The capital of France is" << text);
  CHECK(text.starts_with(" Paris"));
}
