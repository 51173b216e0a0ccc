#include "tests/test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/file_io.h"

namespace ztest {

std::string shared_dir() {
  if (const char* s = std::getenv("ZIP_SHARED"); s && *s) return s;
  return "../shared";
}

std::string shared(const std::string& rel) { return shared_dir() + "/" + rel; }

nlohmann::json load_json(const std::string& path) { return nlohmann::json::parse(zip::read_file(path)); }

std::vector<float> load_f32(const std::string& path) {
  std::string bytes = zip::read_file(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// Every directory made by temp_dir() is removed when the test process exits.
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    for (auto& d : dirs) std::system(("rm -rf '" + d + "'").c_str());
  }
};
static TempDirs g_temp_dirs;

std::string temp_dir() {
  static int counter = 0;
  const char* base = std::getenv("TMPDIR");
  std::string dir = std::string(base && *base ? base : "/tmp") + "/zip-test-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++);
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  g_temp_dirs.dirs.push_back(dir);
  return dir;
}

double max_rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  REQUIRE(a.size() == ref.size());
  double m = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    m = std::max(m, std::fabs(double(a[i]) - double(ref[i])));
    r = std::max(r, std::fabs(double(ref[i])));
  }
  return r > 0 ? m / r : m;
}

std::string zip_bin() {
  if (const char* s = std::getenv("ZIP_BIN"); s && *s) return s;
  return "build/zip";
}

static std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CmdResult run_cmd(const std::string& cmdline) {
  std::string dir = temp_dir();
  std::string full = cmdline + " >'" + dir + "/out' 2>'" + dir + "/err' </dev/null";
  int st = std::system(full.c_str());
  CmdResult r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  r.out = slurp(dir + "/out");
  r.err = slurp(dir + "/err");
  std::system(("rm -rf '" + dir + "'").c_str());
  return r;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CmdResult run_zip(const std::string& args) { return run_cmd("'" + zip_bin() + "' " + args); }

}  // namespace ztest
