// GGUF: the container reader, the dequantisers against gguf-py's reference vectors (bit for bit),
// import of the committed tiny random Llama and of GGUFs built here, and the real
// SmolLM2-135M-Instruct when tools/fetch-models.sh can get it. Clean errors on corrupt or
// unsupported files: test_gguf_invalid.cpp. Reference data: tests/data/gguf
// (tools/make_gguf_testdata.py says how it was made).
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
#include "tests/gguf_builder.h"
#include "tests/test_util.h"

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
  CHECK(zip::gguf::can_dequantize(6));    // Q5_0 (its vectors: tests/data/gguf/quant, test_quantize.cpp)
  CHECK(!zip::gguf::can_dequantize(7));   // Q5_1: known to the reader, not dequantised
  CHECK_THROWS_AS(zip::gguf::dequantize(7, nullptr, nullptr, 32), zip::Error);
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
  zip::ImportOptions as_f32;  // dequantise every block type (by default Q8_0/Q4_0/Q4_K/Q6_K are kept)
  as_f32.dtype_given = true;
  const zip::Model m = zip::import_model(kData + tiny["file"].get<std::string>(), as_f32);
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

TEST_CASE("gguf import: the real SmolLM2-135M-Instruct (tools/fetch-models.sh)") {
  ztest::CmdResult r = ztest::run_cmd("bash tools/fetch-models.sh smollm2-135m-instruct");
  if (r.status == 3) {
    SKIP_TEST("registry unreachable (" << r.err << ")");
  }
  INFO("fetch-models.sh: " << r.err);
  REQUIRE(r.status == 0);
  const std::string path = r.out.substr(0, r.out.find('\n')) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  // Q8_0 tensors (the token embedding) are kept by default; the CPU backend runs float weights.
  CHECK(zip::import_model(path, {}).get("tok_embd").dtype == zip::DType::Q8_0);
  zip::ImportOptions as_f32;
  as_f32.dtype_given = true;
  const zip::Model m = zip::import_model(path, as_f32);
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
