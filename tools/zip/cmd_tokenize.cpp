// zip tokenize: token ids of a text, space-separated on one line; with -o, a tokens.bin corpus
// of documents for zip train / zip distill (distill/token_data.h).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "distill/token_data.h"

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

namespace {

// TOKENS.bin -> TOKENS.val.bin (a name without .bin gets .val appended).
std::string val_path(const std::string& out) {
  if (out.size() > 4 && out.compare(out.size() - 4, 4, ".bin") == 0) return out.substr(0, out.size() - 4) + ".val.bin";
  return out + ".val";
}

int write_corpus(const Args& args, const TokenizerData& tok, size_t first_file) {
  if (args.has("-p")) throw UsageError("zip tokenize: -o takes FILE arguments, not -p");
  if (args.positional().size() <= first_file) throw UsageError("zip tokenize: -o needs at least one FILE");
  double frac = args.number("--val-fraction", 0, 0, 0.9);
  std::vector<std::string> docs;
  for (size_t i = first_file; i < args.positional().size(); i++) {
    std::string text = read_file(args.positional()[i]);
    if (!args.has("--lines")) {
      docs.push_back(std::move(text));
      continue;
    }
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) docs.push_back(line);
    }
  }
  if (docs.empty()) fail("no documents (empty input)");
  distill::TokenData all = distill::tokenize_documents(tok, docs);
  size_t n_val = frac > 0 ? std::max<size_t>(1, size_t(std::llround(frac * double(docs.size())))) : 0;
  if (n_val >= docs.size() && n_val > 0)
    fail("--val-fraction {} leaves no training documents ({} in all)", frac, docs.size());
  std::string out = args.str("-o");
  distill::TokenData train = all.slice(0, docs.size() - n_val);
  distill::save_tokens(train, out);
  std::fprintf(stderr, "zip tokenize: %zu documents, %zu tokens -> %s\n", train.n_docs(), train.n_tokens(),
               out.c_str());
  if (n_val > 0) {
    distill::TokenData val = all.slice(docs.size() - n_val, docs.size());
    distill::save_tokens(val, val_path(out));
    std::fprintf(stderr, "zip tokenize: %zu documents, %zu tokens -> %s\n", val.n_docs(), val.n_tokens(),
                 val_path(out).c_str());
  }
  return 0;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Args args("tokenize", "(MODEL.zlm | --tokenizer FILE_OR_DIR) (-p TEXT | FILE | -o TOKENS.bin FILE... [--lines] [--val-fraction F]) [--raw]",
            "Prints the token ids of TEXT (or of FILE, read as bytes, one text) on one line. With -o, writes\n"
            "a tokens.bin corpus (docs/TRAINING.md): each FILE (or each non-empty line, --lines) is a document.",
            {{"--tokenizer", "FILE_OR_DIR", "tokenizer.model / tokenizer.bin, or a directory holding one"},
             {"-p,--prompt", "TEXT", "the text"},
             {"--raw", "", "add no special tokens (BOS)"},
             {"-o,--output", "TOKENS.bin", "write a tokens.bin corpus instead of printing"},
             {"--lines", "", "with -o: every non-empty line is a document"},
             {"--val-fraction", "F", "with -o: the last F of the documents go to TOKENS.val.bin"}});
  if (!args.parse(argc, argv)) return 0;
  std::shared_ptr<const TokenizerData> data;
  size_t first_file = 0;
  if (args.has("--tokenizer")) {
    data = std::make_shared<TokenizerData>(load_tokenizer(args.str("--tokenizer")));
  } else {
    args.expect_positional(1, args.has("-o") ? size_t(-1) : 2, "MODEL.zlm (or --tokenizer)");
    Model m = load_zlm(args.positional()[0]);
    if (!m.tokenizer) fail("{} has no tokenizer", args.positional()[0]);
    data = m.tokenizer;
    first_file = 1;
  }
  size_t files = args.positional().size() - first_file;
  if (args.has("-o")) return write_corpus(args, *data, first_file);
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
