// OUT_DIR/run-state.json: what a `zip compress` run has finished, so that `--resume` continues a
// killed run instead of starting over. Written atomically after every stage and member:
//
//   {"version": 1, "complete": false,
//    "command": {...},                  what must not change between the run and its resume
//    "stages":  {"latency_table": {...}, "dense": {...}},   finished stages' results, by name
//    "members": [{"report": {...}, "files": [{"name", "bytes", "crc32c"}]}, ...]}
//
// A finished member is kept on resume only when its files still have the recorded size and
// CRC-32C; members finish in order, so the kept ones are a prefix and the rest are rebuilt.
// Stages are named entries so that later drivers (gradual pruning with distillation, one entry per
// member before and after distillation, optimizer state) add names, not formats.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zip {

struct FileCheck {
  std::string name;  // inside OUT_DIR
  int64_t bytes = 0;
  uint32_t crc32c = 0;
};
// The size and CRC-32C of OUT_DIR/name as it is now (bytes -1: missing or unreadable).
FileCheck check_file(const std::string& out_dir, const std::string& name);

struct FinishedMember {
  nlohmann::json report;  // its report.json entry
  std::vector<FileCheck> files;
};

struct RunState {
  nlohmann::json command;
  nlohmann::json stages = nlohmann::json::object();
  std::vector<FinishedMember> members;
  bool complete = false;

  nlohmann::json to_json() const;
  static RunState from_json(const nlohmann::json& j);  // zip::Error on a damaged state
};

std::string run_state_path(const std::string& out_dir);
// The state in OUT_DIR (nullopt when there is none); zip::Error when it is damaged.
std::optional<RunState> load_run_state(const std::string& out_dir);
void save_run_state(const std::string& out_dir, const RunState& s);

// "" when `now` may resume `recorded`; else the first key whose value differs, for the message.
std::string command_difference(const nlohmann::json& recorded, const nlohmann::json& now);
// --resume: UsageError naming the differing option when `previous` (if any) was written by another command.
void require_same_command(const std::optional<RunState>& previous, const nlohmann::json& now, const std::string& out_dir);

// Whether every file of `m` is still what was recorded.
bool files_intact(const std::string& out_dir, const FinishedMember& m);

// Removes the `*.tmp.<pid>` files (atomic writes cut short) under `dir` (its subfolders too: the
// default database) whose process is gone; logs each.
void remove_dead_temp_files(const std::string& dir, const std::function<void(const std::string&)>& log);

}  // namespace zip
