// Test helper for the SentencePiece-BPE tokenizer tests: tiny hand-built vocabularies and
// tokenizer.model files, golden-id file readers, the shared 32k Llama tokenizer folder.
#pragma once
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

inline std::string llama32k_dir() { return ztest::shared("models/llama2-tokenizer-32k"); }

inline Tokenizer make_tokenizer(TokenizerData d) { return Tokenizer(std::make_shared<const TokenizerData>(std::move(d))); }

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

// llama.cpp's test-tokenizer-0 format: every text is followed by "\n__ggml_vocab_test__\n".
inline std::vector<std::string> split_vocab_tests(const std::string& inp) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    texts.push_back(inp.substr(pos, hit - pos));
  REQUIRE(pos == inp.size());  // nothing after the last separator
  return texts;
}

inline std::vector<std::vector<int>> read_id_lines(const std::string& out) {
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

inline std::string sp_piece(const std::string& piece, float score, int type, bool with_unknown_fields = false) {
  Proto p;
  p.bytes(1, piece).f32(2, score);
  if (type != kNormal) p.u(3, uint64_t(type));
  if (with_unknown_fields) p.u(9, 12345).f64(10, 2.5).bytes(11, "junk").f32(12, 1.0f);
  return p.b;
}

// A tiny BPE ModelProto: <unk>, <s>, </s>, the 256 byte pieces, then "▁", "a", "b", "▁a", "ab", "▁ab".
inline std::string tiny_sp_model(int model_type = 2, bool remove_extra_whitespaces = false, bool unknown_fields = false) {
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
inline TokenizerData tiny_vocab(bool byte_fallback = true) {
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

inline int piece_id(const TokenizerData& d, const std::string& piece) {
  for (size_t i = 0; i < d.pieces.size(); i++)
    if (d.pieces[i] == piece && (d.types[i] == kNormal || d.types[i] == kUserDefined)) return int(i);
  FAIL("no piece " << piece);
  return -1;
}

}  // namespace
