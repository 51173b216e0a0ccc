// Byte-level BPE (GPT-2) and WordPiece (BERT) tokenizers: golden ids from the Hugging Face
// tokenizers (llama.cpp's test vectors), the pre-tokenizer rules, special tokens, sentence pairs,
// tokenizer.json / tokenizer_config.json loading, .zlm embedding. Malformed inputs:
// test_tokenizer_bpe_wordpiece_invalid.cpp.
#include "tests/tokenizer_bpe_fixtures.h"

TEST_CASE("Tokenizer: GPT-2 byte-level BPE golden ids (vocab.json + merges.txt)") {
  auto texts = golden_texts("gpt2");
  auto expected = golden_ids("gpt2");
  REQUIRE(texts.size() == expected.size());
  REQUIRE(texts.size() == 46);
  for (const std::string& path : {gpt2_dir(), gpt2_dir() + "/vocab.json", gpt2_dir() + "/merges.txt"}) {
    CAPTURE(path);
    Tokenizer tok = load(path);
    CHECK(tok.vocab_size() == 50257);
    CHECK(tok.data().type == "byte-bpe");
    CHECK(tok.data().pre == "gpt2");
    CHECK(tok.data().merges.size() == 50000);
    CHECK(tok.bos() == 50256);
    CHECK(tok.eos() == 50256);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); i++) {
      CAPTURE(i);
      CAPTURE(texts[i]);
      auto ids = tok.encode(texts[i]);  // GPT-2 adds no BOS
      CHECK(ids == expected[i]);
      mismatches += ids != expected[i];
      CHECK(tok.decode(ids) == texts[i]);
    }
    CHECK(mismatches == 0);
  }
  Tokenizer tok = load(gpt2_dir());
  CHECK(tok.encode("Hello world") == std::vector<int>{15496, 995});
  CHECK(tok.data().pieces[15496] == "Hello");
  CHECK(tok.data().pieces[995] == " world");  // stored decoded: "Ġworld" is " world"
  CHECK(tok.decode_piece(15496, 995) == " world");
}

TEST_CASE("Tokenizer: BERT WordPiece golden ids (vocab.txt)") {
  auto texts = golden_texts("bert-uncased");
  auto expected = golden_ids("bert-uncased");
  REQUIRE(texts.size() == expected.size());
  REQUIRE(texts.size() == 46);
  for (const std::string& path : {bert_vocab(), ztest::shared("models/bert-base-uncased-vocab")}) {
    CAPTURE(path);
    Tokenizer tok = load(path);
    CHECK(tok.vocab_size() == 30522);
    CHECK(tok.data().type == "wordpiece");
    CHECK(tok.data().cls == 101);
    CHECK(tok.data().sep == 102);
    CHECK(tok.data().mask == 103);
    CHECK(tok.data().unk == 100);
    CHECK(tok.data().pad == 0);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); i++) {
      CAPTURE(i);
      CAPTURE(texts[i]);
      auto ids = tok.encode(texts[i], false);
      CHECK(ids == expected[i]);
      mismatches += ids != expected[i];
      // add_special wraps in [CLS] ... [SEP].
      auto wrapped = tok.encode(texts[i]);
      REQUIRE(wrapped.size() == ids.size() + 2);
      CHECK(wrapped.front() == 101);
      CHECK(wrapped.back() == 102);
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("Tokenizer: GPT-2 encoding round-trips any bytes and the whole of wikitext-2 test") {
  Tokenizer tok = load(gpt2_dir());
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; trial++) {
    std::string s(size_t(rng() % 64), '\0');
    for (char& c : s) c = char(rng() % 4 == 0 ? rng() : "aZ 9\n'\xC3\xA9\xE2\x82\xAC."[rng() % 12]);
    CAPTURE(trial);
    CHECK(tok.decode(tok.encode(s)) == s);  // invalid UTF-8 included: byte-level loses nothing
  }
  const std::string wiki = read_file(ztest::shared("data/wikitext-2-raw/wiki.test.raw"));
  auto ids = tok.encode(wiki);
  CHECK(ids.size() == 286178);  // Hugging Face tokenizers' count for the same bytes
  CHECK(tok.decode(ids) == wiki);
}

TEST_CASE("Tokenizer: pre-tokenizer rules split like the reference regexes") {
  const std::string text = "Hello, y'all! How're you ... I'VE 12345 apples\n\n  \tok\r\n";
  using V = std::vector<std::string>;
  CHECK(split("gpt2", text) == V{"Hello", ",", " y", "'", "all", "!", " How", "'re", " you", " ...", " I", "'",
                                 "VE", " 12345", " apples", "\n\n  ", "\t", "ok", "\r\n"});
  CHECK(split("llama3", text) == V{"Hello", ",", " y", "'all", "!", " How", "'re", " you", " ...", " I", "'VE", " ",
                                   "123", "45", " apples", "\n\n", "  ", "\tok", "\r\n"});
  CHECK(split("qwen2", text) == V{"Hello", ",", " y",   "'all", "!", " How", "'re", " you",    " ...", " I", "'VE",
                                  " ",     "1", "2",  "3",    "4", "5", " apples", "\n\n", "  ", "\tok", "\r\n"});
  CHECK(split("smollm", text) == V{"Hello", ",", " y", "'", "all", "!", " How", "'re", " you", " ...", " I", "'", "VE",
                                   " ", "1", "2", "3", "4", "5", " apples", "\n\n  ", "\t", "ok", "\r\n"});
  CHECK(split("gpt2", "  x 2024-01-01  ") == V{" ", " x", " 2024", "-", "01", "-", "01", "  "});
  CHECK(split("llama3", "  x 2024-01-01  ") == V{" ", " x", " ", "202", "4", "-", "01", "-", "01", "  "});
  // (?i) takes U+017F (ſ) for an 's'; \s includes U+00A0 and U+2003.
  const std::string odd = "\xC5\xBF'\xC5\xBF 'Ll \xC2\xA0\xE2\x80\x83" "end";
  CHECK(split("gpt2", odd) == V{"\xC5\xBF", "'", "\xC5\xBF", " '", "Ll", " \xC2\xA0", "\xE2\x80\x83", "end"});
  CHECK(split("llama3", odd) == V{"\xC5\xBF", "'\xC5\xBF", " '", "Ll", " \xC2\xA0", "\xE2\x80\x83" "end"});
  // Invalid UTF-8 bytes are symbols, kept.
  CHECK(split("gpt2", "a\xFF\xFE b") == V{"a", "\xFF\xFE", " b"});
  CHECK(split("gpt2", "").empty());
  CHECK(find_pretokenizer("gpt-4") == nullptr);
}

TEST_CASE("Tokenizer: byte-level BPE merges by rank, leftmost first, on a small vocabulary") {
  // Pieces: the 256 bytes, then merges a+b (rank 0), b+c (rank 1), ab+c (rank 2), c+c (rank 3).
  TokenizerData d;
  d.type = "byte-bpe";
  d.pre = "gpt2";
  d.add_bos = false;
  d.add_dummy_prefix = false;
  d.byte_fallback = false;
  for (int b = 0; b < 256; b++) d.pieces.push_back(std::string(1, char(b)));
  for (const char* p : {"ab", "bc", "abc", "cc"}) d.pieces.push_back(p);
  d.scores.assign(d.pieces.size(), 0);
  d.types.assign(d.pieces.size(), kNormal);
  d.merges = {{'a', 'b'}, {'b', 'c'}, {256, 'c'}, {'c', 'c'}};
  const int ab = 256, bc = 257, abc = 258, cc = 259;
  {
    Tokenizer tok = make(d);
    CHECK(tok.encode("abc") == std::vector<int>{abc});              // a+b first (rank 0), then ab+c
    CHECK(tok.encode("bcab") == std::vector<int>{bc, ab});
    CHECK(tok.encode("ccc") == std::vector<int>{cc, 'c'});          // leftmost pair of equal rank
    CHECK(tok.encode("abcc") == std::vector<int>{abc, 'c'});        // ab+c (rank 2) before c+c (rank 3)
    CHECK(tok.encode("x abc") == std::vector<int>{'x', ' ', abc});  // " a" is not a piece
    CHECK(tok.decode({abc, cc}) == "abccc");
  }
  SUBCASE("ignore_merges takes a whole pre-token that is a piece") {
    d.pieces.push_back("ca");
    d.scores.push_back(0);
    d.types.push_back(kNormal);
    const int ca = int(d.pieces.size()) - 1;
    CHECK(make(d).encode("ca") == std::vector<int>{'c', 'a'});  // no merge makes "ca"
    d.ignore_merges = true;
    CHECK(make(d).encode("ca") == std::vector<int>{ca});
  }
  SUBCASE("add_prefix_space") {
    d.add_dummy_prefix = true;
    CHECK(make(d).encode("ab") == std::vector<int>{' ', ab});
    CHECK(make(d).encode(" ab") == std::vector<int>{' ', ab});
  }
  SUBCASE("a byte without a piece is dropped, or <unk>") {
    d.types['z'] = kUnused;
    CHECK(make(d).encode("zab") == std::vector<int>{ab});
    d.unk = 'q';
    CHECK(make(d).encode("zab") == std::vector<int>{'q', ab});
  }
}

TEST_CASE("Tokenizer: special tokens are matched in text only with parse_special") {
  Tokenizer gpt2 = load(gpt2_dir());
  const std::string text = "a<|endoftext|>b";
  auto plain = gpt2.encode(text);
  CHECK(plain.size() > 3);
  CHECK(std::find(plain.begin(), plain.end(), 50256) == plain.end());
  CHECK(gpt2.encode(text, true, true) == std::vector<int>{64, 50256, 65});
  CHECK(gpt2.decode({64, 50256, 65}) == "ab");  // control tokens decode to nothing
  CHECK(gpt2.decode_piece(64, 50256).empty());

  Tokenizer bert = load(bert_vocab());
  CHECK(bert.encode("hi [SEP] there", false) == std::vector<int>{7632, 1031, 19802, 1033, 2045});
  CHECK(bert.encode("hi [SEP] there", false, true) == std::vector<int>{7632, 102, 2045});

  // SentencePiece: as llama.cpp, the text after a special token gets the dummy-prefix space again.
  Tokenizer llama = load(ztest::shared("models/llama2-tokenizer-32k/tokenizer.model"));
  std::vector<int> expect = {1};
  for (int id : llama.encode("Hello", false)) expect.push_back(id);
  CHECK(llama.encode("<s>Hello", false, true) == expect);
  CHECK(llama.encode("<s>Hello", false).front() != 1);

  SUBCASE("non-special added tokens are always cut out") {
    TokenizerData d = load_tokenizer(gpt2_dir());
    d.pieces.push_back("<tool>");
    d.scores.push_back(0);
    d.types.push_back(kUserDefined);
    Tokenizer tok = make(d);
    CHECK(tok.encode("x<tool>y") == std::vector<int>{87, 50257, 88});
    CHECK(tok.decode({87, 50257, 88}) == "x<tool>y");
  }
}

TEST_CASE("Tokenizer: WordPiece sentence pairs, token types and decoding") {
  Tokenizer bert = load(bert_vocab());
  auto pair = bert.encode_pair("Is this it?", "Yes it is.");
  CHECK(pair.ids == std::vector<int>{101, 2003, 2023, 2009, 1029, 102, 2748, 2009, 2003, 1012, 102});
  CHECK(pair.type_ids == std::vector<int>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
  auto single = bert.encode_with_types("Is this it?");
  CHECK(single.ids == std::vector<int>{101, 2003, 2023, 2009, 1029, 102});
  CHECK(single.type_ids == std::vector<int>(6, 0));
  CHECK(bert.encode_with_types("Is this it?", false).ids == std::vector<int>{2003, 2023, 2009, 1029});
  CHECK_THROWS_AS(load(gpt2_dir()).encode_pair("a", "b"), zip::Error);

  // Hugging Face's WordPiece decoder (with cleanup) and skip_special_tokens.
  auto ids = bert.encode("Hello, world! Don't do not stop.");
  CHECK(ids == std::vector<int>{101, 7592, 1010, 2088, 999, 2123, 1005, 1056, 2079, 2025, 2644, 1012, 102});
  CHECK(bert.decode(ids) == "hello, world! don ' t do not stop.");
  CHECK(bert.decode(bert.encode("unaffable tokenization ##x")) == "unaffable tokenization # # x");
  CHECK(bert.decode(pair.ids) == "is this it? yes it is.");
  CHECK(bert.decode_piece(-1, 14477) == "una");
  CHECK(bert.decode_piece(14477, 20961) == "ffa");  // ##ffa continues the word
  CHECK(bert.decode_piece(7592, 1010) == ",");

  // Words over 100 characters, and words with no pieces, are one [UNK].
  CHECK(bert.encode(std::string(101, 'a'), false) == std::vector<int>{100});
  CHECK(bert.encode(std::string(100, 'a'), false).size() > 1);
  CHECK(bert.encode("\xF0\x9F\xA6\x99x", false) == std::vector<int>{100});
}

TEST_CASE("Tokenizer: tokenizer.json byte-level BPE and WordPiece give the vocab file ids") {
  const std::string dir = ztest::temp_dir();
  const auto gpt2_texts = golden_texts("gpt2");
  const auto gpt2_ids = golden_ids("gpt2");
  for (bool pair_merges : {false, true}) {
    CAPTURE(pair_merges);
    write_text(dir + "/tokenizer.json", gpt2_tokenizer_json(pair_merges).dump());
    TokenizerData t = load_tokenizer(dir);
    CHECK(t == load_tokenizer(gpt2_dir()));
    Tokenizer tok = make(t);
    for (size_t i = 0; i < gpt2_texts.size(); i++) CHECK(tok.encode(gpt2_texts[i]) == gpt2_ids[i]);
  }
  const auto bert_texts = golden_texts("bert-uncased");
  const auto bert_ids = golden_ids("bert-uncased");
  for (bool templ : {false, true}) {
    CAPTURE(templ);
    write_text(dir + "/tokenizer.json", bert_tokenizer_json(templ).dump());
    TokenizerData t = load_tokenizer(dir + "/tokenizer.json");
    CHECK(t == load_tokenizer(bert_vocab()));
    Tokenizer tok = make(t);
    for (size_t i = 0; i < bert_texts.size(); i++) CHECK(tok.encode(bert_texts[i], false) == bert_ids[i]);
  }

  SUBCASE("Llama 3 style: Split(regex) + ByteLevel, BOS template, ignore_merges") {
    json j = gpt2_tokenizer_json(true);
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})");
    j["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
      {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}]})");
    j["model"]["ignore_merges"] = true;
    write_text(dir + "/tokenizer.json", j.dump());
    TokenizerData t = load_tokenizer(dir);
    CHECK(t.pre == "llama3");
    CHECK(t.ignore_merges);
    CHECK(t.add_bos);
    CHECK(t.bos == 50256);
    CHECK(make(t).encode("Hello world 12345") == std::vector<int>{50256, 15496, 995, 220, 10163, 2231});
  }
  SUBCASE("SmolLM style: Digits + ByteLevel") {
    json j = gpt2_tokenizer_json(false);
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false}]})");
    write_text(dir + "/tokenizer.json", j.dump());
    CHECK(load_tokenizer(dir).pre == "smollm");
  }
}

TEST_CASE("Tokenizer: directory search order, tokenizer.json fallback and tokenizer_config.json") {
  const std::string dir = ztest::temp_dir();
  const std::string sp_model = read_file(ztest::shared("models/llama2-tokenizer-32k/tokenizer.model"));
  // A Llama-style tokenizer.json (SentencePiece BPE with byte fallback): not supported.
  json llama = {{"model", {{"type", "BPE"}, {"byte_fallback", true}, {"vocab", {{"a", 0}}}, {"merges", json::array()}}},
                {"normalizer", nullptr},
                {"pre_tokenizer", {{"type", "Metaspace"}}}};
  write_text(dir + "/tokenizer.json", llama.dump());
  try {
    load_tokenizer(dir);
    FAIL("accepted a SentencePiece-style tokenizer.json");
  } catch (const zip::Error& e) {
    CHECK(std::string(e.what()).find("tokenizer.json of this kind is not supported") != std::string::npos);
  }
  CHECK_FALSE(is_supported_hf_tokenizer_json(dir + "/tokenizer.json"));
  write_text(dir + "/tokenizer.model", sp_model);
  CHECK(load_tokenizer(dir).type == "sentencepiece-bpe");  // falls back to tokenizer.model
  std::filesystem::remove(dir + "/tokenizer.json");
  // vocab.json + merges.txt come before vocab.txt and tokenizer.model.
  write_text(dir + "/vocab.txt", read_file(bert_vocab()));
  CHECK(load_tokenizer(dir).type == "wordpiece");
  write_text(dir + "/vocab.json", read_file(gpt2_dir() + "/vocab.json"));
  write_text(dir + "/merges.txt", read_file(gpt2_dir() + "/merges.txt"));
  CHECK(load_tokenizer(dir).type == "byte-bpe");

  SUBCASE("tokenizer_config.json: cased BERT and named specials") {
    const std::string bert = ztest::temp_dir();
    write_text(bert + "/vocab.txt", read_file(bert_vocab()));
    write_text(bert + "/tokenizer_config.json", R"({"do_lower_case": false, "model_max_length": 512})");
    TokenizerData t = load_tokenizer(bert);
    CHECK_FALSE(t.lowercase);
    CHECK_FALSE(t.strip_accents);
    CHECK(make(t).encode("Hello", false) == std::vector<int>{100});  // no "Hello" piece when cased
    write_text(bert + "/tokenizer_config.json", R"({"do_lower_case": "no"})");
    CHECK_THROWS_AS(load_tokenizer(bert), zip::Error);

    const std::string gpt = ztest::temp_dir();
    write_text(gpt + "/vocab.json", read_file(gpt2_dir() + "/vocab.json"));
    write_text(gpt + "/merges.txt", read_file(gpt2_dir() + "/merges.txt"));
    write_text(gpt + "/tokenizer_config.json",
               R"({"bos_token": {"content": "Hello", "__type": "AddedToken"}, "add_bos_token": true})");
    TokenizerData g = load_tokenizer(gpt);
    CHECK(g.bos == 15496);
    CHECK(g.add_bos);
    CHECK(g.eos == 50256);
  }
}

TEST_CASE("Tokenizer: .zlm round trip of byte-bpe and wordpiece vocabularies") {
  for (const std::string& path : {gpt2_dir(), bert_vocab()}) {
    CAPTURE(path);
    TokenizerData t = load_tokenizer(path);
    json meta = json::object();
    std::map<std::string, Tensor> tensors;
    tokenizer_to_zlm(t, meta, tensors);
    CHECK(meta["type"] == t.type);
    CHECK(tensors.size() == (t.type == "byte-bpe" ? 5u : 4u));
    if (t.type == "byte-bpe") CHECK(tensors.at("tokenizer.merges").dim(0) == 100000);
    TokenizerData back = tokenizer_from_zlm(json::parse(meta.dump()), tensors);
    CHECK(back == t);
  }
  // Files written before these fields existed still load, with the defaults.
  TokenizerData sp = load_tokenizer(ztest::shared("models/stories260K/tok512.bin"));
  json meta = json::object();
  std::map<std::string, Tensor> tensors;
  tokenizer_to_zlm(sp, meta, tensors);
  for (const char* key : {"cls", "sep", "mask", "pre", "n_merges", "ignore_merges", "clean_text",
                          "handle_chinese_chars", "strip_accents", "lowercase"})
    meta.erase(key);
  CHECK(tokenizer_from_zlm(meta, tensors) == sp);
}

