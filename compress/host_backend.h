// The backend of the compressor's host-side stages: calibration statistics, held-out losses and
// evaluation. They read activations through ForwardObserver callbacks that see host memory, so
// they run on the CPU whatever the deployment environment's device (timing alone goes through
// Env.device, compress/latency.h). Threads: CompressOptions::threads, passed down by the pipeline.
#pragma once
#include <memory>

#include "engine/backend_registry.h"

namespace zip {

inline std::unique_ptr<Backend> make_host_backend(int threads) { return make_backend("cpu", threads); }

}  // namespace zip
