// zip tokenize: token ids of a text, space-separated on one line.
#include <cstdio>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_tokenize(int argc, char** argv) {
  Args args("tokenize", "(MODEL.zlm | --tokenizer FILE_OR_DIR) (-p TEXT | FILE) [--raw]",
            "Prints the token ids of TEXT (or of FILE, read as bytes, one text) on one line.",
            {{"--tokenizer", "FILE_OR_DIR", "tokenizer.model / tokenizer.bin, or a directory holding one"},
             {"-p,--prompt", "TEXT", "the text"},
             {"--raw", "", "add no special tokens (BOS)"}});
  if (!args.parse(argc, argv)) return 0;
  std::shared_ptr<const TokenizerData> data;
  size_t first_file = 0;
  if (args.has("--tokenizer")) {
    data = std::make_shared<TokenizerData>(load_tokenizer(args.str("--tokenizer")));
  } else {
    args.expect_positional(1, 2, "MODEL.zlm (or --tokenizer)");
    Model m = load_zlm(args.positional()[0]);
    if (!m.tokenizer) fail("{} has no tokenizer", args.positional()[0]);
    data = m.tokenizer;
    first_file = 1;
  }
  size_t files = args.positional().size() - first_file;
  std::string text;
  if (args.has("-p")) {
    if (files > 0) throw UsageError("zip tokenize: give either -p TEXT or FILE, not both");
    text = args.str("-p");
  } else {
    if (files != 1) throw UsageError("zip tokenize: give -p TEXT or one FILE");
    text = read_file(args.positional()[first_file]);
  }
  Tokenizer tok(data);
  std::vector<int> ids = tok.encode(text, !args.has("--raw"));
  std::string line;
  for (size_t i = 0; i < ids.size(); i++) line += (i ? " " : "") + std::to_string(ids[i]);
  line += "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

}  // namespace zip::cli
