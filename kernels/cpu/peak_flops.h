// The machine's arithmetic peak, measured: the denominator of MFU (zip bench --train, the
// training telemetry). Independent FMA chains in registers, no memory traffic, so the figure is
// the FMA units' throughput at the clock the cores actually run at (turbo, a shared VM's steal).
//   f32:  vfmadd of W-lane vectors (AVX-512 16 lanes, AVX2 8, scalar 1), 2 FLOP per lane;
//   bf16: vdpbf16ps (AVX512_BF16 builds only): 16 f32 lanes each += 2 bf16 products, i.e.
//         32 products = 64 FLOP per instruction (2 FLOP per bf16 pair).
// Each figure is the fastest of `reps` timed runs of ~run_ms after one untimed run.
#pragma once
#include <string>

namespace zip::cpu {

struct PeakOptions {
  int threads = 1;         // the N-thread figures use a pool of this many threads
  int reps = 5;            // timed runs per figure (the fastest reported)
  double run_ms = 12;      // length of one timed run
  bool single_thread = true;  // also measure on 1 thread
  bool bf16 = true;           // also measure vdpbf16ps where the build has it
};

struct PeakFlops {
  std::string isa;  // "avx512", "avx2" or "scalar": the f32 kernel's vector width
  int threads = 1;
  double f32_1t = 0, f32_nt = 0;    // FLOP/s; f32_1t 0 when not measured
  double bf16_1t = 0, bf16_nt = 0;  // FLOP/s; 0 when not measured or not available
  bool has_bf16() const { return bf16_nt > 0; }
  // The MFU denominators: the N-thread figure, never below the 1-thread one (on a shared machine
  // an N-thread run can lose a core to a neighbour; N threads can always do what one does).
  double f32_peak() const { return f32_nt > f32_1t ? f32_nt : f32_1t; }
  double bf16_peak() const { return bf16_nt > bf16_1t ? bf16_nt : bf16_1t; }
};

PeakFlops measure_peak_flops(const PeakOptions& o);

}  // namespace zip::cpu
