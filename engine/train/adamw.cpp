#include "engine/train/adamw.h"

#include <algorithm>
#include <cmath>

namespace zip::train {

template <typename T>
AdamWT<T>::AdamWT(TrainOpsT<T>& ops, T* params, T* grads, const std::vector<ParamInfo>& layout,
                  const AdamWConfig& cfg)
    : ops_(ops), p_(params), g_(grads), cfg_(cfg) {
  for (auto& p : layout) n_ = std::max(n_, p.offset + p.numel);
  m_ = static_cast<T*>(ops_.alloc(n_ * sizeof(T)));
  v_ = static_cast<T*>(ops_.alloc(n_ * sizeof(T)));
  for (auto& p : layout) {
    bool d = decays(p);
    if (!runs_.empty() && runs_.back().decay == d && runs_.back().end == p.offset)
      runs_.back().end = p.offset + p.numel;
    else
      runs_.push_back({p.offset, p.offset + p.numel, d});
  }
}

template <typename T>
AdamWT<T>::~AdamWT() {
  ops_.release(m_);
  ops_.release(v_);
}

template <typename T>
bool AdamWT<T>::decays(const ParamInfo& p) const {
  return p.shape.size() >= 2 && (!p.embedding || cfg_.decay_embeddings);
}

template <typename T>
double AdamWT<T>::step(double lr) {
  double norm = std::sqrt(ops_.sum_squares(g_, n_));
  if (!std::isfinite(norm)) return norm;
  t_++;
  AdamWStep s;
  s.lr = float(lr), s.beta1 = float(cfg_.beta1), s.beta2 = float(cfg_.beta2), s.eps = float(cfg_.eps);
  s.t = t_;
  // Clip as torch.nn.utils.clip_grad_norm_ does: scale by max_norm / (norm + 1e-6) when above.
  s.grad_scale = cfg_.grad_clip > 0 && norm > cfg_.grad_clip ? float(cfg_.grad_clip / (norm + 1e-6)) : 1.0f;
  for (const Run& r : runs_) {
    s.weight_decay = r.decay ? float(cfg_.weight_decay) : 0.0f;
    ops_.adamw_update(p_ + r.begin, g_ + r.begin, m_ + r.begin, v_ + r.begin, r.end - r.begin, s);
  }
  return norm;
}

template class AdamWT<float>;
template class AdamWT<double>;

}  // namespace zip::train
