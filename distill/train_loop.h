// The training loop shared by `zip train` and `zip distill`: deterministic batches, gradient
// accumulation, warm-up + cosine schedule, per-step telemetry (JSONL + progress bar), periodic
// validation, and atomic checkpoints that let a killed run resume bit for bit.
//
// Determinism: the windows of update `step` are a pure function of (seed, step, micro-batch,
// row), so the only state a checkpoint needs besides the parameters and optimizer moments is the
// step number — the "RNG state and data position" are both derived from it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "distill/token_data.h"
#include "engine/train/adamw.h"
#include "engine/train/train_model.h"

namespace zip::distill {

struct LoopOptions {
  std::string label = "train";   // progress label and log prefix
  int steps = 1000, batch = 8, seq = 128, accum = 1, warmup = 0;
  double lr = 3e-4, min_lr = 3e-5, weight_decay = 0.1, clip = 1.0;
  uint64_t seed = 1;
  int eval_every = 0, eval_batches = 8;  // validation: mean loss over eval_batches fixed batches
  int ckpt_every = 0;                    // 0 = no checkpoints
  std::string ckpt_dir, resume_dir, log_path;
  int sleep_ms = 0;                      // tests only: pause after each step (to be killed mid-run)
  // MFU telemetry (log field "mfu", progress line): model FLOPs per token (distill/throughput.h)
  // and the measured peak FLOP/s of the threads used; either 0: no MFU.
  double flops_per_token = 0, peak_flops = 0;
  nlohmann::json recipe;                 // stored in checkpoints and checked on resume
};

// A named f32 array of the training state (host copy).
struct Blob {
  std::string name;
  std::vector<float> data;
};

struct LoopHooks {
  std::function<void()> zero_grad;
  // One micro-batch: forward, add scale·d(loss) into the gradients. Returns the loss terms
  // (key "loss" is the total).
  std::function<std::map<std::string, double>(const int* tokens, const int* targets, int B, int T, double scale)> micro;
  std::function<double(double lr)> update;  // optimizer step(s); returns the gradient norm
  // Validation loss terms of one batch (no gradients).
  std::function<std::map<std::string, double>(const int* tokens, const int* targets, int B, int T)> eval;
  std::function<std::vector<Blob>(nlohmann::json& meta)> save_state;
  std::function<void(const std::vector<Blob>& blobs, const nlohmann::json& meta)> load_state;
};

struct LoopResult {
  int first_step = 0, steps_run = 0;
  double first_loss = 0, last_loss = 0, val_loss = -1;  // val_loss < 0: never evaluated
  int64_t tokens_seen = 0;
  double seconds = 0;
};

LoopResult run_loop(const LoopOptions& o, const TokenData& train, const TokenData* val, LoopHooks& h);

// Fills B rows of T input tokens and their next-token targets from windows of T+1 tokens,
// positions drawn from (seed, step, micro, row).
void sample_windows(const TokenData& d, uint64_t seed, uint64_t step, uint64_t micro, int B, int T,
                    std::vector<int>& tokens, std::vector<int>& targets);

// Checkpoints: DIR/ckpt-STEP.bin written atomically, then DIR/latest (the file name) atomically,
// then older ckpt files removed. A crash at any point leaves `latest` naming a complete file.
void save_checkpoint(const std::string& dir, int step, const nlohmann::json& meta, const std::vector<Blob>& blobs);
// Reads DIR/latest's checkpoint; throws zip::Error when there is none or it is damaged.
int load_checkpoint(const std::string& dir, nlohmann::json& meta, std::vector<Blob>& blobs);
// The step of DIR/latest's checkpoint and the steps its run asked for (recipe "steps"; 0 if not
// recorded), from the checkpoint's header alone; nullopt when DIR holds no readable checkpoint.
struct CheckpointStatus {
  int step = 0, steps = 0;
  bool finished() const { return steps > 0 && step >= steps; }
};
std::optional<CheckpointStatus> checkpoint_status(const std::string& dir);

// Device <-> host copies of a model's or optimizer's flat buffers.
Blob to_blob(train::TrainOps& ops, std::string name, const float* p, size_t n);
void from_blob(train::TrainOps& ops, const std::vector<Blob>& blobs, const std::string& name, float* p, size_t n);

}  // namespace zip::distill
