// Progress with an ETA for long work, on stderr.
// - On a terminal: one line redrawn at most ~10 times a second; the rate and ETA appear once the
//   phase has run long enough to estimate them (kRateAfterS), not from the first update.
// - Elsewhere (logs, pipes): plain lines, one when the phase has run kQuietS (phases shorter than
//   that print nothing, so quick commands keep clean logs), then one every log_interval_s and
//   one at the end: "label: 40/120 (33 %), 0:10 elapsed, ETA 0:20".
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace zip {

class Progress {
 public:
  struct Options {
    std::optional<bool> tty;                        // default: whether stderr is a terminal
    double log_interval_s = 10;                     // plain lines: seconds between them
    std::function<double()> clock;                  // seconds, any origin; default: steady_clock
    std::function<void(const std::string&)> sink;   // default: stderr (plain lines get a newline)
    int64_t resumed_at = 0;  // units an earlier process did (a resumed run): not in the rate or the ETA
  };
  static constexpr double kQuietS = 1.0, kRateAfterS = 1.0;

  Progress(std::string label, int64_t total);
  Progress(std::string label, int64_t total, Options o);
  ~Progress();
  // `note` (e.g. a throughput) is shown after the ETA.
  void update(int64_t done, const std::string& note = "");
  void finish();

 private:
  double now() const;
  std::string counts(int64_t done, double elapsed, const std::string& note) const;
  void emit(const std::string& s);
  std::string label_;
  int64_t total_, done_ = 0;
  Options opt_;
  bool tty_, finished_ = false, logged_ = false;
  double start_ = 0, last_ = -1e300;
};

}  // namespace zip
