// Error messages a terminal shows: file-provided bytes escaped (one line, no control bytes, valid
// UTF-8), and a file of another format named with what to do about it.
#include <algorithm>
#include <fstream>

#include "engine/error.h"
#include "tests/test_util.h"

namespace {

bool plain_one_line(const std::string& s) {
  // Exactly one trailing newline, no other control byte.
  if (s.empty() || s.back() != '\n') return false;
  return std::none_of(s.begin(), s.end() - 1, [](char c) { return (unsigned char)c < 0x20 || c == 0x7f; });
}

}  // namespace

TEST_CASE("messages: printable escapes control bytes, DEL and invalid UTF-8, keeps valid UTF-8") {
  CHECK(zip::printable("plain text") == "plain text");
  CHECK(zip::printable(std::string("a\nb\x1b[31m\x7f", 9)) == "a\\x0ab\\x1b[31m\\x7f");
  CHECK(zip::printable(std::string("\0", 1)) == "\\x00");
  CHECK(zip::printable("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(zip::printable("\xff") == "\\xff");                // never valid
  CHECK(zip::printable("\xc3") == "\\xc3");                // truncated sequence
  CHECK(zip::printable("\xc0\xaf") == "\\xc0\\xaf");       // overlong '/'
  CHECK(zip::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
  CHECK(zip::printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST_CASE("messages: bad input with control bytes in a file name gives one escaped line") {
  const std::string dir = ztest::temp_dir();
  const std::string name = dir + "/evil\x1b[31m\nname.zlm";
  std::ofstream(name) << "not a model";
  auto r = ztest::run_zip("run " + ztest::shell_quote(name) + " -n 1");
  CHECK(r.status == 1);
  INFO(r.err);
  CHECK(plain_one_line(r.err));
  CHECK_HAS(r.err, "evil\\x1b[31m\\x0aname.zlm");
}

TEST_CASE("messages: run on a GGUF file says to convert it; convert names the formats it knows") {
  auto r = ztest::run_zip("run tests/data/gguf/tiny-llama.gguf -n 1");
  CHECK(r.status == 1);
  CHECK_HAS(r.err, "zip convert");
  CHECK(plain_one_line(r.err));
  const std::string junk = ztest::temp_dir() + "/junk.bin";
  std::ofstream(junk, std::ios::binary) << std::string(3000, '\xa5');
  r = ztest::run_zip("convert " + ztest::shell_quote(junk) + " -o " + ztest::shell_quote(junk + ".zlm"));
  CHECK(r.status == 1);
  CHECK_HAS(r.err, "is not a model zip convert recognises (a Hugging Face folder, a GGUF file or a llama2.c checkpoint)");
  CHECK(plain_one_line(r.err));
}
