// Seconds of wall time since a steady-clock point: the one helper every timed stage uses.
#pragma once
#include <chrono>

namespace zip {

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace zip
