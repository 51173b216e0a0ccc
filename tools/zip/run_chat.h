// zip run with a chat template (tools/zip/run_chat.cpp): -p as one user turn, -i as a
// conversation read from stdin. The rendering and the KV-cache bookkeeping are the library's
// (engine/chat/); this file does the terminal side: reading turns, streaming answers, Ctrl-C.
#pragma once
#include <string>

#include "engine/chat/chat_template.h"
#include "engine/forward.h"
#include "engine/generate.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip::cli {

struct ChatRunOptions {
  std::string first_turn;    // -p: the first user turn ("" = none)
  std::string system;        // --system
  bool interactive = false;  // -i: keep reading turns from stdin
  bool verbose = false;      // a line per turn on stderr with the token accounting
  std::string backend_label; // for the summary line
};

// The chat format for a model: --chat-format NAME if given, else recognised from the template
// (zip::Error naming --chat-format when it is not recognised or missing).
ChatFormat chat_format_for(const TokenizerData& tok, const std::string& forced);

// Runs the conversation; returns the exit code.
int run_chat(InferenceContext& ctx, const Tokenizer& tok, const ChatFormat& format, const GenerateOptions& opt,
             const ChatRunOptions& o);

}  // namespace zip::cli
