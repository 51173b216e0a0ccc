// SentencePiece-BPE tokenizer: invalid or corrupt vocabularies, tokenizer.model, llama2.c
// tokenizer.bin, folders and .zlm tokenizer tensors are one-line errors, never crashes.
#include "tests/tokenizer_fixtures.h"

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
