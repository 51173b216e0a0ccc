// SentencePiece-BPE tokenizer: golden ids (llama2.c stories260K, llama.cpp's llama-spm test
// vectors), the two loaders agreeing, .zlm embedding, and malformed inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string llama32k_dir() { return ztest::shared("models/llama2-tokenizer-32k"); }

Tokenizer make_tokenizer(TokenizerData d) { return Tokenizer(std::make_shared<const TokenizerData>(std::move(d))); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

// llama.cpp's test-tokenizer-0 format: every text is followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> split_vocab_tests(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    texts.push_back(inp.substr(pos, hit - pos));
  REQUIRE(pos == inp.size());  // nothing after the last separator
  return texts;
}

std::vector<std::vector<int>> read_id_lines(const std::string& out) {
  std::vector<std::vector<int>> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<int> ids;
    for (int id; ls >> id;) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

// Protobuf wire-format writer for hand-made tokenizer.model files.
struct Proto {
  std::string b;
  Proto& varint(uint64_t v) {
    do {
      uint8_t byte = v & 0x7f;
      v >>= 7;
      b += char(byte | (v ? 0x80 : 0));
    } while (v);
    return *this;
  }
  Proto& tag(int field, int wire) { return varint(uint64_t(field) << 3 | uint64_t(wire)); }
  Proto& u(int field, uint64_t v) { return tag(field, 0).varint(v); }
  Proto& i32(int field, int32_t v) { return u(field, uint64_t(int64_t(v))); }  // sign-extended
  Proto& bytes(int field, const std::string& s) {
    tag(field, 2).varint(s.size());
    b += s;
    return *this;
  }
  Proto& f32(int field, float f) {
    tag(field, 5);
    char c[4];
    std::memcpy(c, &f, 4);
    b.append(c, 4);
    return *this;
  }
  Proto& f64(int field, double d) {
    tag(field, 1);
    char c[8];
    std::memcpy(c, &d, 8);
    b.append(c, 8);
    return *this;
  }
};

std::string sp_piece(const std::string& piece, float score, int type, bool with_unknown_fields = false) {
  Proto p;
  p.bytes(1, piece).f32(2, score);
  if (type != kNormal) p.u(3, uint64_t(type));
  if (with_unknown_fields) p.u(9, 12345).f64(10, 2.5).bytes(11, "junk").f32(12, 1.0f);
  return p.b;
}

// A tiny BPE ModelProto: <unk>, <s>, </s>, the 256 byte pieces, then "▁", "a", "b", "▁a", "ab", "▁ab".
std::string tiny_sp_model(int model_type = 2, bool remove_extra_whitespaces = false, bool unknown_fields = false) {
  Proto m;
  m.bytes(1, sp_piece("<unk>", 0, kUnknown, unknown_fields));
  m.bytes(1, sp_piece("<s>", 0, kControl));
  m.bytes(1, sp_piece("</s>", 0, kControl));
  for (int i = 0; i < 256; i++) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", i);
    m.bytes(1, sp_piece(name, 0, kByte));
  }
  const std::string sp = "\xE2\x96\x81";  // ▁
  m.bytes(1, sp_piece(sp, -1, kNormal, unknown_fields));
  m.bytes(1, sp_piece("a", -2, kNormal));
  m.bytes(1, sp_piece("b", -3, kNormal));
  m.bytes(1, sp_piece(sp + "a", -4, kNormal));
  m.bytes(1, sp_piece("ab", -5, kNormal));
  m.bytes(1, sp_piece(sp + "ab", -6, kNormal));
  Proto trainer;
  if (unknown_fields) trainer.bytes(1, "input.txt").f32(10, 0.9995f).f64(99, 1.0).u(4, 300);
  trainer.u(3, uint64_t(model_type)).u(35, 1).i32(40, 0).i32(41, 1).i32(42, 2).i32(43, -1);
  m.bytes(2, trainer.b);
  Proto norm;
  norm.bytes(1, "identity").u(3, 1).u(4, remove_extra_whitespaces ? 1 : 0).u(5, 1);
  if (unknown_fields) norm.bytes(6, "").u(77, 1);
  m.bytes(3, norm.b);
  if (unknown_fields) m.bytes(5, Proto().bytes(1, "identity").b).u(100, 7).f64(101, 0.5);
  return m.b;
}

// A small hand-made vocabulary for the merge algorithm: <unk>, <s>, </s>, bytes, then text pieces.
TokenizerData tiny_vocab(bool byte_fallback = true) {
  TokenizerData d;
  auto add = [&](std::string piece, float score, int type) {
    d.pieces.push_back(std::move(piece));
    d.scores.push_back(score);
    d.types.push_back(type);
    return int(d.pieces.size()) - 1;
  };
  add("<unk>", 0, kUnknown);
  add("<s>", 0, kControl);
  add("</s>", 0, kControl);
  for (int i = 0; i < 256 && byte_fallback; i++) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", i);
    add(name, 0, kByte);
  }
  d.unk = 0;
  d.bos = 1;
  d.eos = 2;
  d.byte_fallback = byte_fallback;
  return d;
}

int piece_id(const TokenizerData& d, const std::string& piece) {
  for (size_t i = 0; i < d.pieces.size(); i++)
    if (d.pieces[i] == piece && (d.types[i] == kNormal || d.types[i] == kUserDefined)) return int(i);
  FAIL("no piece " << piece);
  return -1;
}

}  // namespace

TEST_CASE("Tokenizer: stories260K golden ids (llama2.c tok512.bin)") {
  auto golden = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  for (const std::string& path :
       {ztest::shared("models/stories260K/tok512.bin"), ztest::shared("models/stories260K")}) {
    CAPTURE(path);
    auto data = std::make_shared<const TokenizerData>(load_tokenizer(path));
    CHECK(data->pieces.size() == 512);
    Tokenizer tok(data);
    REQUIRE(!golden["tokenize"].empty());
    for (const auto& c : golden["tokenize"]) {
      std::string text = c["text"];
      std::vector<int> ids = c["ids"];
      CAPTURE(text);
      CHECK(tok.encode(text) == ids);
      CHECK(tok.decode(ids) == text);
    }
  }
}

TEST_CASE("Tokenizer: stories260K perplexity token counts over the whole TinyStories subset") {
  // Long texts take the segmented merge path; the golden counts come from the reference tokenizer.
  auto golden = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  std::string text = read_file(ztest::shared(golden["perplexity_stream"]["file"].get<std::string>()));
  Tokenizer tok(std::make_shared<const TokenizerData>(load_tokenizer(ztest::shared("models/stories260K/tok512.bin"))));
  auto ids = tok.encode(text);
  CHECK(int64_t(ids.size()) - 1 == golden["perplexity_stream"]["tokens"].get<int64_t>());
  CHECK(tok.decode(ids) == text);
  // Lines protocol: one document per non-empty stripped line, BOS first, at most 512 tokens.
  int64_t scored = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const char* ws = " \t\r\n\v\f";
    size_t a = line.find_first_not_of(ws);
    if (a == std::string::npos) continue;
    size_t b = line.find_last_not_of(ws);
    scored += int64_t(std::min<size_t>(tok.encode(line.substr(a, b - a + 1)).size(), 512)) - 1;
  }
  CHECK(scored == golden["perplexity"]["tokens"].get<int64_t>());

  Tokenizer tok32(std::make_shared<const TokenizerData>(load_tokenizer(llama32k_dir())));
  CHECK(tok32.decode(tok32.encode(text)) == text);
}

TEST_CASE("Tokenizer: llama-spm-32k golden ids from tokenizer.model and tokenizer.bin") {
  auto texts = split_vocab_tests(read_file(ztest::shared("golden/tokenizers/llama-spm-32k.inp")));
  auto expected = read_id_lines(read_file(ztest::shared("golden/tokenizers/llama-spm-32k.out")));
  REQUIRE(texts.size() == expected.size());
  REQUIRE(texts.size() == 46);
  for (const char* file : {"tokenizer.model", "tokenizer.bin"}) {
    CAPTURE(file);
    Tokenizer tok(std::make_shared<const TokenizerData>(load_tokenizer(llama32k_dir() + "/" + std::string(file))));
    CHECK(tok.vocab_size() == 32000);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); i++) {
      CAPTURE(i);
      CAPTURE(texts[i]);
      auto ids = tok.encode(texts[i], false);
      CHECK(ids == expected[i]);
      mismatches += ids != expected[i];
      // Identity normalisation and byte fallback lose nothing.
      CHECK(tok.decode(ids) == texts[i]);
      // add_special only prepends BOS.
      auto with_bos = tok.encode(texts[i], true);
      REQUIRE(!with_bos.empty());
      CHECK(with_bos[0] == 1);
      CHECK(std::vector<int>(with_bos.begin() + 1, with_bos.end()) == ids);
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("Tokenizer: tokenizer.model and llama2.c tokenizer.bin give the same vocabulary") {
  TokenizerData model = load_sentencepiece_model(llama32k_dir() + "/tokenizer.model");
  TokenizerData bin = load_llama2c_tokenizer(llama32k_dir() + "/tokenizer.bin");
  REQUIRE(model.pieces.size() == 32000);
  CHECK(model.pieces == bin.pieces);
  CHECK(model.types == bin.types);
  CHECK(model.scores == bin.scores);  // llama2.c exported the same scores
  CHECK(model == bin);
  CHECK(model.pieces[1] == "<s>");
  CHECK(model.types[0] == kUnknown);
  CHECK(model.types[3] == kByte);
  CHECK(model.pieces[29871] == " ");  // ▁ became a space
  CHECK(model.unk == 0);
  CHECK(model.bos == 1);
  CHECK(model.eos == 2);
  CHECK(model.pad == -1);
  CHECK(model.add_dummy_prefix);
  CHECK(model.byte_fallback);
}

TEST_CASE("Tokenizer: BPE merges by score, leftmost on ties, never into special pieces") {
  TokenizerData d = tiny_vocab();
  d.add_dummy_prefix = false;
  const int a = int(d.pieces.size());
  for (const char* p : {"a", "b", "c", "x", "y"}) {
    d.pieces.push_back(p);
    d.scores.push_back(-10);
    d.types.push_back(kNormal);
  }
  auto add = [&](const std::string& p, float score, int type = kNormal) {
    d.pieces.push_back(p);
    d.scores.push_back(score);
    d.types.push_back(type);
    return int(d.pieces.size()) - 1;
  };
  SUBCASE("equal scores: leftmost pair first") {
    int ab = add("ab", -1), bc = add("bc", -1);
    (void)bc;
    CHECK(make_tokenizer(d).encode("abc", false) == std::vector<int>{ab, a + 2});
  }
  SUBCASE("higher score wins") {
    add("ab", -2);
    int bc = add("bc", -1);
    CHECK(make_tokenizer(d).encode("abc", false) == std::vector<int>{a, bc});
  }
  SUBCASE("merges continue through longer pieces") {
    add("ab", -1);
    int abc = add("abc", -3);
    int abcabc = add("abcabc", -5);
    auto tok = make_tokenizer(d);
    CHECK(tok.encode("abcabc", false) == std::vector<int>{abcabc});
    CHECK(tok.encode("abcab", false) == std::vector<int>{abc, piece_id(d, "ab")});
  }
  SUBCASE("control, unused and byte pieces are never produced by merging") {
    add("xy", 0, kControl);
    add("yx", 0, kUnused);
    auto tok = make_tokenizer(d);
    CHECK(tok.encode("xyx", false) == std::vector<int>{a + 3, a + 4, a + 3});
    // The spelling of a byte piece is not that byte: its characters fall back to bytes.
    CHECK(tok.encode("<0x41>", false) == std::vector<int>{3 + '<', 3 + '0', a + 3, 3 + '4', 3 + '1', 3 + '>'});
  }
  SUBCASE("dummy prefix and BOS") {
    d.add_dummy_prefix = true;
    int sp = add(" ", -1);
    int spa = add(" a", 0);
    auto tok = make_tokenizer(d);
    CHECK(tok.encode("ab") == std::vector<int>{1, spa, a + 1});
    CHECK(tok.encode("ab", false) == std::vector<int>{spa, a + 1});
    CHECK(tok.encode("") == std::vector<int>{1});
    CHECK(tok.encode("", false).empty());
    CHECK(tok.encode(" b", false) == std::vector<int>{sp, sp, a + 1});
    CHECK(tok.decode({1, spa, a + 1}) == "ab");
    CHECK(tok.decode({spa, a + 1}) == "ab");
    CHECK(tok.decode({sp, sp, a + 1}) == " b");
    CHECK(tok.decode_piece(1, spa) == "a");
    CHECK(tok.decode_piece(a, spa) == " a");
    CHECK(tok.decode_piece(-1, 1).empty());
    CHECK(tok.decode({1, 2}).empty());
  }
}

TEST_CASE("Tokenizer: byte fallback, invalid UTF-8 and <unk> runs") {
  TokenizerData d = tiny_vocab();
  d.add_dummy_prefix = false;
  d.pieces.push_back("a");
  d.scores.push_back(0);
  d.types.push_back(kNormal);
  const int a = int(d.pieces.size()) - 1;
  {
    auto tok = make_tokenizer(d);
    // é is not a piece: its two bytes.
    CHECK(tok.encode("a\xC3\xA9", false) == std::vector<int>{a, 3 + 0xC3, 3 + 0xA9});
    // Invalid UTF-8 goes byte by byte, and decodes back to the same bytes.
    std::string bad =
        "\xFF"
        "a\xE2\x96"
        "a\xC3";
    auto ids = tok.encode(bad, false);
    CHECK(ids == std::vector<int>{3 + 0xFF, a, 3 + 0xE2, 3 + 0x96, a, 3 + 0xC3});
    CHECK(tok.decode(ids) == bad);
    CHECK(tok.decode_piece(-1, 3 + 0x41) == "A");
  }
  SUBCASE("without byte fallback a run of unknown characters is one <unk>") {
    TokenizerData n = tiny_vocab(false);
    n.add_dummy_prefix = false;
    n.pieces.push_back("a");
    n.scores.push_back(0);
    n.types.push_back(kNormal);
    const int na = int(n.pieces.size()) - 1;
    auto tok = make_tokenizer(n);
    CHECK(tok.encode("a\xF0\x9D\x84\x9E\xF0\x9D\x84\x9E"
                     "a\xC3\xA9",
                     false) == std::vector<int>{na, 0, na, 0});
    CHECK(tok.decode({na, 0, na}) == "aa");
    n.unk = -1;
    CHECK_THROWS_AS(make_tokenizer(n).encode("a\xC3\xA9", false), zip::Error);
  }
}

TEST_CASE("Tokenizer: invalid vocabulary and ids are errors") {
  TokenizerData d = tiny_vocab();
  auto tok = make_tokenizer(d);
  CHECK_THROWS_AS(tok.decode_piece(-1, int(d.pieces.size())), zip::Error);
  CHECK_THROWS_AS(tok.decode_piece(-1, -1), zip::Error);
  CHECK_THROWS_AS(tok.decode({1, 99999}), zip::Error);
  {
    TokenizerData bad = d;
    bad.scores.pop_back();
    CHECK_THROWS_AS(make_tokenizer(bad), zip::Error);
  }
  {
    TokenizerData bad = d;
    bad.types[5] = 42;
    CHECK_THROWS_AS(make_tokenizer(bad), zip::Error);
  }
  {
    TokenizerData bad = d;
    bad.pieces[5] = "<0xZZ>";
    CHECK_THROWS_AS(make_tokenizer(bad), zip::Error);
  }
  {
    TokenizerData bad = d;
    bad.eos = int(d.pieces.size());
    CHECK_THROWS_AS(make_tokenizer(bad), zip::Error);
  }
  CHECK_THROWS_AS(make_tokenizer(TokenizerData{}), zip::Error);
}

TEST_CASE("Tokenizer: SentencePiece parser skips unknown fields of every wire type") {
  std::string dir = ztest::temp_dir();
  for (bool unknown_fields : {false, true}) {
    CAPTURE(unknown_fields);
    write_bytes(dir + "/tokenizer.model", tiny_sp_model(2, false, unknown_fields));
    TokenizerData t = load_tokenizer(dir);
    REQUIRE(t.pieces.size() == 3 + 256 + 6);
    CHECK(t.pieces[259] == " ");
    CHECK(t.pieces[262] == " a");
    CHECK(t.pieces[264] == " ab");
    CHECK(t.scores[260] == -2.0f);
    CHECK(t.types[0] == kUnknown);
    CHECK(t.types[2] == kControl);
    CHECK(t.types[3] == kByte);
    CHECK(t.types[260] == kNormal);
    CHECK(t.pad == -1);  // a 10-byte negative varint
    CHECK(t.bos == 1);
    CHECK(t.byte_fallback);
    CHECK(t.add_dummy_prefix);
    Tokenizer tok(std::make_shared<const TokenizerData>(t));
    CHECK(tok.encode("ab a") == std::vector<int>{1, 264, 262});
    CHECK(tok.encode("abc", false) == std::vector<int>{264, 3 + 'c'});
  }
}

TEST_CASE("Tokenizer: invalid or corrupt tokenizer.model is an error") {
  std::string dir = ztest::temp_dir();
  std::string path = dir + "/x.model";
  auto rejects = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    CHECK_THROWS_AS(load_sentencepiece_model(path), zip::Error);
    CHECK_THROWS_AS(load_tokenizer(path), zip::Error);
  };
  SUBCASE("empty file") { rejects(""); }
  SUBCASE("garbage") {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 50; trial++) {
      std::string g(size_t(rng() % 2000), '\0');
      for (char& c : g) c = char(rng());
      rejects(g);
    }
  }
  SUBCASE("truncated") {
    std::string good = tiny_sp_model();
    write_bytes(path, good);
    CHECK_NOTHROW(load_sentencepiece_model(path));
    for (size_t cut :
         {size_t(1), size_t(2), size_t(5), size_t(100), good.size() / 2, good.size() - 20, good.size() - 1})
      rejects(good.substr(0, cut));
  }
  SUBCASE("truncated real model") {
    std::string real = read_file(llama32k_dir() + "/tokenizer.model");
    for (size_t cut : {size_t(3), real.size() / 3, real.size() - 300, real.size() - 5}) rejects(real.substr(0, cut));
  }
  SUBCASE("unigram model") {
    write_bytes(path, tiny_sp_model(1));
    try {
      load_sentencepiece_model(path);
      FAIL("accepted a unigram model");
    } catch (const zip::Error& e) {
      CHECK(std::string(e.what()).find("only BPE SentencePiece models are supported") != std::string::npos);
    }
  }
  SUBCASE("unsupported normalisation") { rejects(tiny_sp_model(2, true)); }
  SUBCASE("overlong varint") { rejects(std::string(11, '\xFF')); }
  SUBCASE("group wire type") { rejects(Proto().tag(7, 3).b + tiny_sp_model()); }
  SUBCASE("known field with the wrong wire type") { rejects(Proto().u(1, 5).b + tiny_sp_model()); }
  SUBCASE("length past the end") { rejects(Proto().tag(1, 2).varint(1u << 30).b); }
  SUBCASE("special id out of range") {
    Proto m;
    m.bytes(1, sp_piece("a", 0, kNormal));
    m.bytes(2, Proto().u(3, 2).i32(41, 5).b);
    m.bytes(3, Proto().u(4, 0).b);
    rejects(m.b);
  }
}

TEST_CASE("Tokenizer: corrupt llama2.c tokenizer.bin is an error") {
  std::string real = read_file(ztest::shared("models/stories260K/tok512.bin"));
  std::string dir = ztest::temp_dir();
  std::string path = dir + "/tok.bin";
  write_bytes(path, real);
  REQUIRE(load_llama2c_tokenizer(path).pieces.size() == 512);
  auto rejects = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    CHECK_THROWS_AS(load_llama2c_tokenizer(path), zip::Error);
    CHECK_THROWS_AS(load_tokenizer(path), zip::Error);
  };
  // Record boundaries: the format has no piece count, so only cuts inside a record are detectable.
  std::vector<size_t> starts;
  for (size_t pos = 4; pos < real.size();) {
    starts.push_back(pos);
    int32_t len;
    std::memcpy(&len, real.data() + pos + 4, 4);
    pos += 8 + size_t(len);
  }
  SUBCASE("empty and header-only") {
    rejects("");
    rejects(real.substr(0, 2));
    rejects(real.substr(0, 4));
    rejects(real.substr(0, starts[2]));  // only two pieces
  }
  SUBCASE("cut inside a record") {
    for (size_t i : {size_t(0), size_t(1), size_t(5), size_t(300), starts.size() - 1})
      for (size_t into : {size_t(2), size_t(4), size_t(6), size_t(9)}) {
        size_t cut = starts[i] + into;
        if (cut < real.size() && (i + 1 == starts.size() || cut < starts[i + 1])) rejects(real.substr(0, cut));
      }
    rejects(real.substr(0, real.size() - 1));
  }
  SUBCASE("bad lengths") {
    auto with_i32 = [&](size_t at, int32_t v) {
      std::string s = real;
      std::memcpy(s.data() + at, &v, 4);
      return s;
    };
    rejects(with_i32(0, -1));                      // max_token_len
    rejects(with_i32(0, 0x7fffffff));              // max_token_len beyond the file
    rejects(with_i32(starts[3] + 4, -5));          // negative piece length
    rejects(with_i32(starts[3] + 4, 0x7ffffff0));  // huge piece length
    rejects(with_i32(starts[300] + 4, 8));         // longer than max_token_len (7)
  }
  SUBCASE("garbage") {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 50; trial++) {
      std::string g(size_t(rng() % 3000), '\0');
      for (char& c : g) c = char(rng());
      write_bytes(path, g);
      try {
        load_llama2c_tokenizer(path);  // random bytes may happen to parse; they must not crash
      } catch (const zip::Error&) {
      }
    }
  }
}

TEST_CASE("Tokenizer: invalid tokenizer directory or path is an error") {
  std::string dir = ztest::temp_dir();
  CHECK_THROWS_AS(load_tokenizer(dir), zip::Error);  // empty directory
  write_bytes(dir + "/model.bin", "not a tokenizer");
  CHECK_THROWS_AS(load_tokenizer(dir), zip::Error);  // only a checkpoint-like *.bin
  CHECK_THROWS_AS(load_tokenizer(dir + "/missing.model"), zip::Error);
  CHECK_THROWS_AS(load_tokenizer(dir + "/missing"), zip::Error);
  write_bytes(dir + "/tok1.bin", read_file(ztest::shared("models/stories260K/tok512.bin")));
  CHECK(load_tokenizer(dir).pieces.size() == 512);
  write_bytes(dir + "/tok2.bin", read_file(ztest::shared("models/stories260K/tok512.bin")));
  CHECK_THROWS_AS(load_tokenizer(dir), zip::Error);  // ambiguous
  write_bytes(dir + "/tokenizer.bin", read_file(llama32k_dir() + "/tokenizer.bin"));
  CHECK(load_tokenizer(dir).pieces.size() == 32000);  // tokenizer.bin wins over tok*.bin
}

TEST_CASE("Tokenizer: .zlm embedding round trip") {
  for (const std::string& path :
       {llama32k_dir() + "/tokenizer.model", ztest::shared("models/stories260K/tok512.bin")}) {
    TokenizerData t = load_tokenizer(path);
    t.pad = 5;
    t.add_bos = false;
    nlohmann::json meta = nlohmann::json::object();
    std::map<std::string, Tensor> tensors;
    tokenizer_to_zlm(t, meta, tensors);
    CHECK(meta["n_pieces"] == t.pieces.size());
    CHECK(meta["type"] == "sentencepiece-bpe");
    CHECK(tensors.size() == 4);
    CHECK(tensors.at("tokenizer.offsets").dim(0) == int64_t(t.pieces.size()) + 1);
    // Through JSON text, as a file stores it.
    TokenizerData back = tokenizer_from_zlm(nlohmann::json::parse(meta.dump()), tensors);
    CHECK(back == t);
  }
}

TEST_CASE("Tokenizer: corrupt .zlm tokenizer tensors and metadata are errors") {
  TokenizerData t = load_tokenizer(ztest::shared("models/stories260K/tok512.bin"));
  nlohmann::json meta0 = nlohmann::json::object();
  std::map<std::string, Tensor> tensors0;
  tokenizer_to_zlm(t, meta0, tensors0);
  REQUIRE(tokenizer_from_zlm(meta0, tensors0) == t);

  auto rejects = [&](const nlohmann::json& meta, const std::map<std::string, Tensor>& tensors) {
    CHECK_THROWS_AS(tokenizer_from_zlm(meta, tensors), zip::Error);
  };
  // Deep copies so each case corrupts its own data.
  auto copy = [&]() {
    std::map<std::string, Tensor> c;
    for (const auto& [name, x] : tensors0) {
      Tensor y = Tensor::zeros(x.dtype, x.shape);
      std::memcpy(y.data, x.data, x.nbytes());
      c[name] = y;
    }
    return c;
  };
  for (const char* name : {"tokenizer.pieces", "tokenizer.offsets", "tokenizer.scores", "tokenizer.types"}) {
    CAPTURE(name);
    auto c = copy();
    c.erase(name);
    rejects(meta0, c);  // missing
    c = copy();
    Tensor& x = c[name];
    x.dtype = x.dtype == DType::F32 ? DType::I32 : DType::F32;  // wrong dtype (same element size or not)
    rejects(meta0, c);
    c = copy();
    c[name].shape = {1, c[name].shape[0]};  // 2-D
    rejects(meta0, c);
  }
  {
    auto c = copy();
    c["tokenizer.offsets"].ptr<int32_t>()[10] = 1 << 30;  // out of range
    rejects(meta0, c);
    c = copy();
    std::swap(c["tokenizer.offsets"].ptr<int32_t>()[10], c["tokenizer.offsets"].ptr<int32_t>()[11]);  // decreasing
    rejects(meta0, c);
    c = copy();
    c["tokenizer.offsets"].ptr<int32_t>()[0] = 1;
    rejects(meta0, c);
    c = copy();
    c["tokenizer.offsets"].ptr<int32_t>()[512] -= 1;  // does not cover the bytes
    rejects(meta0, c);
    c = copy();
    c["tokenizer.types"].ptr<int32_t>()[7] = 9;
    rejects(meta0, c);
    c = copy();
    c["tokenizer.types"].ptr<int32_t>()[7] = -1;
    rejects(meta0, c);
    c = copy();
    c["tokenizer.scores"].shape = {511};
    rejects(meta0, c);
    c = copy();
    c["tokenizer.scores"].ptr<float>()[3] = std::numeric_limits<float>::quiet_NaN();
    rejects(meta0, c);
  }
  auto with = [&](const char* key, nlohmann::json v) {
    nlohmann::json m = meta0;
    if (v.is_discarded())
      m.erase(key);
    else
      m[key] = v;
    return m;
  };
  rejects(with("type", "unigram"), tensors0);
  rejects(with("type", 3), tensors0);
  rejects(with("bos", 512), tensors0);
  rejects(with("eos", -2), tensors0);
  rejects(with("unk", "0"), tensors0);
  rejects(with("pad", 1.5), tensors0);
  rejects(with("n_pieces", 511), tensors0);
  rejects(with("n_pieces", 0), tensors0);
  rejects(with("add_bos", 1), tensors0);
  rejects(with("byte_fallback", nlohmann::json(nlohmann::json::value_t::discarded)), tensors0);
  rejects(nlohmann::json::array(), tensors0);
}
