// Test runner: doctest with a listener that prints the one summary line CI looks for:
// "N passed, M failed, K skipped". A test case that called ztest::mark_skipped (no GPU, no
// network) and did not fail counts as skipped, not passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>

#include "tests/test_util.h"

namespace {
int g_passed = 0, g_failed = 0;
std::string g_current;                    // the running test case
std::set<std::string> g_skipped, g_fail;  // by name (a case with subcases ends several times)

struct SummaryListener : doctest::IReporter {
  explicit SummaryListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& s) override {
    g_failed = int(s.numTestCasesFailed);
    int skipped = 0;
    for (const auto& name : g_skipped) skipped += g_fail.count(name) == 0;
    g_passed = int(s.numTestCasesPassingFilters) - g_failed - skipped;
  }
  void test_case_start(const doctest::TestCaseData& d) override { g_current = d.m_name; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& s) override {
    if (!s.testCaseSuccess) g_fail.insert(g_current);
  }
  void test_case_exception(const doctest::TestCaseException&) override { g_fail.insert(g_current); }
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("summary", 1, SummaryListener);
}  // namespace

namespace ztest {
void mark_skipped() { g_skipped.insert(g_current); }
int skipped_count() {
  int n = 0;
  for (const auto& name : g_skipped) n += g_fail.count(name) == 0;
  return n;
}
}  // namespace ztest

int main(int argc, char** argv) {
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  std::fflush(stdout);
  std::printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, ztest::skipped_count());
  return rc;
}
