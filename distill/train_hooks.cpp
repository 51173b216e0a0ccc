#include "distill/train_hooks.h"

namespace zip::distill {

LoopHooks train_hooks(train::TrainModel& tm, train::AdamW& adam, train::TrainOps& ops, PhaseClock* clock) {
  LoopHooks h;
  h.zero_grad = [&tm] { tm.zero_grad(); };
  h.micro = [&tm, clock](const int* t, const int* y, int B, int T, double scale) {
    train::Batch b;
    b.B = B, b.T = T, b.tokens = t, b.targets = y;
    if (clock) clock->start();
    double loss = tm.forward(b);
    if (clock) clock->lap("forward");
    tm.backward(scale);
    if (clock) clock->lap("backward");
    return std::map<std::string, double>{{"loss", loss}};
  };
  h.update = [&adam, clock](double lr) {
    if (clock) clock->start();
    double g = adam.step(lr);
    if (clock) clock->lap("optimizer");
    return g;
  };
  h.eval = [&tm](const int* t, const int* y, int B, int T) {
    train::Batch b;
    b.B = B, b.T = T, b.tokens = t, b.targets = y;
    return std::map<std::string, double>{{"loss", tm.forward(b)}};
  };
  h.save_state = [&tm, &adam, &ops](nlohmann::json& meta) {
    meta["adam_steps"] = adam.steps();
    size_t n = tm.n_params();
    return std::vector<Blob>{to_blob(ops, "params", tm.param_data(), n), to_blob(ops, "adam.m", adam.m(), n),
                             to_blob(ops, "adam.v", adam.v(), n)};
  };
  h.load_state = [&tm, &adam, &ops](const std::vector<Blob>& blobs, const nlohmann::json& meta) {
    size_t n = tm.n_params();
    from_blob(ops, blobs, "params", tm.param_data(), n);
    from_blob(ops, blobs, "adam.m", adam.m(), n);
    from_blob(ops, blobs, "adam.v", adam.v(), n);
    adam.set_steps(meta.value("adam_steps", 0));
  };
  return h;
}

}  // namespace zip::distill
