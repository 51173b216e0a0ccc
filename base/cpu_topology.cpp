#include "base/cpu_topology.h"

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <thread>

namespace zip {

std::optional<std::vector<int>> parse_cpu_list(const std::string& text) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  std::vector<int> out;
  if (s.empty()) return out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t comma = s.find(',', at);
    std::string item = s.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t dash = item.find('-');
    auto number = [](const std::string& n) -> int {
      if (n.empty() || n.size() > 6 || !std::all_of(n.begin(), n.end(), ::isdigit)) return -1;
      return std::stoi(n);
    };
    int lo = number(item.substr(0, dash)), hi = dash == std::string::npos ? lo : number(item.substr(dash + 1));
    if (lo < 0 || hi < lo) return std::nullopt;
    for (int c = lo; c <= hi; c++) out.push_back(c);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

int count_physical_cores(const std::vector<int>& allowed, const std::function<std::string(int)>& siblings) {
  // A core is named by the lowest CPU among its hardware threads.
  std::set<int> cores;
  for (int cpu : allowed) {
    auto sib = parse_cpu_list(siblings(cpu));
    if (!sib || sib->empty()) {
      cores.insert(cpu);
      continue;
    }
    cores.insert(*std::min_element(sib->begin(), sib->end()));
  }
  return int(cores.size());
}

static std::string read_siblings(int cpu) {
  std::ifstream f("/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/thread_siblings_list");
  std::string s;
  std::getline(f, s);
  return s;
}

static int compute_default_threads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    std::vector<int> allowed;
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &set)) allowed.push_back(c);
    if (!allowed.empty()) return std::max(1, count_physical_cores(allowed, read_siblings));
  }
  return std::max(1, int(std::thread::hardware_concurrency()));
}

int default_thread_count() {
  static const int n = compute_default_threads();
  return n;
}

}  // namespace zip
