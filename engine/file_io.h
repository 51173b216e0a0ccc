// File access: read-only memory maps (zero-copy weights), whole-file reads with clear errors,
// and atomic writes (temp file + fsync + rename) so a killed process never leaves a
// half-written output.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zip {

// A read-only mapping of a whole regular file. Empty files map to size 0, data nullptr.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Throws a clear error unless `path` is an existing regular file.
void require_regular_file(const std::string& path);
bool is_directory(const std::string& path);
bool file_exists(const std::string& path);
std::string read_file(const std::string& path);  // whole file as bytes

// Writes to PATH.tmp.<pid>, then fsyncs and renames onto PATH on commit(); the temp file is
// removed if the writer is destroyed without commit(). Before writing, removes the PATH.tmp.<pid>
// files that killed writers of PATH left behind (remove_stale_temp_files).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void write_zeros(size_t n);
  uint64_t offset() const { return offset_; }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uint64_t offset_ = 0;
  bool committed_ = false;
};

// Removes PATH.tmp.<pid> files of writers that no longer run (kill(pid, 0) fails with ESRCH);
// files of live processes, this one included, are kept. Returns how many were removed.
int remove_stale_temp_files(const std::string& path);

// Atomically replaces `path` with `contents`.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace zip
