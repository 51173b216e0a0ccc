// Command-line parsing for the zip subcommands: declared options, `--help`, and one-line usage
// errors (exit code 2) for unknown flags, missing or malformed values.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace zip {
class Backend;
}

namespace zip::cli {

struct Option {
  std::string names;     // "-n,--n-predict" (comma-separated spellings; the first is canonical)
  std::string value;     // metavariable, e.g. "N"; empty for a flag. An empty value given is a usage
                         // error unless the metavariable is "TEXT" (free text such as a prompt).
  std::string help;
};

class Args {
 public:
  Args(std::string command, std::string usage, std::string summary, std::vector<Option> options);
  // Parses argv after the subcommand. Returns false if --help was printed (exit 0).
  bool parse(int argc, char** argv);

  bool has(const std::string& name) const;
  std::string str(const std::string& name, const std::string& def = "") const;  // the last value given
  std::vector<std::string> all(const std::string& name) const;                   // every value, in order
  long long integer(const std::string& name, long long def, long long min, long long max) const;
  double number(const std::string& name, double def, double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // Requires between min and max positional arguments.
  void expect_positional(size_t min, size_t max, const char* what) const;
  std::string help() const;
  const std::string& command() const { return command_; }

 private:
  const Option* find(const std::string& spelling) const;
  static std::string canonical(const Option& o);
  std::string command_, usage_, summary_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positional_;
};

// Threads by default: the physical cores this process may run on (base/cpu_topology.h).
int default_threads();

// ---- --device and -t, spelled and checked the same way by every command ----------------------------
// The two options, for a command's option list.
Option device_option();
// --act-terms 1|2: 8-bit terms per activation in quantized matmuls (kernels/cpu/quant_kernels.h),
// for the commands that run quantized weights (eval, bench, run).
Option act_terms_option();
Option threads_option(const char* help = "CPU threads (default: the physical cores this process may use)");
// The device and thread count given (defaults: "cpu", default_threads()). An unknown device
// name is a UsageError ("zip CMD: --device: unknown device ..."; exit 2), raised before any file
// is read. --act-terms, where the command has it, is checked and applied here.
struct DeviceArg {
  std::string device = "cpu";
  int threads = 1;
};
DeviceArg device_arg(const Args& args);
// The backend for the device given (engine/backend_registry.h: make_backend). A device this build
// or machine cannot use is a zip::Error of one line (exit 1): e.g. "--device cuda: this build of
// zip has no CUDA backend (build with make CUDA=1)".
std::unique_ptr<Backend> backend_arg(const DeviceArg& d);
// "cpu, 4 threads", "ref", "cuda:0": which backend ran, for timing lines.
std::string backend_label(const Backend& b, const DeviceArg& d);
// Commands whose work runs on the CPU only (training): --device cpu passes; any other known
// device is refused with one line saying why (UsageError, exit 2).
void require_cpu_device(const Args& args, const DeviceArg& d, const char* why);

// The items of a comma-separated value, empty ones kept ("1,,2" → "1", "", "2") so callers can
// reject them with their own message.
std::vector<std::string> split_list(const std::string& s);
// TTY-aware stderr progress and number formatting shared by commands.
bool stderr_is_tty();
bool stdout_is_tty();

}  // namespace zip::cli
