// Distilling one stitched family member from the dense model (docs/COMPRESS.md, "Distillation";
// docs/METHODS.md §2.8): the Distiller of distill/ with
//   loss = KL(softmax(dense/τ) ‖ softmax(member/τ))·τ²  (τ = 1)
//        + α · mean_k (1 − cos(member residual k, dense residual k)),  k = 1..n_layers,
// i.e. the token-level hidden-state loss of SPEC §6.1: pruning keeps the layer count and the
// hidden size, so the output of the member's layer k is matched to the dense layer k's, with no
// map between them; α = L_logits / L_hidden recomputed every step as a constant (the Distiller's
// rule, SPEC §6.2): both terms pull with the same weight whatever their scales.
// Encoders have no logits: the logit term is 1 − cos between the member's and the dense model's
// last-layer token outputs (what the sentence embedding is the mean of), the same pairs k = 1..L
// weighted as above; fixed windows of --calib-len tokens (default) cut from the calibration
// windows joined, so no padding.
// Data: --distill-data tokens.bin, else the calibration windows the search never sees judged on
// (calib.train: the calibration text minus the held-out windows), joined as documents.
// Defaults: AdamW, peak lr distill/distill_defaults.h's (0.1 / dim, at most 1e-3), 5 % linear
// warm-up, cosine decay to lr / 10, batch 8 × seq min(256, context), weight decay 0.1, clip 1.
// Other methods' drivers call it as well (Minitron's merge step).
#pragma once
#include <cstdint>
#include <string>

#include "compress/run.h"
#include "engine/model.h"

namespace zip {

struct MemberDistill {
  int64_t tokens = 0;   // tokens trained on (steps × batch × seq)
  int steps = 0, resumed_from = 0;  // resumed_from: the checkpoint step a resumed run started at (0: none)
  int batch = 0, seq = 0;
  double lr = 0, seconds = 0;
  std::string precision = "f32";  // of the matrix products (--distill-precision)
  bool encoder = false;           // no logits: the output term is the last layer's cos loss
  // On the run's search windows, against the dense model: before and after.
  double loss_before = 0, loss_after = 0, kl_before = 0, kl_after = 0;
};

// Distills `student` (shapes unchanged; float weights) from r.dense in place, on at least
// `tokens` tokens (whole steps). Checkpoints every r.opt.distill_ckpt_every steps into
// `ckpt_dir`; with `resume` a checkpoint there is continued bit for bit, else the folder is
// cleared first. `label` names the progress bar and log lines; `member` is passed to
// r.opt.after_distill_step. UsageError for data of another vocabulary.
MemberDistill distill_member(CompressRun& r, Model& student, int64_t tokens, const std::string& ckpt_dir, bool resume,
                             const std::string& label, int member = 0);

// The report's view of a distillation ("distill" of a member in report.json).
nlohmann::json distill_to_json(const MemberDistill& d);

}  // namespace zip
