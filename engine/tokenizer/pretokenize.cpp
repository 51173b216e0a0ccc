// The pre-tokenizer regexes, matched by hand. A regex engine tries the alternatives in order at
// the current position and takes the first that matches; every character is a letter, a number,
// whitespace or "other", and some alternative accepts each class, so the matches tile the text.
#include "engine/tokenizer/pretokenize.h"

#include <cstdint>

#include "engine/error.h"
#include "engine/tokenizer/unicode.h"

namespace zip {

namespace {

const PreTokenizerRule kRules[] = {
    {"gpt2", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", false, false, 0, false,
     false},
    {"llama3",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     true, true, 3, true, false},
    {"qwen2",
     R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     true, true, 1, true, false},
    {"smollm", nullptr, false, false, 0, false, true},
};

// Character classes, one byte per character.
// kLongS: U+017F (ſ), which case-insensitive matching (Oniguruma's (?i), what Hugging Face
// runs) takes for an 's'.
enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kNewline = 8, kBlank = 16 /* U+0020 */, kLongS = 32 };

uint8_t classify(uint32_t cp) {
  if (cp == ' ') return kSpace | kBlank;
  if (cp == '\n' || cp == '\r') return kSpace | kNewline;
  if (cp == 0x17F) return kLetter | kLongS;
  if (unicode::is_letter(cp)) return kLetter;
  if (unicode::is_number(cp)) return kNumber;
  if (unicode::is_whitespace(cp)) return kSpace;
  return 0;  // "other": [^\s\p{L}\p{N}], invalid bytes included
}

// Matches the rule's regex over characters [0, n) of one segment.
class Matcher {
 public:
  Matcher(const PreTokenizerRule& r, const uint8_t* cls, const char* first_byte, size_t n)
      : r_(r), cls_(cls), byte_(first_byte), n_(n) {}

  // End of the match that starts at character i (always > i).
  size_t match(size_t i) const {
    if (size_t j = contraction(i)) return j;
    if (size_t j = letters(i)) return j;
    if (size_t j = numbers(i)) return j;
    if (size_t j = symbols(i)) return j;
    return spaces(i);
  }

 private:
  bool is(size_t i, uint8_t c) const { return i < n_ && (cls_[i] & c); }
  bool is_other(size_t i) const { return i < n_ && cls_[i] == 0; }
  size_t run(size_t i, uint8_t c) const {
    while (is(i, c)) i++;
    return i;
  }
  // ASCII character i, lower-cased if the rule ignores case; 0 if not ASCII.
  char ascii(size_t i) const {
    if (i >= n_) return 0;
    char c = byte_[i];
    if (c & 0x80) return 0;
    return r_.contractions_any_case && c >= 'A' && c <= 'Z' ? char(c + 32) : c;
  }

  // 's 't 're 've 'm 'll 'd
  size_t contraction(size_t i) const {
    if (ascii(i) != '\'') return 0;
    char a = ascii(i + 1), b = ascii(i + 2);
    if (r_.contractions_any_case && is(i + 1, kLongS)) return i + 2;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
  }

  // gpt2:  ?\p{L}+      llama3: [^\r\n\p{L}\p{N}]?\p{L}+
  size_t letters(size_t i) const {
    size_t j = i;
    bool prefix = r_.letters_after_symbol ? !is(i, kLetter | kNumber | kNewline) && i < n_ : is(i, kBlank);
    if (prefix && is(i + 1, kLetter)) j++;
    return is(j, kLetter) ? run(j, kLetter) : 0;
  }

  // gpt2:  ?\p{N}+      llama3: \p{N}{1,3}
  size_t numbers(size_t i) const {
    if (r_.max_digits > 0) {
      size_t j = i;
      while (j - i < size_t(r_.max_digits) && is(j, kNumber)) j++;
      return j > i ? j : 0;
    }
    size_t j = is(i, kBlank) && is(i + 1, kNumber) ? i + 1 : i;
    return is(j, kNumber) ? run(j, kNumber) : 0;
  }

  //  ?[^\s\p{L}\p{N}]+, then [\r\n]* for llama3
  size_t symbols(size_t i) const {
    size_t j = is(i, kBlank) && is_other(i + 1) ? i + 1 : i;
    if (!is_other(j)) return 0;
    while (is_other(j)) j++;
    return r_.newline_rules ? run(j, kNewline) : j;
  }

  // llama3: \s*[\r\n]+ (up to the last newline of the run); then \s+(?!\S) and \s+
  size_t spaces(size_t i) const {
    const size_t end = run(i, kSpace);
    if (end == i) fail("pre-tokenizer: internal error, no rule matches at character {}", i);  // unreachable
    if (r_.newline_rules)
      for (size_t k = end; k > i; k--)
        if (cls_[k - 1] & kNewline) return k;
    // \s+(?!\S) backs off one character when the run is followed by a non-space.
    if (end == n_ || end - i == 1) return end;
    return end - 1;
  }

  const PreTokenizerRule& r_;
  const uint8_t* cls_;
  const char* byte_;  // first byte of each character (enough to test for ASCII)
  size_t n_;
};

}  // namespace

const PreTokenizerRule* find_pretokenizer(std::string_view name) {
  for (const auto& r : kRules)
    if (name == r.name) return &r;
  return nullptr;
}

const PreTokenizerRule* find_pretokenizer_by_regex(std::string_view regex) {
  for (const auto& r : kRules)
    if (r.regex && regex == r.regex) return &r;
  return nullptr;
}

std::string pretokenizer_names() {
  std::string s;
  for (const auto& r : kRules) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

void pretokenize(const PreTokenizerRule& rule, std::string_view text, std::vector<std::string_view>& out) {
  // Per character: its class, first byte and byte offset (offsets has one more entry: the end).
  std::vector<uint8_t> cls;
  std::vector<char> first;
  std::vector<size_t> offsets;
  cls.reserve(text.size());
  first.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t pos = 0, len; pos < text.size(); pos += len) {
    uint32_t cp = unicode::next_char(text, pos, &len);
    cls.push_back(classify(cp));
    first.push_back(text[pos]);
    offsets.push_back(pos);
  }
  offsets.push_back(text.size());

  auto emit = [&](size_t a, size_t b) { out.push_back(text.substr(offsets[a], offsets[b] - offsets[a])); };
  // Runs the regex over characters [a, b), a segment it cannot see past.
  auto segment = [&](size_t a, size_t b) {
    Matcher m(rule, cls.data() + a, first.data() + a, b - a);
    for (size_t i = 0; i < b - a;) {
      size_t j = m.match(i);
      emit(a + i, a + j);
      i = j;
    }
  };
  const size_t n = cls.size();
  if (!rule.isolate_digits) {
    segment(0, n);
    return;
  }
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(cls[i] & kNumber)) continue;
    segment(start, i);
    emit(i, i + 1);
    start = i + 1;
  }
  segment(start, n);
}

}  // namespace zip
