#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace zip {

namespace {

std::string hms(double s) {
  int t = int(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, int64_t total) : Progress(std::move(label), total, Options{}) {}

Progress::Progress(std::string label, int64_t total, Options o)
    : label_(std::move(label)), total_(total), opt_(std::move(o)), tty_(opt_.tty.value_or(::isatty(2) == 1)) {
  start_ = now();
}

Progress::~Progress() { finish(); }

double Progress::now() const {
  if (opt_.clock) return opt_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Progress::emit(const std::string& s) {
  if (opt_.sink) return opt_.sink(s);
  std::fputs(tty_ ? s.c_str() : (s + "\n").c_str(), stderr);
  std::fflush(stderr);
}

// "40/120 (33 %), 0:10 elapsed, ETA 0:20": no ETA before the rate can be estimated.
std::string Progress::counts(int64_t done, double el, const std::string& note) const {
  const int64_t here = done - opt_.resumed_at;  // done by this process
  const double rate = el >= kRateAfterS && here > 0 ? double(here) / el : 0;
  const std::string eta = rate > 0 && total_ > 0 ? hms(double(total_ - done) / rate) : "?";
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.0f", total_ > 0 ? 100.0 * double(done) / double(total_) : 0.0);
  std::string s = std::to_string(done) + "/" + std::to_string(total_) + " (" + pct + " %), " + hms(el) + " elapsed";
  if (done < total_) s += ", ETA " + eta;
  if (tty_) {
    char r[48];
    if (rate > 0) std::snprintf(r, sizeof r, ", %.1f/s", rate);
    s += rate > 0 ? r : "";
  }
  return note.empty() ? s : s + ", " + note;
}

void Progress::update(int64_t done, const std::string& note) {
  if (finished_) return;
  done_ = done;
  const double t = now(), el = t - start_;
  if (tty_) {
    if (t - last_ < 0.1 && done < total_) return;
    last_ = t;
    emit("\r" + label_ + " " + counts(done, el, note) + "   ");
    return;
  }
  if (el < kQuietS || (logged_ && t - last_ < opt_.log_interval_s) || done >= total_) return;
  last_ = t, logged_ = true;
  emit(label_ + ": " + counts(done, el, note));
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  const double el = now() - start_;
  if (tty_) {
    emit("\r\033[K");
  } else if (logged_ || el >= kQuietS) {
    emit(label_ + ": " + (done_ >= total_ ? "done, " : "stopped at ") + counts(done_, el, ""));
  }
}

}  // namespace zip
