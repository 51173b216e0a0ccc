#include "compress/run_state.h"

#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

namespace fs = std::filesystem;
using nlohmann::json;

FileCheck check_file(const std::string& out_dir, const std::string& name) {
  FileCheck c{name, -1, 0};
  std::ifstream in(fs::path(out_dir) / name, std::ios::binary);
  if (!in) return c;
  std::vector<char> buf(1 << 20);
  int64_t bytes = 0;
  uint32_t crc = 0;
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    const std::streamsize n = in.gcount();
    crc = crc32c(buf.data(), size_t(n), crc), bytes += n;
  }
  if (in.bad()) return c;
  c.bytes = bytes, c.crc32c = crc;
  return c;
}

json RunState::to_json() const {
  json ms = json::array();
  for (const FinishedMember& m : members) {
    json files = json::array();
    for (const FileCheck& f : m.files) files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", f.crc32c}});
    ms.push_back({{"report", m.report}, {"files", files}});
  }
  return {{"version", 1}, {"complete", complete}, {"command", command}, {"stages", stages}, {"members", ms}};
}

RunState RunState::from_json(const json& j) {
  RunState s;
  try {
    ZIP_CHECK(j.at("version").get<int>() == 1, "unknown version {}", j.at("version").dump());
    s.complete = j.at("complete").get<bool>();
    s.command = j.at("command");
    s.stages = j.at("stages");
    for (const json& m : j.at("members")) {
      FinishedMember f{m.at("report"), {}};
      for (const json& x : m.at("files"))
        f.files.push_back({x.at("name").get<std::string>(), x.at("bytes").get<int64_t>(), x.at("crc32c").get<uint32_t>()});
      s.members.push_back(std::move(f));
    }
  } catch (const json::exception& e) {
    fail("run state: {}", e.what());
  }
  return s;
}

std::string run_state_path(const std::string& out_dir) { return (fs::path(out_dir) / "run-state.json").string(); }

std::optional<RunState> load_run_state(const std::string& out_dir) {
  const std::string path = run_state_path(out_dir);
  if (!file_exists(path)) return std::nullopt;
  try {
    return RunState::from_json(json::parse(read_file(path)));
  } catch (const json::exception& e) {
    fail("{}: damaged ({}); remove it to start the run over", path, e.what());
  } catch (const Error& e) {
    fail("{}: damaged ({}); remove it to start the run over", path, e.what());
  }
}

void save_run_state(const std::string& out_dir, const RunState& s) {
  write_file_atomic(run_state_path(out_dir), s.to_json().dump(1));
}

void require_same_command(const std::optional<RunState>& previous, const json& now, const std::string& out_dir) {
  if (!previous) return;
  const std::string diff = command_difference(previous->command, now);
  if (!diff.empty())
    throw UsageError(fmt::format("--resume: {} was written by another command ({} differs); run it as before, or choose another -o",
                                 printable(run_state_path(out_dir)), diff));
}

std::string command_difference(const json& recorded, const json& now) {
  if (recorded == now) return "";
  if (!recorded.is_object() || !now.is_object()) return "the command";
  for (const auto& [k, v] : now.items()) {
    if (!recorded.contains(k)) return k;
    if (recorded[k] != v) {
      const std::string inner = command_difference(recorded[k], v);
      return inner.empty() || inner == "the command" ? k : k + "." + inner;
    }
  }
  for (const auto& [k, v] : recorded.items())
    if (!now.contains(k)) return k;
  return "the command";
}

bool files_intact(const std::string& out_dir, const FinishedMember& m) {
  for (const FileCheck& f : m.files) {
    const FileCheck now = check_file(out_dir, f.name);
    if (now.bytes != f.bytes || now.crc32c != f.crc32c) return false;
  }
  return true;
}

void remove_dead_temp_files(const std::string& out_dir, const std::function<void(const std::string&)>& log) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(out_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || !it->is_regular_file(ec)) continue;
    const std::string pid = name.substr(at + 5);
    if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    // Signal 0 checks that the process exists; EPERM means it does (another user's).
    if (::kill(pid_t(std::stol(pid)), 0) == 0 || errno == EPERM) continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) log(fmt::format("removed {}, left by a run that was killed", printable(it->path().string())));
  }
}

}  // namespace zip
