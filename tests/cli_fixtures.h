// Fixtures the CLI tests share, made through the zip binary once per test process (so that three
// test files do not each convert stories260K and tokenize TinyStories again).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace ztest {

// Shell-quoted, for building command lines.
inline std::string q(const std::string& s) { return shell_quote(s); }
// stories260K converted by `zip convert` (a .zlm with its tokenizer).
const std::string& cli_stories_zlm();
// TinyStories lines tokenized as documents by `zip tokenize`, 20 % held out (tokens.bin).
const std::string& cli_tinystories_tokens();
// Its held-out 20 % (tokenize writes it beside: tinystories.val.bin).
std::string cli_tinystories_val_tokens();
void write_bytes(const std::string& path, const std::string& bytes);
// One JSON object per non-empty line (train/distill --log files).
std::vector<nlohmann::json> read_jsonl(const std::string& path);

}  // namespace ztest
