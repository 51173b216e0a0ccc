#include "engine/backend_registry.h"

#include <charconv>

#include "engine/cuda.h"
#include "engine/error.h"

namespace zip {

namespace {
// A device name comes from the command line: keep the error one line of plain text.
std::string plain(std::string s) {
  for (char& c : s)
    if (c < 0x20 || c > 0x7e) c = '?';
  return s;
}
}  // namespace

DeviceName parse_device(const std::string& name) {
  if (name == "cpu" || name == "ref") return {name, 0};
  if (name == "cuda") return {"cuda", 0};
  if (name.rfind("cuda:", 0) == 0) {
    const std::string n = name.substr(5);
    int index = -1;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), index);
    if (ec == std::errc() && p == n.data() + n.size() && index >= 0 && !n.empty()) return {"cuda", index};
  }
  throw UsageError(fmt::format("unknown device '{}' (cpu, ref, cuda, cuda:N)", plain(name)));
}

void require_device(const std::string& device, const std::string& flag) {
  const DeviceName d = parse_device(device);
  if (d.kind != "cuda") return;
  std::string why;
  if (!cuda_available(&why)) throw Error(fmt::format("{} {}: {}", flag, plain(device), why));
}

std::unique_ptr<Backend> make_backend(const std::string& device, int threads) {
  const DeviceName d = parse_device(device);
  if (d.kind == "ref") return make_ref_backend();
  if (d.kind == "cpu") return make_cpu_backend(threads);
  require_device(device, "--device");
  try {
    return make_cuda_backend(d.index);
  } catch (const Error& e) {  // e.g. cuda:3 on a one-GPU machine: name the device asked for
    throw Error(fmt::format("--device {}: {}", device, e.what()));
  }
}

std::vector<BackendAvailability> list_backends() {
  std::vector<BackendAvailability> v = {{"cpu", true, ""}, {"ref", true, ""}};
  BackendAvailability c{"cuda", false, ""};
  c.available = cuda_available(&c.why);
  if (c.available) c.why.clear();
  v.push_back(c);
  return v;
}

}  // namespace zip
