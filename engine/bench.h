// Throughput measurement on this engine, the latency the compressor optimises: real forward
// passes over fresh contexts (no cached results), warm-up runs first, then the median and
// min–max of repeated runs. Decoders: prefill of `prompt` tokens per sequence, then `gen` decode
// steps, for each batch size (independent sequences decoded together). Encoders: prefill only.
#pragma once
#include <cstdint>
#include <vector>

#include "base/stats.h"
#include "engine/backend.h"
#include "engine/model.h"

namespace zip {

struct BenchOptions {
  int prompt = 128;
  int gen = 64;
  std::vector<int> batches = {1};
  int reps = 5;
  int warmup = 1;
  uint64_t seed = 1;
};

// Median and min–max over the repetitions (base/stats.h); the same struct as the compressor's
// latency Measurement.
using BenchStat = RepStats;

struct BenchResult {
  int batch = 1;
  BenchStat prefill_tps;  // prompt tokens per second (all sequences)
  BenchStat decode_tps;   // generated tokens per second (all sequences); 0 for encoders
};

std::vector<BenchResult> run_bench(const Model& model, Backend& backend, const BenchOptions& opt);
// Peak resident memory of this process so far, in bytes.
int64_t peak_rss_bytes();

}  // namespace zip
