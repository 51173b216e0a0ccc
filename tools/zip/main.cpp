// zip: one binary that runs transformer language models and compresses them.
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "engine/backend_registry.h"
#include "engine/error.h"
#include "tools/zip/commands.h"

namespace {

struct Command {
  const char* name;
  int (*fn)(int, char**);
  const char* summary;
};

const Command kCommands[] = {
    {"convert", zip::cli::cmd_convert, "import a llama2.c or Hugging Face checkpoint into a .zlm file"},
    {"export", zip::cli::cmd_export, "write a .zlm model as GGUF (llama.cpp) or a Hugging Face folder"},
    {"inspect", zip::cli::cmd_inspect, "show a .zlm file's architecture, per-layer shapes, tokenizer, provenance"},
    {"run", zip::cli::cmd_run, "generate text from a prompt"},
    {"tokenize", zip::cli::cmd_tokenize, "print the token ids of a text"},
    {"eval", zip::cli::cmd_eval, "evaluate a model: perplexity, zero-shot tasks, STS-B"},
    {"bench", zip::cli::cmd_bench, "measure prefill and decode throughput (--train: training/distillation)"},
    {"train", zip::cli::cmd_train, "train a model from scratch on a tokens.bin corpus"},
    {"distill", zip::cli::cmd_distill, "distill a teacher into a student (KL, CE, hidden-state losses)"},
    {"quantize", zip::cli::cmd_quantize, "store the weights as q8_0, q4_0, q4_k_m, q6_k, ... (or back to f32)"},
    {"slice", zip::cli::cmd_slice, "keep chosen heads and FFN neurons per layer (structured pruning by hand)"},
    {"compress", zip::cli::cmd_compress, "prune to speedup targets measured on this engine (ZipLM and baselines)"},
    {"verify", zip::cli::cmd_verify, "time a compress family's members against the dense model again: the guarantee, on this machine"},
    {"plot", zip::cli::cmd_plot, "several compress runs' members in one perplexity-against-speedup figure"},
    {"importance", zip::cli::cmd_importance, "Minitron activation importance of heads, neurons, hidden channels, layers"},
};

void usage(FILE* f) {
  std::fprintf(f, "usage: zip COMMAND [options]   (zip COMMAND --help for details; zip --version)\n\ncommands:\n");
  for (auto& c : kCommands) std::fprintf(f, "  %-10s %s\n", c.name, c.summary);
}

// `zip --help` also says which devices `--device` (run, bench, eval) can use here.
void list_devices(FILE* f) {
  std::fprintf(f, "\ndevices (--device of run, bench, eval):\n");
  for (const auto& b : zip::list_backends())
    std::fprintf(f, "  %-10s %s\n", b.name == "cuda" ? "cuda[:N]" : b.name.c_str(),
                 b.available ? "available" : ("not available: " + b.why).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--version" || cmd == "-V") {
    zip::cli::print_version();
    return 0;
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    list_devices(stdout);
    return 0;
  }
  for (auto& c : kCommands) {
    if (cmd != c.name) continue;
    try {
      return c.fn(argc - 2, argv + 2);
    } catch (const zip::UsageError& e) {
      std::fprintf(stderr, "%s\n", zip::printable(e.what()).c_str());
      return 2;
    } catch (const zip::Error& e) {
      std::fprintf(stderr, "zip %s: error: %s\n", c.name, zip::printable(e.what()).c_str());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "zip %s: error: out of memory\n", c.name);
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "zip %s: error: %s\n", c.name, zip::printable(e.what()).c_str());
      return 1;
    }
  }
  std::fprintf(stderr, "zip: unknown command '%s' (see zip --help)\n", cmd.c_str());
  return 2;
}
