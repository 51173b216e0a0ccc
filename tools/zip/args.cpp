#include "tools/zip/args.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "base/cpu_topology.h"
#include "engine/backend.h"
#include "engine/backend_registry.h"
#include "engine/error.h"
#include "kernels/cpu/quant_kernels.h"

namespace zip::cli {

Args::Args(std::string command, std::string usage, std::string summary, std::vector<Option> options)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)), options_(std::move(options)) {}

std::string Args::canonical(const Option& o) { return o.names.substr(0, o.names.find(',')); }

const Option* Args::find(const std::string& spelling) const {
  for (auto& o : options_) {
    std::stringstream ss(o.names);
    std::string n;
    while (std::getline(ss, n, ','))
      if (n == spelling) return &o;
  }
  return nullptr;
}

std::string Args::help() const {
  std::string s = "usage: zip " + command_ + " " + usage_ + "\n\n" + summary_ + "\n\noptions:\n";
  for (auto& o : options_) {
    std::string left = "  " + o.names;
    for (auto& c : left)
      if (c == ',') c = ' ';
    if (!o.value.empty()) left += " " + o.value;
    if (left.size() < 26) left.resize(26, ' '); else left += "  ";
    s += left + o.help + "\n";
  }
  s += "  --help                  show this help\n";
  return s;
}

bool Args::parse(int argc, char** argv) {
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      std::string value;
      bool inline_value = false;
      if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        inline_value = true;
      }
      const Option* o = find(a);
      if (!o) throw UsageError(fmt::format("zip {}: unknown option '{}' (see zip {} --help)", command_, a, command_));
      if (o->value.empty()) {
        if (inline_value) throw UsageError(fmt::format("zip {}: option '{}' takes no value", command_, a));
        values_[canonical(*o)] = "1";
      } else {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError(fmt::format("zip {}: option '{}' needs a value {}", command_, a, o->value));
          value = argv[++i];
        }
        // An empty path, number or name is never meant; only free text (-p '') may be empty.
        if (value.empty() && o->value != "TEXT")
          throw UsageError(fmt::format("zip {}: option '{}' needs a non-empty {}", command_, a, o->value));
        values_[canonical(*o)] = value;
        all_values_[canonical(*o)].push_back(value);
      }
    } else {
      positional_.push_back(a);
    }
  }
  return true;
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::str(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

long long Args::integer(const std::string& name, long long def, long long min, long long max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(fmt::format("zip {}: {} expects an integer, got '{}'", command_, name, s));
  if (v < min || v > max)
    throw UsageError(fmt::format("zip {}: {} must be in [{}, {}], got {}", command_, name, min, max, v));
  return v;
}

double Args::number(const std::string& name, double def, double min, double max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  const std::string& s = it->second;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v))
    throw UsageError(fmt::format("zip {}: {} expects a number, got '{}'", command_, name, s));
  if (v < min || v > max)
    throw UsageError(fmt::format("zip {}: {} must be in [{}, {}], got {}", command_, name, min, max, v));
  return v;
}

void Args::expect_positional(size_t min, size_t max, const char* what) const {
  if (positional_.size() < min)
    throw UsageError(fmt::format("zip {}: missing {} (usage: zip {} {})", command_, what, command_, usage_));
  if (positional_.size() > max)
    throw UsageError(fmt::format("zip {}: unexpected argument '{}' (usage: zip {} {})", command_, positional_[max],
                                 command_, usage_));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    size_t comma = s.find(',', at);
    out.push_back(s.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

int default_threads() { return default_thread_count(); }

Option device_option() { return {"--device", "DEV", "cpu (default), ref, cuda or cuda:N (cuda: make CUDA=1 builds)"}; }

Option act_terms_option() {
  return {"--act-terms", "1|2",
          "quantized weights: 8-bit terms per activation, 1 (default, llama.cpp's arithmetic) or 2 (the f32 "
          "perplexity of the same weights, at about 1.4x decode and 2x prefill integer work)"};
}

Option threads_option(const char* help) { return {"-t,--threads", "N", help}; }

DeviceArg device_arg(const Args& args) {
  DeviceArg d;
  d.device = args.str("--device", "cpu");
  try {
    parse_device(d.device);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("zip {}: --device: {}", args.command(), e.what()));
  }
  d.threads = int(args.integer("-t", default_threads(), 1, 1024));
  const std::string terms = args.str("--act-terms", "1");
  if (terms != "1" && terms != "2")
    throw UsageError(fmt::format("zip {}: --act-terms must be 1 or 2 (got '{}')", args.command(), printable(terms)));
  cpu::set_act_terms(terms == "2" ? cpu::ActTerms::Two : cpu::ActTerms::One);
  return d;
}

std::unique_ptr<Backend> backend_arg(const DeviceArg& d) { return make_backend(d.device, d.threads); }

std::string backend_label(const Backend& b, const DeviceArg& d) {
  const DeviceName n = parse_device(d.device);
  if (n.kind == "cuda") return fmt::format("{}:{}", b.name(), n.index);
  if (n.kind == "cpu") return fmt::format("{}, {} thread{}", b.name(), b.threads(), b.threads() == 1 ? "" : "s");
  return b.name();
}

void require_cpu_device(const Args& args, const DeviceArg& d, const char* why) {
  if (d.device != "cpu")
    throw UsageError(fmt::format("zip {}: --device {}: {}; use --device cpu", args.command(), d.device, why));
}

bool stderr_is_tty() { return ::isatty(2) == 1; }
bool stdout_is_tty() { return ::isatty(1) == 1; }

}  // namespace zip::cli
