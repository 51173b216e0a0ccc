#include "compress/distill_member.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "distill/distill_defaults.h"
#include "distill/distill_loop.h"
#include "distill/token_data.h"
#include "distill/train_loop.h"
#include "engine/config.h"
#include "engine/error.h"
#include "engine/train/train_ops.h"

namespace zip {

namespace fs = std::filesystem;
using namespace zip::distill;

namespace {

// The run's distillation corpus: --distill-data, else the calibration windows as documents.
std::shared_ptr<const TokenData> distill_corpus(CompressRun& r) {
  if (r.distill_data) return r.distill_data;
  auto d = std::make_shared<TokenData>();
  const uint32_t tok_hash = r.dense.tokenizer ? tokenizer_hash(*r.dense.tokenizer) : 0;
  if (!r.opt.distill_data.empty()) {
    *d = load_tokens(r.opt.distill_data);
    if (r.dense.tokenizer && d->tokenizer_hash != tok_hash)
      throw UsageError(fmt::format("--distill-data {}: made with another tokenizer (hash {:08x}, the model's is {:08x})",
                                   printable(r.opt.distill_data), d->tokenizer_hash, tok_hash));
  } else {
    d->tokenizer_hash = tok_hash, d->vocab_size = uint32_t(r.dense.config.vocab_size);
    for (const auto& w : r.calib.train) d->add_document(w);
  }
  r.distill_data = d;
  return d;
}

// The loop's options for `tokens` tokens; its recipe is what a checkpoint must match to resume.
LoopOptions loop_for(const CompressRun& r, const Model& student, int64_t tokens, const std::string& ckpt_dir,
                     const std::string& label) {
  LoopOptions lo;
  lo.batch = r.opt.distill_batch;
  // Encoders: windows as long as the calibration's (whole sentences, 64 tokens, for a model that
  // pools), the inputs they are used on; decoders: 256 tokens.
  const bool encoder = !r.dense.config.info().causal;
  lo.seq = r.opt.distill_seq > 0 ? r.opt.distill_seq : std::min(encoder ? r.opt.calib.len : 256, r.dense.config.max_seq_len);
  lo.label = fmt::format("{} (steps of {} tokens)", label, lo.batch * lo.seq);  // steps done × this = tokens done
  const int64_t per_step = int64_t(lo.batch) * lo.seq;
  lo.steps = int(std::max<int64_t>(1, (tokens + per_step - 1) / per_step));
  lo.lr = r.opt.distill_lr > 0 ? r.opt.distill_lr : default_distill_lr(student.config.dim);
  lo.min_lr = lo.lr / 10;
  lo.warmup = default_distill_warmup(lo.steps);
  lo.seed = r.opt.seed;
  lo.ckpt_every = r.opt.distill_ckpt_every;
  lo.ckpt_dir = ckpt_dir;
  lo.recipe = {{"steps", lo.steps}, {"batch", lo.batch}, {"seq", lo.seq}, {"accum", lo.accum}, {"lr", lo.lr},
               {"min_lr", lo.min_lr}, {"warmup", lo.warmup}, {"seed", lo.seed}, {"precision", train::precision_name(r.opt.distill_precision)},
               {"shape", config_to_json(student.config).dump()}};
  return lo;
}

// Every layer's output matched to the dense layer's (residual k + 1 leaves layer k).
DistillOptions member_loss(const Model& student, const LoopOptions& lo) {
  DistillOptions d;
  d.temperature = 1.0f;
  d.hidden = HiddenLoss::Cosine;
  for (int k = 1; k <= student.config.n_layers(); k++) d.layer_map.push_back({k, k});
  d.max_B = lo.batch, d.max_T = lo.seq;
  d.adam.weight_decay = lo.weight_decay, d.adam.grad_clip = lo.clip;
  return d;
}

// The trained parameters back into `student`, in each tensor's own dtype (a member keeps the
// weight type its speed was measured in).
void put_back(Model& student, const Model& trained) {
  for (const auto& [name, t] : trained.tensors) {
    auto it = student.tensors.find(name);
    ZIP_CHECK(it != student.tensors.end(), "internal: the distilled model has a tensor '{}' the member lacks", name);
    it->second = it->second.dtype == t.dtype ? t : t.converted(it->second.dtype);
  }
}

}  // namespace

MemberDistill distill_member(CompressRun& r, Model& student, int64_t tokens, const std::string& ckpt_dir, bool resume,
                             const std::string& label, int member) {
  const bool decoder = r.dense.config.info().causal;
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<const TokenData> data = distill_corpus(r);
  LoopOptions lo = loop_for(r, student, tokens, ckpt_dir, label);
  if (lo.seq > std::min(r.dense.config.max_seq_len, student.config.max_seq_len))
    throw UsageError(fmt::format("--distill-seq {} exceeds the model's context length", lo.seq));
  MemberDistill out;
  out.batch = lo.batch, out.seq = lo.seq, out.lr = lo.lr, out.steps = lo.steps;
  out.precision = train::precision_name(r.opt.distill_precision);
  out.encoder = !decoder;
  out.tokens = int64_t(lo.steps) * lo.batch * lo.seq;
  out.loss_before = r.heldout->loss(student, decoder ? &out.kl_before : nullptr);

  std::error_code ec;
  const std::optional<CheckpointStatus> ckpt = resume ? checkpoint_status(ckpt_dir) : std::nullopt;
  if (ckpt) lo.resume_dir = ckpt_dir, out.resumed_from = ckpt->step;
  else fs::remove_all(ckpt_dir, ec);
  r.log(fmt::format("{}: {} steps of {} x {} tokens ({} tokens), lr {:.3g}{}", label, lo.steps, lo.batch, lo.seq, out.tokens,
                    lo.lr, ckpt ? fmt::format(", resuming at step {}", ckpt->step) : std::string()));

  auto ops = train::make_cpu_train_ops(r.opt.threads, r.opt.distill_precision);
  Distiller dist(r.dense, student, *ops, member_loss(student, lo));
  LoopHooks h = dist.hooks();
  if (r.opt.after_distill_step) {
    h.update = [inner = h.update, &r, member, step = out.resumed_from](double lr) mutable {
      const double g = inner(lr);
      r.opt.after_distill_step(member, ++step);
      return g;
    };
  }
  run_loop(lo, *data, nullptr, h);
  put_back(student, dist.finish());
  out.loss_after = r.heldout->loss(student, decoder ? &out.kl_after : nullptr);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.log(fmt::format("{}: search-window loss {:.4f} -> {:.4f}{} ({:.1f} s)", label, out.loss_before, out.loss_after,
                    decoder ? fmt::format(", KL to the dense model {:.4f} -> {:.4f}", out.kl_before, out.kl_after) : std::string(),
                    out.seconds));
  return out;
}

nlohmann::json distill_to_json(const MemberDistill& d) {
  return {{"tokens", d.tokens}, {"steps", d.steps}, {"batch", d.batch}, {"seq", d.seq}, {"lr", d.lr},
          {"seconds", d.seconds}, {"precision", d.precision},
          {"loss", d.encoder ? "cos loss of the last layer's token outputs + alpha * cos loss per layer output"
                             : "tau^2 KL(dense || member), tau 1, + alpha * cos loss per layer output"}};
}

}  // namespace zip
