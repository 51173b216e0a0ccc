#include <fstream>
#include <sstream>

#include "engine/file_io.h"
#include "tests/test_util.h"
#include "tests/cli_fixtures.h"

namespace ztest {

namespace {
const std::string& fixture_dir() {
  static std::string d = temp_dir();
  return d;
}
}  // namespace

const std::string& cli_stories_zlm() {
  static std::string p = [] {
    std::string path = fixture_dir() + "/stories260K.zlm";
    auto r = run_zip("convert " + q(shared("models/stories260K/stories260K.bin")) + " -o " + q(path));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return path;
  }();
  return p;
}

const std::string& cli_tinystories_tokens() {
  static std::string p = [] {
    std::string path = fixture_dir() + "/tinystories.bin";
    auto r = run_zip("tokenize " + q(cli_stories_zlm()) + " " + q(shared("data/tinystories/TinyStories-valid-subset.txt")) +
                     " --lines -o " + q(path) + " --val-fraction 0.2");
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return path;
  }();
  return p;
}

std::string cli_tinystories_val_tokens() {
  const std::string& train = cli_tinystories_tokens();
  return train.substr(0, train.size() - 4) + ".val.bin";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(zip::read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace ztest
