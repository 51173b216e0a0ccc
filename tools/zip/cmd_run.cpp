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
#include "tools/zip/run_chat.h"

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

// Plain generation: the prompt as text (echoed), then the continuation.
static int run_plain(const Args& args, const Model& model, const Tokenizer& tok, const std::string& prompt,
                     const GenerateOptions& opt, int ctx_len, Backend& backend, const DeviceArg& dev) {
  std::vector<int> ids = tok.encode(prompt, true, args.has("--special"));
  if (ids.empty()) {
    if (tok.bos() < 0) fail("empty prompt and the tokenizer has no BOS token");
    ids.push_back(tok.bos());
  }
  InferenceContext ctx(model, backend, ctx_len);
  if (int(ids.size()) > ctx.ctx_len())
    fail("the prompt has {} tokens, longer than the context ({})", ids.size(), ctx.ctx_len());
  if (args.has("-v"))
    fmt::print(stderr, "{}: {} layers, {} parameters; {}; seed {}\n", args.positional()[0], model.config.n_layers(),
               model.config.n_params(), backend_label(backend, dev), opt.sampling.seed);

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
             st.decode_s > 0 ? st.new_tokens / st.decode_s : 0.0, st.stop_reason, backend_label(backend, dev));
  return 0;
}

int cmd_run(int argc, char** argv) {
  Args args("run",
            "MODEL.zlm [-p PROMPT] [-i] [--system TEXT] [--raw] [-n N] [--temp T] [--seed S] [--ctx N] [-t THREADS] [--device DEV] [options]",
            "Decoders: generates text from PROMPT (default: from BOS alone); stops at EOS/BOS, after N new\n"
            "tokens, or at the end of the context; greedy when --temp 0.\n"
            "Chat models (a chat template in the file): PROMPT is one user turn rendered through the\n"
            "template (unless --raw) and only the answer is printed; it ends at EOS or the template's\n"
            "end-of-turn token. -i: a conversation, one user turn per line of stdin (a terminal or a pipe),\n"
            "the history kept in the KV cache; Ctrl-C ends the current answer, Ctrl-C at the prompt or EOF\n"
            "ends the conversation. Recognised templates: docs/CHAT.md.\n"
            "Encoders: with a classification head prints one line LABEL<TAB>probability per class (best\n"
            "first); without one prints the sentence embedding (--json: as a JSON array).",
            {{"-p,--prompt", "TEXT", "prompt text (default empty); with a chat template, the user turn"},
             {"-i,--interactive", "", "chat: a conversation, user turns read from stdin line by line"},
             {"--system", "TEXT", "chat: a system message opening the conversation"},
             {"--raw", "", "send PROMPT as plain text even if the model has a chat template"},
             {"--chat-format", "NAME", "chat: render as chatml|llama3|gemma|inst (default: from the template)"},
             {"-n,--n-predict", "N", "new tokens to generate (per answer in a chat; default 256)"},
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
             device_option(), act_terms_option(),
             {"--json", "", "encoders: print the embedding / probabilities as JSON"},
             {"-v,--verbose", "", "print model and timing details (chat: a line per turn) to stderr"}});
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
  const bool interactive = args.has("-i");
  if (args.has("--raw") && (interactive || args.has("--chat-format") || args.has("--system")))
    throw UsageError("zip run: --raw sends plain text; it does not go with -i, --system or --chat-format");
  if (args.has("--system") && !interactive && prompt.empty())
    throw UsageError("zip run: --system needs a user turn: -p PROMPT or -i");
  const bool has_template = !model.tokenizer->chat_template.empty() || args.has("--chat-format");
  if ((interactive || args.has("--system")) && !has_template)
    fail("{} has no chat template: -i and --system need one (--chat-format {} chooses a family)",
         args.positional()[0], chat_family_names());
  if (interactive || (has_template && !prompt.empty() && !args.has("--raw"))) {
    const ChatFormat format = chat_format_for(*model.tokenizer, args.str("--chat-format"));
    InferenceContext ctx(model, *backend, ctx_len);
    if (args.has("-v"))
      fmt::print(stderr, "{}: {} layers, {} parameters; {}; seed {}; chat {} ({})\n", args.positional()[0],
                 model.config.n_layers(), model.config.n_params(), backend_label(*backend, dev), opt.sampling.seed,
                 chat_family_name(format.family), format.variant);
    ChatRunOptions o{prompt, args.str("--system"), interactive, args.has("-v"), backend_label(*backend, dev)};
    return run_chat(ctx, tok, format, opt, o);
  }
  return run_plain(args, model, tok, prompt, opt, ctx_len, *backend, dev);
}

}  // namespace zip::cli
