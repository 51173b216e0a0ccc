// SentencePiece-BPE tokenizer: golden ids (llama2.c stories260K, llama.cpp's llama-spm test
// vectors), the two loaders agreeing, .zlm embedding. Malformed inputs: test_tokenizer_invalid.cpp.
#include "tests/tokenizer_fixtures.h"

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

