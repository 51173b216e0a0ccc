// Errors: every failure the user can cause (bad files, bad flags, bad shapes) is a zip::Error
// carrying one line of text. The CLI prints it and exits non-zero; nothing below it aborts.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zip {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Bad command-line usage (exit code 2 in the CLI).
struct UsageError : Error {
  using Error::Error;
};

// `s` as one line of plain text for a terminal: control bytes, DEL and bytes that are not part of
// valid UTF-8 become \xNN (file-provided names and keys end up in error messages).
std::string printable(std::string_view s);

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace zip

// Checks a condition on untrusted input; on failure throws zip::Error with the formatted message.
#define ZIP_CHECK(cond, ...)          \
  do {                                \
    if (!(cond)) ::zip::fail(__VA_ARGS__); \
  } while (0)
