// Pre-tokenization for byte-level BPE: the text is cut into pre-tokens by a regex before BPE
// runs inside each one. Vocabularies differ only in that regex, so each is a named rule
// (TokenizerData::pre), implemented by hand over Unicode classes (no regex engine):
//   gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+          (llama.cpp: "llama-bpe")
//   qwen2   as llama3 with \p{N} instead of \p{N}{1,3}
//   smollm  every \p{N} alone first (Hugging Face Digits(individual_digits)), then gpt2 inside
//           the rest (llama.cpp: "smollm", also starcoder, refact...)
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace zip {

// How a rule differs from gpt2.
struct PreTokenizerRule {
  const char* name;
  const char* regex;            // the pattern as tokenizer.json spells it; nullptr if not one regex
  bool contractions_any_case;   // (?i:'s|...) instead of 's|...
  bool letters_after_symbol;    // [^\r\n\p{L}\p{N}]?\p{L}+ instead of  ?\p{L}+
  int max_digits;               // 0:  ?\p{N}+; n: \p{N}{1,n}
  bool newline_rules;           //  ?[^\s\p{L}\p{N}]+[\r\n]* and \s*[\r\n]+
  bool isolate_digits;          // each \p{N} is a pre-token of its own before the regex runs
};

// The rule called `name`, or nullptr.
const PreTokenizerRule* find_pretokenizer(std::string_view name);
// The rule implementing exactly this regex (from a tokenizer.json Split), or nullptr.
const PreTokenizerRule* find_pretokenizer_by_regex(std::string_view regex);
// "gpt2, llama3, ..." for error messages.
std::string pretokenizer_names();

// Appends the pre-tokens of `text` (consecutive byte ranges covering it) to `out`. Invalid UTF-8
// bytes count as symbols (neither letters, numbers nor spaces), so nothing is ever lost.
void pretokenize(const PreTokenizerRule& rule, std::string_view text, std::vector<std::string_view>& out);

}  // namespace zip
