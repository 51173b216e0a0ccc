// The public API (include/zip/zip.h) over the engine.
#include "zip/zip.h"

#include <algorithm>
#include <thread>

#include "base/cpu_topology.h"
#include "engine/backend_registry.h"
#include "engine/error.h"
#include "engine/forward.h"
#include "engine/generate.h"
#include "engine/zlm.h"

namespace zip {

struct Engine::Impl {
  std::string device;
  Model model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<InferenceContext> ctx;
  std::unique_ptr<Tokenizer> tok;
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::string& path, const LoadOptions& o) {
  auto impl = std::make_unique<Impl>();
  int threads = o.threads > 0 ? o.threads : default_thread_count();
  impl->device = o.device;
  impl->backend = make_backend(o.device, threads);  // before loading: an unusable device fails fast
  impl->model = load_zlm(path);
  impl->ctx = std::make_unique<InferenceContext>(impl->model, *impl->backend, o.context);
  if (impl->model.tokenizer) impl->tok = std::make_unique<Tokenizer>(impl->model.tokenizer);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

int Engine::vocab_size() const { return impl_->model.config.vocab_size; }
int Engine::context_length() const { return impl_->ctx->ctx_len(); }
int Engine::n_layers() const { return impl_->model.config.n_layers(); }
int64_t Engine::n_params() const { return impl_->model.config.n_params(); }
std::string Engine::device() const { return impl_->device; }

std::vector<int> Engine::tokenize(const std::string& text, bool add_bos) const {
  ZIP_CHECK(impl_->tok, "this model has no tokenizer");
  return impl_->tok->encode(text, add_bos);
}

std::string Engine::detokenize(const std::vector<int>& ids) const {
  ZIP_CHECK(impl_->tok, "this model has no tokenizer");
  return impl_->tok->decode(ids);
}

std::vector<float> Engine::logits(const std::vector<int>& ids) {
  ZIP_CHECK(!ids.empty(), "logits: no tokens");
  impl_->ctx->reset();
  const float* p = impl_->ctx->eval(ids, true);
  return std::vector<float>(p, p + ids.size() * size_t(vocab_size()));
}

std::string Engine::generate(const std::string& prompt, const GenerationParams& gp,
                             const std::function<bool(const std::string&)>& on_token) {
  ZIP_CHECK(impl_->tok, "this model has no tokenizer");
  std::vector<int> ids = impl_->tok->encode(prompt, true);
  if (ids.empty()) ids.push_back(impl_->tok->bos());
  GenerateOptions opt;
  opt.max_new_tokens = gp.max_new_tokens;
  opt.sampling.temperature = gp.temperature;
  opt.sampling.top_k = gp.top_k;
  opt.sampling.top_p = gp.top_p;
  opt.sampling.seed = gp.seed;
  std::string out;
  zip::generate(*impl_->ctx, impl_->tok.get(), ids, opt, [&](int, const std::string& piece) {
    out += piece;
    return on_token ? on_token(piece) : true;
  });
  return out;
}

}  // namespace zip
