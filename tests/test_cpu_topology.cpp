// Default threads (base/cpu_topology.h): CPU-list parsing and physical-core counting on fake
// sysfs topology strings, and the CLI reporting the threads it used.
#include <map>
#include <thread>

#include "base/cpu_topology.h"
#include "tests/test_util.h"

using namespace zip;

TEST_CASE("cpu topology: CPU lists parse like the kernel writes them") {
  CHECK(parse_cpu_list("0-3,8,10-11\n") == std::vector<int>{0, 1, 2, 3, 8, 10, 11});
  CHECK(parse_cpu_list("5") == std::vector<int>{5});
  CHECK(parse_cpu_list("") == std::vector<int>{});
  for (const char* bad : {"3-1", "a", "1,,2", "1-", "-1", "0,", "1-2-3"}) {
    INFO(bad);
    CHECK(!parse_cpu_list(bad));
  }
}

TEST_CASE("cpu topology: physical cores in the affinity mask, one per core") {
  // 4 cores with 2 hardware threads each, numbered as on Intel (cpu N and N+4 share a core).
  std::map<int, std::string> smt = {{0, "0,4"}, {1, "1,5"}, {2, "2,6"}, {3, "3,7"},
                                    {4, "0,4"}, {5, "1,5"}, {6, "2,6"}, {7, "3,7"}};
  auto sib = [&](int c) { return smt.count(c) ? smt[c] : std::string(); };
  CHECK(count_physical_cores({0, 1, 2, 3, 4, 5, 6, 7}, sib) == 4);
  CHECK(count_physical_cores({0, 4}, sib) == 1);      // both threads of one core
  CHECK(count_physical_cores({0, 1, 4}, sib) == 2);   // taskset -c 0,1,4
  CHECK(count_physical_cores({6}, sib) == 1);
  // Numbered as on AMD (cpu 2k and 2k+1 share a core), written as ranges.
  std::map<int, std::string> amd = {{0, "0-1"}, {1, "0-1"}, {2, "2-3"}, {3, "2-3"}};
  CHECK(count_physical_cores({0, 1, 2, 3}, [&](int c) { return amd[c]; }) == 2);
  // No SMT, or topology unreadable / malformed: every allowed CPU is its own core.
  CHECK(count_physical_cores({0, 1, 2}, [](int c) { return std::to_string(c); }) == 3);
  CHECK(count_physical_cores({0, 1, 2}, [](int) { return std::string(); }) == 3);
  CHECK(count_physical_cores({0, 1}, [](int) { return std::string("garbage"); }) == 2);
  CHECK(count_physical_cores({}, [](int) { return std::string(); }) == 0);
}

TEST_CASE("cpu topology: the default is at least 1 and at most the hardware threads") {
  int n = default_thread_count();
  CHECK(n >= 1);
  CHECK(unsigned(n) <= std::max(1u, std::thread::hardware_concurrency()));
}

TEST_CASE("cpu topology: run, eval and bench use and report the default threads") {
  const std::string dir = ztest::temp_dir(), m = dir + "/s.zlm";
  auto c = ztest::run_zip("convert " + ztest::shell_quote(ztest::shared("models/stories260K/stories260K.bin")) + " -o " +
                          ztest::shell_quote(m));
  REQUIRE_MESSAGE(c.status == 0, c.err);
  const int n = default_thread_count();
  const std::string label = "cpu, " + std::to_string(n) + (n == 1 ? " thread" : " threads");
  auto r = ztest::run_zip("run " + m + " -n 2 --temp 0");
  REQUIRE(r.status == 0);
  CHECK_HAS(r.err, "| " + label + "\n");
  auto e = ztest::run_zip("eval " + m + " --ppl " +
                          ztest::shell_quote(ztest::shared("data/tinystories/TinyStories-valid-subset.txt")) +
                          " --ctx 32 --max-tokens 64");
  REQUIRE(e.status == 0);
  CHECK(e.err == "zip eval: " + label + "\n");
  auto b = ztest::run_zip("bench " + m + " --prompt 4 --gen 2 --reps 1 --warmup 0 --json");
  REQUIRE(b.status == 0);
  CHECK(nlohmann::json::parse(b.out)["threads"] == n);
}
