#include "tools/zip/run_chat.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <poll.h>
#include <unistd.h>

#include "engine/chat/chat_session.h"
#include "engine/error.h"
#include "tools/zip/args.h"

namespace zip::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) { g_interrupted = 1; }

// SIGINT sets a flag instead of ending the process while the conversation runs: the answer
// being generated ends (the token callback looks at it), or at the prompt the conversation.
class SigintFlag {
 public:
  SigintFlag() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintFlag() { sigaction(SIGINT, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// One line from stdin: false at EOF (with nothing read) or on Ctrl-C. A final line without '\n'
// still counts. The signal may be delivered to any thread (the thread pool's workers too), so a
// blocked read() is not reliably interrupted: wait with poll() and look at the flag every 100 ms.
bool read_line(std::string& line) {
  line.clear();
  for (;;) {
    if (g_interrupted) return false;
    pollfd p{0, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (ready < 0 && errno != EINTR) return !line.empty();
    if (ready <= 0) continue;
    char c;
    const ssize_t n = ::read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !line.empty();
    if (c == '\n') return true;
    line += c;
  }
}

void write_out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

ChatFormat chat_format_for(const TokenizerData& tok, const std::string& forced) {
  const std::string eos = tok.eos >= 0 ? tok.pieces[size_t(tok.eos)] : std::string();
  if (!forced.empty()) return chat_format_named(forced, tok.chat_template, eos);
  return detect_chat_format(tok.chat_template, eos);
}

int run_chat(InferenceContext& ctx, const Tokenizer& tok, const ChatFormat& format, const GenerateOptions& opt,
             const ChatRunOptions& o) {
  ChatSession session(ctx, tok, format, o.system);
  SigintFlag sigint;
  const bool prompt_tty = o.interactive && isatty(0);
  int turns = 0;
  std::string user = o.first_turn;
  bool have_turn = !user.empty();
  for (;;) {
    if (!have_turn) {
      if (!o.interactive) break;
      if (prompt_tty) std::fputs("> ", stderr);
      g_interrupted = 0;
      if (!read_line(user)) break;  // EOF or Ctrl-C at the prompt: the end
      if (user.empty()) continue;
    }
    have_turn = false;
    g_interrupted = 0;
    ChatSession::Turn t = session.reply(user, opt, [&](const std::string& text) {
      write_out(text);
      return !g_interrupted;
    });
    if (t.context_full) {
      fmt::print(stderr, "context full: the conversation and this turn need {} of {} tokens; ending it (raise --ctx)\n",
                 t.prompt_tokens, ctx.ctx_len());
      break;
    }
    turns++;
    write_out("\n");
    if (g_interrupted) fmt::print(stderr, "[answer interrupted]\n");
    if (o.verbose || !o.interactive)
      fmt::print(stderr,
                 "turn {}: prompt {} tokens ({} prefilled, {} cached), {:.1f} tok/s | generated {} tokens, {:.1f} tok/s | "
                 "stop: {} | cache {}/{} | {}\n",
                 turns, t.prompt_tokens, t.prefilled, t.prompt_tokens - t.prefilled,
                 t.gen.prefill_s > 0 ? t.prefilled / t.gen.prefill_s : 0.0, t.gen.new_tokens,
                 t.gen.decode_s > 0 ? t.gen.new_tokens / t.gen.decode_s : 0.0, t.gen.stop_reason, t.cache_tokens,
                 ctx.ctx_len(), o.backend_label);
    if (t.gen.stop_reason == "context") {
      fmt::print(stderr, "context full after {} tokens; ending the conversation (raise --ctx)\n", t.cache_tokens);
      break;
    }
  }
  return 0;
}

}  // namespace zip::cli
