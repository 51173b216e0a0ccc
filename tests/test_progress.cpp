// Progress lines: plain lines for logs on a fake clock (no waiting), and a terminal's first
// updates without a rate estimated from almost no time.
#include <string>
#include <vector>

#include "engine/progress.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

struct Fake {
  double t = 100;  // any origin
  std::vector<std::string> lines;
  Progress::Options options(bool tty) {
    Progress::Options o;
    o.tty = tty;
    o.log_interval_s = 10;
    o.clock = [this] { return t; };
    o.sink = [this](const std::string& s) { lines.push_back(s); };
    return o;
  }
};

}  // namespace

TEST_CASE("progress for logs: a line once the phase has run a second, every 10 s, and at the end") {
  Fake f;
  {
    Progress p("database", 120, f.options(false));
    p.update(0);
    f.t += 0.5, p.update(2);
    CHECK(f.lines.empty());  // under a second: nothing yet
    f.t += 1.5, p.update(6);  // 2 s: the first line
    REQUIRE(f.lines.size() == 1);
    CHECK(f.lines[0] == "database: 6/120 (5 %), 0:02 elapsed, ETA 0:38");
    f.t += 5, p.update(20);  // 7 s: within the interval
    CHECK(f.lines.size() == 1);
    f.t += 5, p.update(40);  // 12 s: 10 s after the first line
    REQUIRE(f.lines.size() == 2);
    CHECK(f.lines[1] == "database: 40/120 (33 %), 0:12 elapsed, ETA 0:24");
    f.t += 12, p.update(120);
    p.finish();
  }
  REQUIRE(f.lines.size() == 3);
  CHECK(f.lines[2] == "database: done, 120/120 (100 %), 0:24 elapsed");
  for (const std::string& l : f.lines) CHECK(l.find('\r') == std::string::npos);
}

TEST_CASE("progress for logs: a phase shorter than a second prints nothing; one cut short says where it stopped") {
  Fake f;
  {
    Progress p("quick", 10, f.options(false));
    for (int i = 1; i <= 10; i++) f.t += 0.05, p.update(i);
  }
  CHECK(f.lines.empty());
  {
    Progress p("killed", 10, f.options(false));
    f.t += 3, p.update(4);
  }  // destroyed unfinished (an exception)
  REQUIRE(f.lines.size() == 2);
  CHECK(f.lines[1] == "killed: stopped at 4/10 (40 %), 0:03 elapsed, ETA 0:05");
}

TEST_CASE("progress on a terminal: no rate nor ETA from the first instants, then both") {
  Fake f;
  Progress p("search", 1000, f.options(true));
  f.t += 1e-4, p.update(1);  // once showed "2173913.0/s"
  REQUIRE(f.lines.size() == 1);
  CHECK(f.lines[0].find("/s") == std::string::npos);
  CHECK_HAS(f.lines[0], "ETA ?");
  f.t += 1.9999, p.update(500);  // 2 s, 250/s
  REQUIRE(f.lines.size() == 2);
  CHECK_HAS(f.lines[1], "250.0/s");
  CHECK_HAS(f.lines[1], "ETA 0:02");
  p.finish();
  CHECK(f.lines.back() == "\r\033[K");
}

TEST_CASE("progress for logs: a resumed run's ETA counts only the units done since it started") {
  Fake f;
  Progress::Options o = f.options(false);
  o.resumed_at = 64;  // a killed run did 64 of 256
  Progress p("distill", 256, o);
  p.update(64);
  f.t += 20, p.update(66);  // 2 units in 20 s: 10 s each
  REQUIRE(f.lines.size() == 1);
  // 190 units left at 0.1/s: 31:40 (counting the 64 earlier steps as done in 20 s would say 0:58).
  CHECK(f.lines[0] == "distill: 66/256 (26 %), 0:20 elapsed, ETA 31:40");
}
