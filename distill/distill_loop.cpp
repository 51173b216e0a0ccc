#include "distill/distill_loop.h"

#include <algorithm>

#include "engine/backend.h"
#include "engine/error.h"
#include "engine/forward.h"
#include "engine/sampler.h"

namespace zip::distill {

namespace {

// Both models leave the LM head to the fused vocabulary loss (no [rows, vocab] buffers); the
// teacher runs forward only, through one block's activation buffers.
train::TrainOptions capacity(const DistillOptions& o, bool teacher) {
  train::TrainOptions t;
  t.max_B = o.max_B, t.max_T = o.max_T;
  t.lm_head = false;
  t.forward_only = teacher;
  t.recompute = !teacher && o.recompute;
  return t;
}

}  // namespace

Distiller::Distiller(const Model& teacher, const Model& student, train::TrainOps& ops, const DistillOptions& o)
    : ops_(ops), o_(o), teacher_(std::make_unique<train::TrainModel>(teacher, ops, capacity(o, true))), student_(student, ops, capacity(o, false)) {
  if (teacher.config.vocab_size != student.config.vocab_size)
    fail("teacher and student vocabularies differ ({} vs {} tokens)", teacher.config.vocab_size,
         student.config.vocab_size);
  encoder_ = !teacher.config.info().causal;
  if (encoder_ != !student.config.info().causal) fail("teacher and student must both be decoders or both encoders");
  if (encoder_ && o.ce_weight > 0) fail("encoders have no next-token loss: the CE weight must be 0");
  adam_ = std::make_unique<train::AdamW>(student_, o.adam);
  Ds_ = student.config.dim, Dt_ = teacher.config.dim;
  if (o.hidden != HiddenLoss::None) {
    if (o.layer_map.empty() && !encoder_) pairs_.push_back({-1, -1});  // encoders: the output term already is
    for (auto [s, t] : o.layer_map) {
      if (s < 0 || s > student.config.n_layers() || t < 0 || t > teacher.config.n_layers())
        fail("--layer-map {}:{}: layers are 0..{} (student) and 0..{} (teacher)", s, t, student.config.n_layers(),
             teacher.config.n_layers());
      pairs_.push_back({s, t});
    }
  }
  const size_t rows = size_t(o.max_B) * o.max_T;
  auto falloc = [&](size_t n) { return static_cast<float*>(ops_.alloc(std::max<size_t>(n, 1) * sizeof(float))); };
  row_ = falloc(rows), ce_row_ = falloc(rows);
  for (size_t i = 0; i < pairs_.size(); i++) t_states_.push_back(falloc(rows * size_t(Dt_)));
  has_map_ = (encoder_ || !pairs_.empty()) && Ds_ != Dt_;
  if (has_map_) {
    // One map shared by every pair, initialised to the identity on the common dimensions.
    size_t nw = size_t(Dt_) * Ds_;
    map_layout_ = {{"map", {Dt_, Ds_}, 0, nw, false}, {"map.bias", {Dt_}, nw, size_t(Dt_), false}};
    map_p_ = falloc(nw + Dt_), map_g_ = falloc(nw + Dt_);
    std::vector<float> init(nw + Dt_, 0.0f);
    for (int i = 0; i < std::min(Ds_, Dt_); i++) init[size_t(i) * Ds_ + i] = 1.0f;
    ops_.to_device(map_p_, init.data(), init.size() * sizeof(float));
    mapped_ = falloc(rows * size_t(Dt_)), dmapped_ = falloc(rows * size_t(Dt_));
    map_adam_ = std::make_unique<train::AdamW>(ops_, map_p_, map_g_, map_layout_, o.adam);
  }
}

Distiller::~Distiller() {
  map_adam_.reset();
  for (float* p : {ce_row_, row_, map_p_, map_g_, mapped_, dmapped_})
    if (p) ops_.release(p);
  for (float* p : t_states_) ops_.release(p);
}

double Distiller::output_loss(int M, bool train, double dscale) {
  const HiddenLoss kind = o_.hidden == HiddenLoss::Mse ? HiddenLoss::Mse : HiddenLoss::Cosine;
  const float* s = student_.hidden();
  const float* a = s;
  if (has_map_) ops_.linear_fwd(mapped_, s, map_p_, map_p_ + size_t(Dt_) * Ds_, M, Ds_, Dt_), a = mapped_;
  if (kind == HiddenLoss::Cosine) ops_.cosine_loss_fwd(row_, a, teacher_->hidden(), nullptr, M, Dt_);
  else ops_.mse_loss_fwd(row_, a, teacher_->hidden(), nullptr, M, Dt_);
  const double loss = ops_.sum(row_, size_t(M)) / M;
  if (!train) return loss;
  float* seed = student_.hidden_grad();
  float* da = seed;
  if (has_map_) ops_.zero(dmapped_, size_t(M) * Dt_ * sizeof(float)), da = dmapped_;
  if (kind == HiddenLoss::Cosine) ops_.cosine_loss_bwd(da, a, teacher_->hidden(), nullptr, M, Dt_, dscale / M);
  else ops_.mse_loss_bwd(da, a, teacher_->hidden(), nullptr, M, Dt_, dscale / M);
  if (has_map_) ops_.linear_bwd(seed, map_g_, map_g_ + size_t(Dt_) * Ds_, dmapped_, s, map_p_, M, Ds_, Dt_);
  return loss;
}

double Distiller::logit_loss(int M, bool train, double scale, bool ce, double& ce_loss) {
  // The head, KL and CE in one pass over row blocks; with `train` their gradients go into the
  // student's final hidden states and head (they do not depend on α). The clock counts it
  // (both heads' products included) as "loss".
  train::VocabLoss<float> vl;
  vl.M = M, vl.D = Ds_, vl.Dt = Dt_, vl.V = student_.config().vocab_size, vl.tau = o_.temperature;
  vl.h = student_.hidden(), vl.W = student_.head_weight();
  vl.ht = teacher_->hidden(), vl.Wt = teacher_->head_weight();
  vl.kl = row_;
  const int n_targets = ce ? student_.n_targets() : 0;
  if (n_targets > 0) vl.targets = student_.targets_device(), vl.ce = ce_row_;
  if (train) {
    vl.dh = student_.hidden_grad(), vl.dW = student_.head_grad();
    vl.dkl = scale / M, vl.dce = n_targets > 0 ? scale * o_.ce_weight / n_targets : 0;
  }
  ops_.vocab_loss(vl);
  ce_loss = n_targets > 0 ? ops_.sum(ce_row_, size_t(M)) / n_targets : 0;
  return ops_.sum(row_, size_t(M)) / M;
}

std::map<std::string, double> Distiller::step(const int* tokens, const int* targets, int B, int T, double scale,
                                              bool train) {
  const int M = B * T;
  train::Batch tb;
  tb.B = B, tb.T = T, tb.tokens = tokens;
  if (clock_) clock_->start();
  teacher_->forward(tb);
  for (size_t i = 0; i < pairs_.size(); i++)
    ops_.copy(t_states_[i], pairs_[i].t < 0 ? teacher_->hidden() : teacher_->residual(pairs_[i].t), size_t(M) * Dt_);

  if (clock_) clock_->lap("teacher_fwd");
  train::Batch sb = tb;
  bool ce = !encoder_ && (o_.ce_weight > 0 || !train);  // validation always reports CE (decoders)
  if (ce) sb.targets = targets;
  student_.forward(sb);
  if (clock_) clock_->lap("student_fwd");
  double kl = 0, ce_loss = 0, l_out = 0;
  if (encoder_) l_out = output_loss(M, train, scale);
  else kl = logit_loss(M, train, scale, ce, ce_loss);

  // Hidden-state pairs: the (mapped) student state, then its loss against the teacher's.
  auto student_state = [&](size_t i) { return pairs_[i].s < 0 ? student_.hidden() : student_.residual(pairs_[i].s); };
  auto mapped = [&](size_t i) -> const float* {
    if (!has_map_) return student_state(i);
    ops_.linear_fwd(mapped_, student_state(i), map_p_, map_p_ + size_t(Dt_) * Ds_, M, Ds_, Dt_);
    return mapped_;
  };
  double lh = 0;
  for (size_t i = 0; i < pairs_.size(); i++) {
    const float* a = mapped(i);
    if (o_.hidden == HiddenLoss::Cosine) ops_.cosine_loss_fwd(row_, a, t_states_[i], nullptr, M, Dt_);
    else ops_.mse_loss_fwd(row_, a, t_states_[i], nullptr, M, Dt_);
    lh += ops_.sum(row_, size_t(M)) / M / double(pairs_.size());
  }
  double l_logits = encoder_ ? l_out : kl + o_.ce_weight * ce_loss;
  double alpha = pairs_.empty() ? 0 : o_.hidden_weight >= 0 ? o_.hidden_weight : lh > 0 ? l_logits / lh : 0;
  std::map<std::string, double> terms = {{"loss", l_logits + alpha * lh}, {encoder_ ? "output" : "kl", encoder_ ? l_out : kl}};
  if (ce) terms["ce"] = ce_loss;
  if (!pairs_.empty()) terms["hidden"] = lh, terms["alpha"] = alpha;
  if (!train) return terms;

  double dh = alpha * scale / M / double(pairs_.size());
  for (size_t i = 0; i < pairs_.size(); i++) {
    float* seed = pairs_[i].s < 0 ? student_.hidden_grad() : student_.residual_grad(pairs_[i].s);
    const float* a = mapped(i);  // recomputed: the buffer is shared between pairs
    float* da = seed;
    if (has_map_) ops_.zero(dmapped_, size_t(M) * Dt_ * sizeof(float)), da = dmapped_;
    if (o_.hidden == HiddenLoss::Cosine) ops_.cosine_loss_bwd(da, a, t_states_[i], nullptr, M, Dt_, dh);
    else ops_.mse_loss_bwd(da, a, t_states_[i], nullptr, M, Dt_, dh);
    if (has_map_)
      ops_.linear_bwd(seed, map_g_, map_g_ + size_t(Dt_) * Ds_, dmapped_, student_state(i), map_p_, M, Ds_, Dt_);
  }
  if (clock_) clock_->lap("loss");
  student_.backward();
  if (clock_) clock_->lap("backward");
  return terms;
}

Model Distiller::finish() {
  teacher_.reset();
  adam_.reset();
  map_adam_.reset();
  return student_.to_model();
}

LoopHooks Distiller::hooks() {
  LoopHooks h;
  h.zero_grad = [this] {
    student_.zero_grad();
    if (has_map_) ops_.zero(map_g_, (size_t(Dt_) * Ds_ + Dt_) * sizeof(float));
  };
  h.micro = [this](const int* t, const int* y, int B, int T, double scale) { return step(t, y, B, T, scale, true); };
  h.eval = [this](const int* t, const int* y, int B, int T) { return step(t, y, B, T, 0, false); };
  h.update = [this](double lr) {
    if (clock_) clock_->start();
    double g = adam_->step(lr);
    if (map_adam_) map_adam_->step(lr);
    if (clock_) clock_->lap("optimizer");
    return g;
  };
  h.save_state = [this](nlohmann::json& meta) {
    size_t n = student_.n_params();
    std::vector<Blob> b = {to_blob(ops_, "params", student_.param_data(), n), to_blob(ops_, "adam.m", adam_->m(), n),
                           to_blob(ops_, "adam.v", adam_->v(), n)};
    meta["adam_steps"] = adam_->steps();
    if (has_map_) {
      size_t nm = size_t(Dt_) * Ds_ + Dt_;
      b.push_back(to_blob(ops_, "map", map_p_, nm));
      b.push_back(to_blob(ops_, "map.m", map_adam_->m(), nm));
      b.push_back(to_blob(ops_, "map.v", map_adam_->v(), nm));
      meta["map_adam_steps"] = map_adam_->steps();
    }
    return b;
  };
  h.load_state = [this](const std::vector<Blob>& b, const nlohmann::json& meta) {
    size_t n = student_.n_params();
    from_blob(ops_, b, "params", student_.param_data(), n);
    from_blob(ops_, b, "adam.m", adam_->m(), n);
    from_blob(ops_, b, "adam.v", adam_->v(), n);
    adam_->set_steps(meta.value("adam_steps", 0));
    if (has_map_) {
      size_t nm = size_t(Dt_) * Ds_ + Dt_;
      from_blob(ops_, b, "map", map_p_, nm);
      from_blob(ops_, b, "map.m", map_adam_->m(), nm);
      from_blob(ops_, b, "map.v", map_adam_->v(), nm);
      map_adam_->set_steps(meta.value("map_adam_steps", 0));
    }
  };
  return h;
}

TokenData synthetic_tokens(const Model& teacher, size_t n, uint64_t seed, int threads) {
  auto be = make_cpu_backend(threads);
  InferenceContext ctx(teacher, *be);
  SamplingParams sp;
  sp.temperature = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.seed = seed;
  Sampler sampler(sp);
  const int V = teacher.config.vocab_size;
  int bos = teacher.tokenizer ? teacher.tokenizer->bos : -1, eos = teacher.tokenizer ? teacher.tokenizer->eos : -1;
  int start = bos >= 0 ? bos : eos >= 0 ? eos : 0;
  int max_len = std::min(teacher.config.max_seq_len, ctx.ctx_len());
  TokenData d;
  d.vocab_size = uint32_t(V);
  while (d.n_tokens() < n) {
    ctx.reset();
    std::vector<int> doc = {start};
    const float* logits = ctx.eval(&start, 1);
    while (int(doc.size()) < max_len && d.n_tokens() + doc.size() < n) {
      int id = sampler.sample(logits, V);
      if (id == eos || id == bos) break;
      doc.push_back(id);
      logits = ctx.eval(&id, 1);
    }
    d.add_document(doc);
  }
  return d;
}

}  // namespace zip::distill
