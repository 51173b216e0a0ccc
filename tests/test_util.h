// Shared helpers for tests: where the shared data lives, golden arrays, temp dirs, running the CLI.
#pragma once
#include <doctest/doctest.h>

#include "engine/error.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

// Checks that `haystack` (e.g. an error message) contains `needle`, printing it on failure.
#define CHECK_HAS(haystack, needle)              \
  do {                                           \
    std::string h_ = (haystack);                 \
    INFO("message: " << h_);                     \
    CHECK(h_.find(needle) != std::string::npos); \
  } while (0)

namespace ztest {

// $ZIP_SHARED, else ../shared relative to the repository root (the tests run from the root).
std::string shared_dir();
std::string shared(const std::string& rel);  // shared_dir() + "/" + rel
nlohmann::json load_json(const std::string& path);
std::vector<float> load_f32(const std::string& path);
// A fresh empty directory under $TMPDIR for this test process.
std::string temp_dir();
// Max |a-b| / max |ref|.
double max_rel_err(const std::vector<float>& a, const std::vector<float>& ref);

struct CmdResult {
  int status;  // exit code, or 128+signal
  std::string out, err;
};
// Runs the zip CLI ($ZIP_BIN, default build/zip) with a shell-quoted argument string.
CmdResult run_zip(const std::string& args);
CmdResult run_cmd(const std::string& cmdline);
// Single-quotes a string for the shell.
std::string shell_quote(const std::string& s);
std::string zip_bin();

// Marks the running test case as skipped (no GPU, no network): the summary line counts it as
// skipped, not passed (tests/main.cpp). Use through SKIP_TEST, which also prints why and returns.
void mark_skipped();
int skipped_count();
#define SKIP_TEST(why)                 \
  do {                                 \
    MESSAGE("skipped: " << why);       \
    ztest::mark_skipped();             \
    return;                            \
  } while (0)

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}
// A failing command: exit 1 or 2, one line on stderr, nothing on stdout.
inline void check_clean_failure(const CmdResult& r) {
  CHECK((r.status == 1 || r.status == 2));
  CHECK(count_lines(r.err) == 1);
  CHECK(r.out.empty());
  MESSAGE(r.err);
}

}  // namespace ztest
