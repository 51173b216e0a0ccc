// Progress with an ETA for long work, on stderr and only when stderr is a terminal (logs and
// pipes stay clean). Redraws at most ~10 times a second.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace zip {

class Progress {
 public:
  Progress(std::string label, int64_t total);
  ~Progress();
  // `note` (e.g. a throughput) is shown after the ETA.
  void update(int64_t done, const std::string& note = "");
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace zip
