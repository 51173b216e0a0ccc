#include "engine/tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "engine/error.h"

namespace zip::unicode {

namespace {

utf8proc_category_t category(uint32_t cp) {
  if (cp > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(utf8proc_int32_t(cp));
}

}  // namespace

uint32_t next_char(std::string_view text, size_t pos, size_t* len) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos);
  const unsigned char c = p[0];
  if (c < 0x80) {  // the common case, without a library call
    *len = 1;
    return c;
  }
  utf8proc_int32_t cp = -1;
  const size_t left = text.size() - pos;
  utf8proc_ssize_t n = utf8proc_iterate(p, utf8proc_ssize_t(left < 4 ? left : 4), &cp);
  if (n <= 0 || cp < 0) {
    *len = 1;
    return kInvalidByte;
  }
  *len = size_t(n);
  return uint32_t(cp);
}

bool is_valid_utf8(std::string_view text) {
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len)
    if (next_char(text, pos, &len) == kInvalidByte) return false;
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::vector<uint32_t> decode_utf8(std::string_view text, uint32_t invalid_as) {
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t pos = 0, len; pos < text.size(); pos += len) {
    uint32_t cp = next_char(text, pos, &len);
    cps.push_back(cp == kInvalidByte ? invalid_as : cp);
  }
  return cps;
}

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(uint32_t cp) {
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_assigned_other(uint32_t cp) {
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_CC && c <= UTF8PROC_CATEGORY_CO;
}

bool is_nonspacing_mark(uint32_t cp) { return category(cp) == UTF8PROC_CATEGORY_MN; }

bool is_whitespace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  if (cp == 0x85) return true;
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_ZS && c <= UTF8PROC_CATEGORY_ZP;
}

std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps) {
  std::string utf8;
  utf8.reserve(cps.size());
  bool ascii = true;
  for (uint32_t cp : cps) {
    ZIP_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "nfd: invalid code point {:#x}", cp);
    append_utf8(utf8, cp);
    ascii = ascii && cp < 0x80;
  }
  if (ascii) return cps;  // ASCII is its own decomposition
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                    utf8proc_ssize_t(utf8.size()), &out, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  ZIP_CHECK(n >= 0, "Unicode normalisation failed: {}", utf8proc_errmsg(n));
  return decode_utf8(std::string_view(reinterpret_cast<const char*>(out), size_t(n)), 0xFFFD);
}

void append_lowercase(std::vector<uint32_t>& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
  } else if (cp == 0x130) {  // İ: the one unconditional multi-character lower-case mapping
    out.push_back('i');
    out.push_back(0x307);
  } else if (cp <= 0x10FFFF) {
    out.push_back(uint32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
  } else {
    out.push_back(cp);
  }
}

}  // namespace zip::unicode
