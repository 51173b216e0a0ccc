#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace zip {

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), tty_(::isatty(2) == 1), start_(std::chrono::steady_clock::now()),
      last_(start_ - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

static std::string hms(double s) {
  int t = int(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

void Progress::update(int64_t done, const std::string& note) {
  if (!tty_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
  last_ = now;
  double el = std::chrono::duration<double>(now - start_).count();
  double rate = el > 0 ? double(done) / el : 0;
  std::string eta = rate > 0 && total_ > 0 ? hms(double(total_ - done) / rate) : "?";
  std::fprintf(stderr, "\r%s %lld/%lld (%.0f%%)  %.1f/s  elapsed %s  ETA %s%s%s   ", label_.c_str(), (long long)done,
               (long long)total_, total_ > 0 ? 100.0 * double(done) / double(total_) : 0.0, rate, hms(el).c_str(),
               eta.c_str(), note.empty() ? "" : "  ", note.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (!tty_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace zip
