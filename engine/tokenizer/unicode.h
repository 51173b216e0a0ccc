// Unicode helpers for the tokenizers: UTF-8 decoding that never fails, and the character classes
// the reference tokenizers use (regex \s, \p{L}, \p{N}, \p{P}...), from libutf8proc's tables.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zip::unicode {

// Returned for a byte that does not start a valid UTF-8 sequence (never a real code point).
constexpr uint32_t kInvalidByte = 0xFFFFFFFFu;

// The character at text[pos] (pos < text.size()): its code point and byte length. A malformed
// sequence (bad continuation, overlong, surrogate, past U+10FFFF) is one kInvalidByte of length 1.
uint32_t next_char(std::string_view text, size_t pos, size_t* len);

// Whether `text` is entirely valid UTF-8 (what JSON strings, e.g. the .zlm header, must be).
bool is_valid_utf8(std::string_view text);

// Appends the UTF-8 encoding of a valid code point.
void append_utf8(std::string& out, uint32_t cp);

// Code points of `text`; malformed bytes become `invalid_as` (kInvalidByte, or e.g. U+FFFD).
std::vector<uint32_t> decode_utf8(std::string_view text, uint32_t invalid_as = kInvalidByte);

bool is_letter(uint32_t cp);       // \p{L}: Lu Ll Lt Lm Lo
bool is_number(uint32_t cp);       // \p{N}: Nd Nl No
bool is_punctuation(uint32_t cp);  // \p{P}: Pc Pd Ps Pe Pi Pf Po
bool is_assigned_other(uint32_t cp);  // Cc Cf Cs Co: \p{C} without the unassigned Cn
bool is_nonspacing_mark(uint32_t cp);  // Mn
// The White_Space property, which is what regex \s (Oniguruma, Rust) and Rust's
// char::is_whitespace mean: U+0009..U+000D, U+0085 and the categories Zs, Zl, Zp.
bool is_whitespace(uint32_t cp);

// Canonical decomposition (NFD) of valid code points.
std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps);
// Full lower-case mapping of one character (Rust's char::to_lowercase): usually one code point,
// two for U+0130. Appends to `out`.
void append_lowercase(std::vector<uint32_t>& out, uint32_t cp);

}  // namespace zip::unicode
