// README's command synopsis and the commands' --help agree: each synopsis line is a command's
// usage line, every flag a usage line names is an option of that command, and a usage line
// without "[options]" names every option. zip --version says what was built.
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "engine/file_io.h"
#include "tests/test_util.h"

namespace {

std::string squeeze(const std::string& s) {  // runs of spaces → one (README aligns its columns)
  std::string out;
  for (char c : s)
    if (!(c == ' ' && !out.empty() && out.back() == ' ')) out += c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The lines of README's "## Commands" code block, a line that starts with spaces joined to the one above.
std::vector<std::string> readme_synopsis() {
  const std::string readme = zip::read_file("README.md");
  size_t at = readme.find("## Commands\n\n```\n");
  REQUIRE(at != std::string::npos);
  at = readme.find('\n', readme.find("```", at)) + 1;
  std::istringstream in(readme.substr(at, readme.find("```", at) - at));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("zip ", 0) == 0) lines.push_back(squeeze(line));
    else if (!line.empty() && !lines.empty()) lines.back() += " " + squeeze(line.substr(line.find_first_not_of(' ')));
  }
  return lines;
}

// The flags a text names: -x or --word, not inside a word.
std::set<std::string> flags_in(const std::string& s) {
  std::set<std::string> out;
  static const std::regex flag(R"((^|[\s\[(|])(--?[a-z][a-z0-9-]*))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), flag); it != std::sregex_iterator(); ++it) out.insert((*it)[2]);
  return out;
}

struct Help {
  std::string usage;                              // "zip CMD ..." on one line
  std::vector<std::vector<std::string>> options;  // each option's spellings
};

Help help_of(const std::string& cmd) {
  auto r = ztest::run_zip(cmd + " --help");
  REQUIRE_MESSAGE(r.status == 0, cmd << ": " << r.err);
  REQUIRE(r.out.rfind("usage: zip ", 0) == 0);
  Help h;
  h.usage = squeeze(r.out.substr(7, r.out.find('\n') - 7));
  std::istringstream in(r.out.substr(r.out.find("\noptions:\n") + 10));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> spellings;
    for (std::string w; words >> w && w[0] == '-';) spellings.push_back(w);
    if (!spellings.empty() && spellings[0] != "--help") h.options.push_back(spellings);
  }
  return h;
}

}  // namespace

TEST_CASE("cli docs: README's command synopsis equals the --help usage lines; usage flags are options") {
  const std::vector<std::string> commands = {"convert", "inspect", "run",   "tokenize", "slice",   "eval",
                                             "bench",   "bench --train", "train", "distill", "compress",
                                             "quantize", "importance", "export", "verify", "plot"};
  std::vector<std::string> synopsis = readme_synopsis();
  std::multiset<std::string> unmatched(synopsis.begin(), synopsis.end());
  REQUIRE(unmatched.count("zip --version") == 1);  // checked by the --version test
  unmatched.erase("zip --version");
  for (const std::string& cmd : commands) {
    INFO("zip " << cmd);
    Help h = help_of(cmd);
    CHECK_MESSAGE(unmatched.count(h.usage) == 1, "README lacks: " << h.usage);
    if (unmatched.count(h.usage)) unmatched.erase(unmatched.find(h.usage));
    std::set<std::string> known = {"--help"};
    for (auto& o : h.options) known.insert(o.begin(), o.end());
    std::set<std::string> named = flags_in(h.usage);
    for (const std::string& f : named) CHECK_MESSAGE(known.count(f) == 1, "usage names " << f << ", not an option");
    if (h.usage.find("[options]") == std::string::npos)
      for (auto& o : h.options) {
        bool listed = false;
        for (auto& s : o) listed = listed || named.count(s);
        CHECK_MESSAGE(listed, "usage line without [options] omits " << o[0]);
      }
  }
  for (const std::string& extra : unmatched) FAIL_CHECK("README synopsis line matches no command's usage: " << extra);
  // zip --help lists the same commands.
  auto top = ztest::run_zip("--help");
  REQUIRE(top.status == 0);
  for (const std::string& cmd : commands)
    if (cmd.find(' ') == std::string::npos) CHECK_HAS(top.out, "\n  " + cmd + " ");
}

TEST_CASE("cli: zip --version names the version, the commit, the compiler and the SIMD level") {
  auto r = ztest::run_zip("--version");
  REQUIRE(r.status == 0);
  CHECK(std::regex_search(r.out, std::regex(R"(^zip \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40}(-dirty)?|unknown)\)\n)")));
  CHECK_HAS(r.out, "\ncompiler: ");
  CHECK(std::regex_search(r.out, std::regex(R"(\nSIMD: (AVX-512|AVX2|scalar))")));
  CHECK(r.err.empty());
  CHECK(ztest::run_zip("-V").out == r.out);
}
