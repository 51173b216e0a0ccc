// Device selection: the one place that turns a device name into a Backend. Every command
// (`--device`), the compression environment (`--env cuda:...`) and the public API go through it,
// so a device is spelled, checked and refused the same way everywhere.
//
// Names: "cpu" (threads + SIMD, the default), "ref" (scalar reference, single-threaded),
// "cuda" or "cuda:N" (GPU N; `make CUDA=1` builds only).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace zip {

struct DeviceName {
  std::string kind;  // "cpu", "ref", "cuda"
  int index = 0;     // cuda:N
};
// Parses a device name; zip::UsageError (one line) for an unknown one.
DeviceName parse_device(const std::string& name);

// The backend for `device` with `threads` CPU threads (ignored by ref and cuda). Throws
// zip::Error with one line when the device is not usable here: a CPU-only build says that it has
// no CUDA backend; a CUDA build on a machine without a GPU says that no CUDA device or driver
// was found.
std::unique_ptr<Backend> make_backend(const std::string& device, int threads);

// Checks, without creating a backend, that `device` can be used here; throws what make_backend
// would, naming the flag the device came from (e.g. "--env cuda: ...").
void require_device(const std::string& device, const std::string& flag);

// Every device kind this build knows, with whether it can be used on this machine (and why not).
struct BackendAvailability {
  std::string name;
  bool available = false;
  std::string why;  // empty when available
};
std::vector<BackendAvailability> list_backends();

}  // namespace zip
