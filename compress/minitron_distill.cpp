#include "compress/minitron_distill.h"

#include <algorithm>
#include <filesystem>

#include "distill/distill_defaults.h"
#include "distill/distill_loop.h"
#include "distill/train_loop.h"
#include "engine/error.h"
#include "engine/train/train_ops.h"

namespace zip {

distill::TokenData minitron_kd_corpus(const Model& dense, const CalibSet& calib, const CompressOptions& o) {
  distill::TokenData d;
  if (!o.distill_data.empty()) {
    d = distill::load_tokens(o.distill_data);
    ZIP_CHECK(dense.tokenizer && distill::tokenizer_hash(*dense.tokenizer) == d.tokenizer_hash,
              "--distill-data {}: its tokens are not of the model's vocabulary", printable(o.distill_data));
    return d;
  }
  if (dense.tokenizer) d.tokenizer_hash = distill::tokenizer_hash(*dense.tokenizer);
  d.vocab_size = uint32_t(dense.config.vocab_size);
  for (const auto& w : calib.train) d.add_document(w);
  return d;
}

double kd_peak_lr(const KdRun& k, const Model& student) {
  return k.lr > 0 ? k.lr : distill::default_distill_lr(student.config.dim);
}

bool kd_uses_hidden_loss(const ModelConfig& dense, const ModelConfig& student) {
  return 4 * student.n_layers() < 3 * dense.n_layers();
}

std::vector<std::pair<int, int>> encoder_layer_map(int dense_layers, const std::vector<int>& kept) {
  std::vector<std::pair<int, int>> map;
  for (size_t i = 0; i < kept.size(); i++) {
    ZIP_CHECK(kept[i] >= 0 && kept[i] < dense_layers && (i == 0 || kept[i] > kept[i - 1]),
              "internal: kept layers must be ascending within 0..{}", dense_layers - 1);
    map.push_back({int(i) + 1, i + 1 == kept.size() ? dense_layers : kept[i] + 1});
  }
  return map;
}

Model distill_candidate(const Model& dense, const Model& student, const distill::TokenData& data, const KdRun& k) {
  distill::LoopOptions lo;
  lo.label = k.label;
  lo.steps = k.steps, lo.batch = k.batch, lo.seq = k.seq;
  lo.lr = kd_peak_lr(k, student), lo.min_lr = lo.lr / 10;
  lo.warmup = distill::default_distill_warmup(k.steps);
  lo.seed = k.seed;
  lo.recipe = {{"seed", lo.seed}, {"batch", lo.batch}, {"seq", lo.seq}, {"accum", 1}, {"steps", lo.steps},
               {"precision", train::precision_name(k.precision)}, {"lr", lo.lr}};
  if (!k.ckpt_dir.empty()) {
    lo.ckpt_dir = k.ckpt_dir;
    lo.ckpt_every = std::max(1, k.steps / 20);
    if (k.resume && distill::checkpoint_status(k.ckpt_dir)) lo.resume_dir = k.ckpt_dir;
  }
  distill::DistillOptions d;  // τ = 1, no CE
  if (!dense.config.info().causal) {  // the encoder form: output term + α · the layer pairs
    ZIP_CHECK(int(k.layer_map.size()) == student.config.n_layers(), "internal: an encoder's KD needs a layer map");
    d.hidden = distill::HiddenLoss::Cosine, d.layer_map = k.layer_map;
  } else if (kd_uses_hidden_loss(dense.config, student.config)) {
    d.hidden = distill::HiddenLoss::Cosine;  // α = L_logits / L_hidden
  }
  d.max_B = lo.batch, d.max_T = lo.seq;
  d.adam.weight_decay = lo.weight_decay, d.adam.grad_clip = lo.clip;
  auto ops = train::make_cpu_train_ops(k.threads, k.precision);
  distill::Distiller dist(dense, student, *ops, d);
  distill::LoopHooks h = dist.hooks();
  distill::run_loop(lo, data, nullptr, h);
  return dist.finish();
}

}  // namespace zip
