// The speed band a member must land in, relative to its target (compress/guarantee.h).
#pragma once

namespace zip {

// A member counts as meeting its target when measured/target lies in this band.
inline constexpr double kBandLow = 0.97, kBandHigh = 1.10;
inline bool outside_band(double ratio) { return !(ratio >= kBandLow && ratio <= kBandHigh); }
// How far measured/target lies outside the band (0 inside).
inline double band_distance(double ratio) {
  return ratio < kBandLow ? kBandLow - ratio : ratio > kBandHigh ? ratio - kBandHigh : 0.0;
}
// A member in band but further than this from the aim (measured/target) is searched once more
// with its budget corrected, so that it does not give away accuracy for speed nobody asked for.
inline constexpr double kAimTolerance = 0.02;

}  // namespace zip
