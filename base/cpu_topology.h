// How many threads to use by default: the physical cores this process may run on (its CPU
// affinity, one hardware thread per core), as llama.cpp does. Hyper-threads share a core's
// execution units, and on a busy machine more threads than cores slow decoding down.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace zip {

// A Linux CPU list ("0-3,8,10-11") as CPU numbers; nullopt if malformed.
std::optional<std::vector<int>> parse_cpu_list(const std::string& s);

// The physical cores among `allowed` CPUs: `siblings(cpu)` returns that CPU's
// topology/thread_siblings_list ("" when unknown). A core counts once, however many of its
// hardware threads are allowed; a CPU whose siblings are unknown counts as its own core.
int count_physical_cores(const std::vector<int>& allowed, const std::function<std::string(int)>& siblings);

// The default thread count: physical cores in this process's affinity mask (sched_getaffinity +
// /sys/devices/system/cpu/cpuN/topology/thread_siblings_list), else the affinity count, else
// hardware_concurrency, at least 1. Computed once.
int default_thread_count();

}  // namespace zip
