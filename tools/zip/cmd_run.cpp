// zip run: generate text. stdout carries only the text (the prompt, then the continuation,
// streamed); timings and diagnostics go to stderr.
#include <algorithm>
#include <cstdio>
#include <random>

#include "engine/encoder.h"
#include "engine/backend.h"
#include "engine/error.h"
#include "engine/generate.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

// Encoders: classify or embed one text.
static int run_encoder_model(const Model& model, const std::string& text, Backend& backend, bool json) {
  Tokenizer tok(model.tokenizer);
  std::vector<int> ids = tok.encode(text, true);
  InferenceContext ctx(model, backend);
  if (int(ids.size()) > ctx.ctx_len())
    fail("the text has {} tokens, longer than the context ({})", ids.size(), ctx.ctx_len());
  EncoderOutput out = run_encoder(ctx, ids, {});
  if (!out.logits.empty()) {
    std::vector<float> p = softmax_probs(out.logits);
    std::vector<size_t> order(p.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    if (json) {
      nlohmann::json j = nlohmann::json::array();
      for (size_t i : order) j.push_back({{"label", model.config.labels[i]}, {"probability", p[i]}});
      fmt::print("{}\n", j.dump());
    } else {
      for (size_t i : order) fmt::print("{}\t{:.6f}\n", model.config.labels[i], p[i]);
    }
  } else if (json) {
    fmt::print("{}\n", nlohmann::json(out.embedding).dump());
  } else {
    std::string line;
    for (size_t i = 0; i < out.embedding.size(); i++) line += fmt::format("{}{:.6g}", i ? " " : "", out.embedding[i]);
    fmt::print("{}\n", line);
  }
  return 0;
}

// Sampling and stopping options from the command line (the seed: random unless given).
static GenerateOptions generate_options(const Args& args) {
  GenerateOptions opt;
  opt.max_new_tokens = int(args.integer("-n", 256, 0, 1 << 24));
  opt.sampling.temperature = float(args.number("--temp", 0.8, 0, 100));
  opt.sampling.top_k = int(args.integer("--top-k", 40, 0, 1 << 24));
  opt.sampling.top_p = float(args.number("--top-p", 0.95, 0, 1));
  opt.sampling.min_p = float(args.number("--min-p", 0, 0, 1));
  opt.sampling.repeat_penalty = float(args.number("--repeat-penalty", 1, 0.01, 100));
  opt.sampling.repeat_last_n = int(args.integer("--repeat-last-n", 64, 0, 1 << 20));
  opt.stop = args.all("--stop");
  for (auto& s : opt.stop)
    if (s.empty()) throw UsageError("zip run: --stop needs a non-empty text");
  opt.sampling.seed = args.has("--seed") ? uint64_t(args.integer("--seed", 0, 0, INT64_MAX)) : std::random_device{}();
  return opt;
}

int cmd_run(int argc, char** argv) {
  Args args("run",
            "MODEL.zlm [-p PROMPT] [-n N] [--temp T] [--seed S] [--ctx N] [-t THREADS] [--device DEV] [options]",
            "Decoders: generates text from PROMPT (default: from BOS alone); stops at EOS/BOS, after N new\n"
            "tokens, or at the end of the context; greedy when --temp 0.\n"
            "Encoders: with a classification head prints one line LABEL<TAB>probability per class (best\n"
            "first); without one prints the sentence embedding (--json: as a JSON array).",
            {{"-p,--prompt", "TEXT", "prompt text (default empty)"},
             {"-n,--n-predict", "N", "new tokens to generate (default 256)"},
             {"--temp", "T", "sampling temperature, 0 = greedy (default 0.8)"},
             {"--top-k", "K", "sample from the K most likely tokens, 0 = all (default 40)"},
             {"--top-p", "P", "nucleus sampling mass, 1 = off (default 0.95)"},
             {"--min-p", "P", "drop tokens below P times the best one's probability, 0 = off (default 0)"},
             {"--repeat-penalty", "R", "penalise the last --repeat-last-n tokens, 1 = off (default 1)"},
             {"--repeat-last-n", "N", "tokens the repetition penalty looks back over (default 64)"},
             {"--stop", "TEXT", "stop where TEXT appears (not printed); repeatable"},
             {"--special", "", "parse special tokens written in the prompt (e.g. <|im_start|>)"},
             {"--seed", "S", "random seed (default: random, printed)"},
             {"--ctx", "N", "context length (default: the model's)"},
             threads_option(),
             device_option(),
             {"--json", "", "encoders: print the embedding / probabilities as JSON"},
             {"-v,--verbose", "", "print model and timing details to stderr"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  const DeviceArg dev = device_arg(args);
  GenerateOptions opt = generate_options(args);
  int ctx_len = int(args.integer("--ctx", 0, 1, 1 << 22));
  std::string prompt = args.str("-p");
  auto backend = backend_arg(dev);  // before loading: an unusable device fails fast

  Model model = load_zlm(args.positional()[0]);
  if (!model.tokenizer) fail("{} has no tokenizer", args.positional()[0]);
  if (!model.config.info().causal) return run_encoder_model(model, prompt, *backend, args.has("--json"));
  if (ctx_len > model.config.max_seq_len)
    fail("--ctx {} exceeds the model's maximum context {}", ctx_len, model.config.max_seq_len);
  Tokenizer tok(model.tokenizer);
  std::vector<int> ids = tok.encode(prompt, true, args.has("--special"));
  if (ids.empty()) {
    if (tok.bos() < 0) fail("empty prompt and the tokenizer has no BOS token");
    ids.push_back(tok.bos());
  }
  InferenceContext ctx(model, *backend, ctx_len);
  if (int(ids.size()) > ctx.ctx_len())
    fail("the prompt has {} tokens, longer than the context ({})", ids.size(), ctx.ctx_len());
  if (args.has("-v"))
    fmt::print(stderr, "{}: {} layers, {} parameters; {}; seed {}\n", args.positional()[0], model.config.n_layers(),
               model.config.n_params(), backend_label(*backend, dev), opt.sampling.seed);

  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  GenerateStats st = generate(ctx, &tok, ids, opt, [&](int, const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (stdout_is_tty()) std::fputc('\n', stdout);
  std::fflush(stdout);
  fmt::print(stderr, "\nprompt: {} tokens, {:.1f} tok/s | generated: {} tokens, {:.1f} tok/s | stop: {} | {}\n",
             st.prompt_tokens, st.prefill_s > 0 ? st.prompt_tokens / st.prefill_s : 0.0, st.new_tokens,
             st.decode_s > 0 ? st.new_tokens / st.decode_s : 0.0, st.stop_reason, backend_label(*backend, dev));
  return 0;
}

}  // namespace zip::cli
