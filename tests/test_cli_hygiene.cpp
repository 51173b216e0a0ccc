// Input hygiene of the CLI (issue 27): usage errors always exit 2 (an empty value included),
// --speedup out of range says what is meaningful, and convert checks a tokenizer against the
// model before it is written.
#include <fstream>
#include <random>

#include "engine/file_io.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/zlm.h"
#include "models/tokenizer_fit.h"
#include "tests/cli_fixtures.h"
#include "tests/test_util.h"

using namespace zip;

using ztest::q;

namespace {

const std::string& dir() {
  static std::string d = ztest::temp_dir();
  return d;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xff);
  return s;
}

void check_usage_error(const ztest::CmdResult& r) {
  CHECK(r.status == 2);
  CHECK(ztest::count_lines(r.err) == 1);
  CHECK(r.out.empty());
  MESSAGE(r.err);
}

}  // namespace

TEST_CASE("cli hygiene: bad input - an empty option value is a usage error (exit 2); an empty prompt is not") {
  const std::string m = q(ztest::cli_stories_zlm()), src = q(ztest::shared("models/stories260K/stories260K.bin"));
  check_usage_error(ztest::run_zip("convert " + src + " -o ''"));
  check_usage_error(ztest::run_zip("convert " + src + " -o="));
  check_usage_error(ztest::run_zip("convert " + src + " -o x.zlm --tokenizer ''"));
  check_usage_error(ztest::run_zip("slice " + m + " --spec '' -o x.zlm"));
  check_usage_error(ztest::run_zip("tokenize " + m + " -o '' " + m));
  check_usage_error(ztest::run_zip("run " + m + " --ctx ''"));
  check_usage_error(ztest::run_zip("eval " + m + " --ppl ''"));
  check_usage_error(ztest::run_zip("bench " + m + " -t ''"));
  auto r = ztest::run_zip("run " + m + " -p '' -n 3 --temp 0");
  CHECK_MESSAGE(r.status == 0, r.err);
  auto e = ztest::run_zip("convert " + src + " -o ''");
  CHECK_HAS(e.err, "zip convert: option '-o' needs a non-empty OUT.zlm");
}

TEST_CASE("cli hygiene: bad input - compress --speedup out of range says what a target is") {
  const std::string base = "compress " + q(ztest::cli_stories_zlm()) + " --calib " + q(ztest::shared("data/tinystories")) + " -o " +
                           q(dir() + "/fam") + " --speedup ";
  auto big = ztest::run_zip(base + "1000");
  check_usage_error(big);
  CHECK_HAS(big.err, "--speedup: 1000 is outside [1, 100]");
  CHECK_HAS(big.err, "speedup factor over the dense model");
  auto small = ztest::run_zip(base + "0.5");
  check_usage_error(small);
  CHECK_HAS(small.err, "0.5 is outside [1, 100]");
  auto word = ztest::run_zip(base + "1.5,fast");
  check_usage_error(word);
  CHECK_HAS(word.err, "'fast' is not a number");
}

TEST_CASE("cli hygiene: bad input - convert --tokenizer refuses a file that is not this model's tokenizer") {
  const std::string src = q(ztest::shared("models/stories260K/stories260K.bin")), out = dir() + "/t.zlm";
  // Random bytes named .bin: read as a llama2.c tokenizer, refused at once, naming that format.
  ztest::write_bytes(dir() + "/random.bin", random_bytes(3000, 1));
  auto r = ztest::run_zip("convert " + src + " --tokenizer " + q(dir() + "/random.bin") + " -o " + q(out));
  CHECK(r.status == 1);
  CHECK(ztest::count_lines(r.err) == 1);
  CHECK_HAS(r.err, "--tokenizer " + dir() + "/random.bin: not a tokenizer zip reads");
  CHECK_HAS(r.err, "not a llama2.c tokenizer");
  CHECK_HAS(r.err, "tokenizer.model (SentencePiece)");
  CHECK(!file_exists(out));
  // Random text lines named .txt load as a WordPiece vocabulary: a decoder refuses it.
  std::string lines;
  for (int i = 0; i < 300; i++) lines += random_bytes(6, uint32_t(i + 2)) + "\n";
  ztest::write_bytes(dir() + "/random.txt", lines);
  r = ztest::run_zip("convert " + src + " --tokenizer " + q(dir() + "/random.txt") + " -o " + q(out));
  CHECK(r.status == 1);
  CHECK(ztest::count_lines(r.err) == 1);
  CHECK_HAS(r.err, "is a WordPiece vocabulary (BERT's)");
  CHECK(!file_exists(out));
  // The model's own tokenizer passes.
  r = ztest::run_zip("convert " + src + " --tokenizer " + q(ztest::shared("models/stories260K/tok512.bin")) + " -o " +
                     q(out));
  CHECK_MESSAGE(r.status == 0, r.err);
}

TEST_CASE("cli hygiene: a tokenizer must fit the model: size and special ids") {
  TokenizerData t = load_tokenizer(ztest::shared("models/stories260K/tok512.bin"));  // 512 pieces
  Model s = load_zlm(ztest::cli_stories_zlm());
  ModelConfig c = s.config;  // a decoder with 512 embedding rows
  check_tokenizer_fits(t, c, "tok512");
  c.vocab_size = 1024;  // exactly half the rows: still this model's
  check_tokenizer_fits(t, c, "tok512");
  auto error_of = [&](const TokenizerData& tok, const ModelConfig& cfg) {
    try {
      check_tokenizer_fits(tok, cfg, "tok512");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  c.vocab_size = 1026;
  CHECK_HAS(error_of(t, c), "tokenizer tok512 has 512 pieces for a decoder with 1026 embedding rows");
  c.vocab_size = 500;
  CHECK_HAS(error_of(t, c), "has 512 pieces, more than the model's vocabulary (500 embedding rows)");
  c.vocab_size = 512;
  for (int TokenizerData::*id : {&TokenizerData::bos, &TokenizerData::eos, &TokenizerData::unk, &TokenizerData::pad}) {
    TokenizerData bad = t;
    bad.*id = 512;
    CHECK_HAS(error_of(bad, c), "id 512 is outside its 512 pieces");
  }
}
