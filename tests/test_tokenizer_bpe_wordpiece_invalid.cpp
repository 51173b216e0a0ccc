// Byte-level BPE and WordPiece tokenizers: invalid or corrupt vocab.json, merges.txt, vocab.txt,
// tokenizer.json and .zlm tokenizer tensors are one-line errors, never crashes.
#include "tests/tokenizer_bpe_fixtures.h"

TEST_CASE("Tokenizer: invalid or corrupt vocab.json, merges.txt, vocab.txt and tokenizer.json are errors") {
  const std::string dir = ztest::temp_dir();
  const std::string vocab = read_file(gpt2_dir() + "/vocab.json");
  const std::string merges = read_file(gpt2_dir() + "/merges.txt");
  auto gpt2_rejects = [&](const std::string& v, const std::string& m) {
    write_text(dir + "/vocab.json", v);
    write_text(dir + "/merges.txt", m);
    CHECK_THROWS_AS(load_tokenizer(dir), zip::Error);
    CHECK_THROWS_AS(load_gpt2_vocab(dir + "/vocab.json", dir + "/merges.txt"), zip::Error);
  };
  gpt2_rejects("", merges);                                          // empty
  gpt2_rejects(vocab.substr(0, vocab.size() / 2), merges);           // truncated JSON
  gpt2_rejects("[1, 2, 3]", merges);                                 // not an object
  gpt2_rejects(R"({"a": "0", "b": 1})", "a b\n");                    // id not an integer
  gpt2_rejects(R"({"a": -1})", "");                                  // negative id
  gpt2_rejects(R"({"a": 2000000000})", "");                          // absurd id
  gpt2_rejects(R"({"a": 0, "b": 0})", "");                           // duplicate id
  gpt2_rejects(vocab, merges + "\xC4\xA0zzqq \xC4\xA0xxyy\n");      // merge of unknown symbols
  gpt2_rejects(R"({"a": 0, "b": 1})", "a b\n");                      // merged token not in the vocabulary
  gpt2_rejects(vocab, "#version: 0.2\n\xC4\xA0 t x\n");             // three tokens on a line
  gpt2_rejects(vocab, "#version: 0.2\nnospace\n");
  gpt2_rejects(vocab, "#version: 0.2\n\n");                          // empty line
  {
    write_text(dir + "/vocab.json", vocab);
    write_text(dir + "/merges.txt", merges);
    CHECK(load_tokenizer(dir).merges.size() == 50000);
  }

  const std::string wp = ztest::temp_dir();
  write_text(wp + "/vocab.txt", "");
  CHECK_THROWS_AS(load_tokenizer(wp), zip::Error);
  CHECK_THROWS_AS(load_wordpiece_vocab(wp + "/vocab.txt"), zip::Error);
  // A vocabulary without [UNK] loads, but a word it cannot cover is an error, not a crash.
  write_text(wp + "/vocab.txt", "hello\n##s\n");
  Tokenizer tiny = load(wp + "/vocab.txt");
  CHECK(tiny.encode("hellos", false) == std::vector<int>{0, 1});
  CHECK_THROWS_AS(tiny.encode("bye", false), zip::Error);

  const std::string tj = ztest::temp_dir() + "/tokenizer.json";
  auto json_rejects = [&](const std::string& text) {
    write_text(tj, text);
    CHECK_THROWS_AS(load_tokenizer(tj), zip::Error);
    CHECK_THROWS_AS(load_hf_tokenizer_json(tj), zip::Error);
  };
  json_rejects("");
  json_rejects("{");
  json_rejects("[]");
  json_rejects(R"({"model": 3})");
  json_rejects(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})");  // a kind not supported
  std::mt19937 rng(3);
  for (int trial = 0; trial < 30; trial++) {
    std::string g(size_t(rng() % 500), '\0');
    for (char& c : g) c = char(rng());
    json_rejects(g);
  }
  json good = bert_tokenizer_json(true);
  auto with = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    return j.dump();
  };
  json_rejects(with([](json& j) { j["model"]["vocab"] = json::array(); }));
  json_rejects(with([](json& j) { j["model"]["vocab"]["[UNK]"] = "100"; }));
  json_rejects(with([](json& j) { j["model"]["unk_token"] = "[NOPE]"; }));
  json_rejects(with([](json& j) { j["model"]["unk_token"] = 5; }));
  json_rejects(with([](json& j) { j["normalizer"]["lowercase"] = "yes"; }));
  json_rejects(with([](json& j) { j["added_tokens"] = json::object(); }));
  json_rejects(with([](json& j) { j["added_tokens"][0]["id"] = -5; }));
  json_rejects(with([](json& j) { j["added_tokens"][0]["content"] = 7; }));
  json_rejects(with([](json& j) { j["post_processor"]["single"] = 1; }));
  json_rejects(with([](json& j) { j["post_processor"]["single"][0]["SpecialToken"]["id"] = "[NOPE]"; }));
  json_rejects(with([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }));
  json gbpe = gpt2_tokenizer_json(false);
  auto bpe_with = [&](const std::function<void(json&)>& edit) {
    json j = gbpe;
    edit(j);
    return j.dump();
  };
  json_rejects(bpe_with([](json& j) { j["model"]["merges"] = "a b"; }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back(json::array({"a"})); }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back(json::array({1, 2})); }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back("\xC4\xA0zzqq \xC4\xA0xxyy"); }));
  json_rejects(bpe_with([](json& j) { j["pre_tokenizer"]["use_regex"] = "yes"; }));
  json_rejects(bpe_with([](json& j) {
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "use_regex": false}]})");
  }));
  json_rejects(bpe_with([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }));
  json_rejects(bpe_with([](json& j) { j["model"]["dropout"] = 0.1; }));
}

TEST_CASE("Tokenizer: corrupt .zlm byte-bpe and wordpiece tokenizers are errors") {
  for (const std::string& path : {gpt2_dir(), bert_vocab()}) {
    CAPTURE(path);
    const TokenizerData t = load_tokenizer(path);
    json meta0 = json::object();
    std::map<std::string, Tensor> tensors0;
    tokenizer_to_zlm(t, meta0, tensors0);
    REQUIRE(tokenizer_from_zlm(meta0, tensors0) == t);
    auto copy = [&]() {
      std::map<std::string, Tensor> c;
      for (const auto& [name, x] : tensors0) {
        Tensor y = Tensor::zeros(x.dtype, x.shape);
        if (x.nbytes()) std::memcpy(y.data, x.data, x.nbytes());
        c[name] = y;
      }
      return c;
    };
    auto rejects = [&](const json& meta, const std::map<std::string, Tensor>& tensors) {
      CHECK_THROWS_AS(tokenizer_from_zlm(meta, tensors), zip::Error);
    };
    auto with = [&](const char* key, json v) {
      json m = meta0;
      m[key] = v;
      return m;
    };
    rejects(with("cls", 1 << 30), tensors0);
    rejects(with("sep", -2), tensors0);
    rejects(with("mask", "3"), tensors0);
    rejects(with("lowercase", 1), tensors0);
    rejects(with("pre", 5), tensors0);
    if (t.type == "byte-bpe") {
      rejects(with("pre", "gpt-5"), tensors0);
      rejects(with("n_merges", 49999), tensors0);
      rejects(with("n_merges", -1), tensors0);
      rejects(with("n_merges", 0), tensors0);  // the tensor is there but not announced
      auto c = copy();
      c.erase("tokenizer.merges");
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].dtype = DType::F32;
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].ptr<int32_t>()[10] = 50257;  // out of range
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].ptr<int32_t>()[11] = -1;
      rejects(meta0, c);
      c = copy();
      REQUIRE(std::find(t.pieces.begin(), t.pieces.end(), t.pieces[250] + t.pieces[251]) == t.pieces.end());
      c["tokenizer.merges"].ptr<int32_t>()[0] = 250;  // a merge that makes no piece
      c["tokenizer.merges"].ptr<int32_t>()[1] = 251;
      rejects(meta0, c);
      c = copy();
      c["tokenizer.types"].ptr<int32_t>()[5] = kByte;  // SentencePiece's byte type has no meaning here
      rejects(meta0, c);
    } else {
      rejects(with("n_merges", 3), tensors0);
    }
    {
      auto c = copy();
      c["tokenizer.offsets"].ptr<int32_t>()[100] = -4;
      rejects(meta0, c);
    }
  }
}
