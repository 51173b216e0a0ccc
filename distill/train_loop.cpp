#include "distill/train_loop.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/progress.h"
#include "engine/train/lr_schedule.h"

namespace zip::distill {

namespace {

constexpr char kCkptMagic[8] = {'Z', 'I', 'P', 'C', 'K', 'P', 'T', '\0'};
constexpr uint64_t kEvalSeed = 0x5eedf00d2024ULL;  // validation windows do not depend on --seed

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

template <typename U>
void put(std::string& s, U v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(U));  // little-endian hosts only (as the engine)
}
template <typename U>
U get(const std::string& s, size_t& at, const std::string& path) {
  if (at + sizeof(U) > s.size()) fail("{}: truncated checkpoint", path);
  U v;
  std::memcpy(&v, s.data() + at, sizeof(U));
  at += sizeof(U);
  return v;
}

// Keeps the log's lines of steps <= `step` (a resumed run rewrites what follows). Lines a kill
// cut short do not parse and are dropped.
void truncate_log(const std::string& path, int step) {
  if (!file_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", 0) <= step) kept += line + "\n";
    } catch (const std::exception&) {
    }
  }
  write_file_atomic(path, kept);
}

}  // namespace

void sample_windows(const TokenData& d, uint64_t seed, uint64_t step, uint64_t micro, int B, int T,
                    std::vector<int>& tokens, std::vector<int>& targets) {
  size_t n = d.n_tokens();
  if (n < size_t(T) + 1) fail("the data has {} tokens, fewer than one window of --seq {} + 1", n, T);
  uint64_t span = n - size_t(T);  // window starts 0..n-T-1
  tokens.resize(size_t(B) * T), targets.resize(size_t(B) * T);
  for (int b = 0; b < B; b++) {
    uint64_t h = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ (micro << 20 | uint64_t(b)));
    size_t start = size_t(h % span);
    for (int t = 0; t < T; t++) {
      tokens[size_t(b) * T + t] = d.ids[start + size_t(t)];
      targets[size_t(b) * T + t] = d.ids[start + size_t(t) + 1];
    }
  }
}

void save_checkpoint(const std::string& dir, int step, const nlohmann::json& meta, const std::vector<Blob>& blobs) {
  std::filesystem::create_directories(dir);
  char name[32];
  std::snprintf(name, sizeof name, "ckpt-%08d.bin", step);
  std::string m = meta.dump();
  std::string head(kCkptMagic, 8);
  put<uint32_t>(head, 1);
  put<uint32_t>(head, uint32_t(step));
  put<uint32_t>(head, uint32_t(m.size()));
  head += m;
  put<uint32_t>(head, uint32_t(blobs.size()));
  AtomicFile f(dir + "/" + name);
  uint32_t crc = crc32c(head.data(), head.size());
  f.write(head.data(), head.size());
  for (auto& b : blobs) {
    std::string bh;
    put<uint32_t>(bh, uint32_t(b.name.size()));
    bh += b.name;
    put<uint64_t>(bh, uint64_t(b.data.size()));
    crc = crc32c(bh.data(), bh.size(), crc);
    crc = crc32c(b.data.data(), b.data.size() * sizeof(float), crc);
    f.write(bh.data(), bh.size());
    f.write(b.data.data(), b.data.size() * sizeof(float));
  }
  f.write(&crc, 4);
  f.commit();
  write_file_atomic(dir + "/latest", std::string(name) + "\n");
  // Older checkpoints (and temp files a killed run left) go only after `latest` names the new one.
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    std::string fn = e.path().filename().string();
    if ((fn.rfind("ckpt-", 0) == 0 && fn != name) || fn.rfind("latest.tmp.", 0) == 0) std::filesystem::remove(e.path());
  }
}

std::optional<CheckpointStatus> checkpoint_status(const std::string& dir) {
  if (!file_exists(dir + "/latest")) return std::nullopt;
  std::string name = read_file(dir + "/latest");
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  std::ifstream f(dir + "/" + name, std::ios::binary);
  char head[20];
  if (name.empty() || name.find('/') != std::string::npos || !f.read(head, sizeof head) ||
      std::memcmp(head, kCkptMagic, 8) != 0)
    return std::nullopt;
  uint32_t step, mlen;
  std::memcpy(&step, head + 12, 4);
  std::memcpy(&mlen, head + 16, 4);
  std::string meta(std::min<uint32_t>(mlen, 1 << 20), '\0');
  if (!f.read(meta.data(), std::streamsize(meta.size()))) return std::nullopt;
  CheckpointStatus s;
  s.step = int(step);
  auto j = nlohmann::json::parse(meta, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("recipe") && j["recipe"].is_object() && j["recipe"].contains("steps") &&
      j["recipe"]["steps"].is_number_integer())
    s.steps = j["recipe"]["steps"].get<int>();
  return s;
}

int load_checkpoint(const std::string& dir, nlohmann::json& meta, std::vector<Blob>& blobs) {
  if (!is_directory(dir)) fail("--resume {}: not a directory", dir);
  if (!file_exists(dir + "/latest")) fail("--resume {}: no checkpoint there (no 'latest' file)", dir);
  std::string name = read_file(dir + "/latest");
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  if (name.empty() || name.find('/') != std::string::npos) fail("{}/latest: malformed", dir);
  std::string path = dir + "/" + name;
  if (!file_exists(path)) fail("{}: checkpoint named by {}/latest is missing", path, dir);
  std::string s = read_file(path);
  if (s.size() < 24 || std::memcmp(s.data(), kCkptMagic, 8) != 0) fail("{}: not a zip checkpoint", path);
  uint32_t stored;
  std::memcpy(&stored, s.data() + s.size() - 4, 4);
  if (stored != crc32c(s.data(), s.size() - 4)) fail("{}: corrupt checkpoint (checksum mismatch)", path);
  size_t at = 8;
  if (get<uint32_t>(s, at, path) != 1) fail("{}: unsupported checkpoint version", path);
  int step = int(get<uint32_t>(s, at, path));
  uint32_t mlen = get<uint32_t>(s, at, path);
  if (at + mlen > s.size()) fail("{}: truncated checkpoint", path);
  meta = nlohmann::json::parse(s.substr(at, mlen));
  at += mlen;
  uint32_t nb = get<uint32_t>(s, at, path);
  blobs.clear();
  for (uint32_t i = 0; i < nb; i++) {
    Blob b;
    uint32_t nl = get<uint32_t>(s, at, path);
    if (at + nl > s.size()) fail("{}: truncated checkpoint", path);
    b.name = s.substr(at, nl);
    at += nl;
    uint64_t n = get<uint64_t>(s, at, path);
    if (n > (s.size() - at) / sizeof(float)) fail("{}: truncated checkpoint", path);
    b.data.resize(n);
    std::memcpy(b.data.data(), s.data() + at, n * sizeof(float));
    at += n * sizeof(float);
    blobs.push_back(std::move(b));
  }
  return step;
}

Blob to_blob(train::TrainOps& ops, std::string name, const float* p, size_t n) {
  Blob b{std::move(name), std::vector<float>(n)};
  ops.to_host(b.data.data(), p, n * sizeof(float));
  return b;
}

void from_blob(train::TrainOps& ops, const std::vector<Blob>& blobs, const std::string& name, float* p, size_t n) {
  for (auto& b : blobs)
    if (b.name == name) {
      if (b.data.size() != n) fail("checkpoint: '{}' has {} values, the model needs {}", name, b.data.size(), n);
      ops.to_device(p, b.data.data(), n * sizeof(float));
      return;
    }
  fail("checkpoint: no '{}' state", name);
}

LoopResult run_loop(const LoopOptions& o, const TokenData& train, const TokenData* val, LoopHooks& h) {
  LoopResult r;
  train::LrSchedule sched;
  sched.peak_lr = o.lr, sched.min_lr = o.min_lr, sched.warmup_steps = o.warmup, sched.total_steps = o.steps;
  int start = 0;
  if (!o.resume_dir.empty()) {
    nlohmann::json meta;
    std::vector<Blob> blobs;
    start = load_checkpoint(o.resume_dir, meta, blobs);
    // The data order and schedule are functions of these: a different value cannot continue.
    // A checkpoint from before --precision was made in f32.
    if (meta["recipe"].is_object() && !meta["recipe"].contains("precision")) meta["recipe"]["precision"] = "f32";
    for (const char* k : {"seed", "batch", "seq", "accum", "steps", "precision"})
      if (meta["recipe"].contains(k) && o.recipe.contains(k) && meta["recipe"][k] != o.recipe[k])
        fail("--resume {}: the checkpoint was made with {} {}, this run asks for {}", o.resume_dir, k,
             meta["recipe"][k].dump(), o.recipe[k].dump());
    h.load_state(blobs, meta);
    if (!o.log_path.empty()) truncate_log(o.log_path, start);
  } else if (!o.log_path.empty()) {
    write_file_atomic(o.log_path, "");
  }
  std::FILE* log = o.log_path.empty() ? nullptr : std::fopen(o.log_path.c_str(), "ab");
  if (!o.log_path.empty() && !log) fail("cannot open log {}: {}", o.log_path, std::strerror(errno));
  r.first_step = start;
  Progress::Options po;
  po.resumed_at = start;  // the steps of the killed run took none of this run's time
  Progress progress(o.label, o.steps, po);
  progress.update(start);
  std::vector<int> tokens, targets;
  auto t_begin = std::chrono::steady_clock::now();
  const int64_t step_tokens = int64_t(o.batch) * o.seq * o.accum;
  for (int step = start; step < o.steps; step++) {
    auto t0 = std::chrono::steady_clock::now();
    h.zero_grad();
    std::map<std::string, double> terms;
    for (int a = 0; a < o.accum; a++) {
      sample_windows(train, o.seed, uint64_t(step), uint64_t(a), o.batch, o.seq, tokens, targets);
      auto t = h.micro(tokens.data(), targets.data(), o.batch, o.seq, 1.0 / o.accum);
      for (auto& [k, v] : t) terms[k] += v / o.accum;
    }
    double lr = sched.at(step);
    double gnorm = h.update(lr);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double loss = terms["loss"];
    if (step == start) r.first_loss = loss;
    r.last_loss = loss;
    r.steps_run++;
    r.tokens_seen = int64_t(step + 1) * step_tokens;
    const double tps = dt > 0 ? double(step_tokens) / dt : 0.0;
    const double mfu = o.flops_per_token > 0 && o.peak_flops > 0 ? o.flops_per_token * tps / o.peak_flops : -1;
    nlohmann::json line = {{"step", step + 1}, {"loss", loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tokens_per_s", tps}};
    if (mfu >= 0) line["mfu"] = mfu;
    for (auto& [k, v] : terms)
      if (k != "loss") line[k] = v;
    if (val && o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || step + 1 == o.steps)) {
      std::map<std::string, double> vt;
      for (int e = 0; e < o.eval_batches; e++) {
        sample_windows(*val, kEvalSeed, 0, uint64_t(e), o.batch, o.seq, tokens, targets);
        for (auto& [k, v] : h.eval(tokens.data(), targets.data(), o.batch, o.seq)) vt[k] += v / o.eval_batches;
      }
      for (auto& [k, v] : vt) line["val_" + k] = v;
      r.val_loss = vt["loss"];
    }
    if (log) {
      std::string s = line.dump() + "\n";
      std::fwrite(s.data(), 1, s.size(), log);
      std::fflush(log);
    }
    if (o.ckpt_every > 0 && ((step + 1) % o.ckpt_every == 0 || step + 1 == o.steps)) {
      nlohmann::json meta = {{"recipe", o.recipe}, {"step", step + 1}};
      auto blobs = h.save_state(meta);
      save_checkpoint(o.ckpt_dir, step + 1, meta, blobs);
    }
    char note[64];
    if (mfu >= 0) std::snprintf(note, sizeof note, "%.0f tok/s, MFU %.1f%%", tps, 100 * mfu);
    else std::snprintf(note, sizeof note, "%.0f tok/s", tps);
    progress.update(step + 1, note);
    if (o.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.sleep_ms));
  }
  progress.finish();
  if (log) std::fclose(log);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_begin).count();
  return r;
}

}  // namespace zip::distill
