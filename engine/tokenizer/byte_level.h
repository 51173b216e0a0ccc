// GPT-2's byte-level alphabet: every byte is spelled as one printable Unicode character so that
// byte-level BPE vocabularies (vocab.json, tokenizer.json, GGUF) can be stored as text. Printable
// Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes, in order,
// become U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zip {

// The character (code point) that spells byte b.
uint32_t byte_to_char(uint8_t b);
// The byte a character spells, or -1 if it is not in the alphabet.
int char_to_byte(uint32_t cp);
// Raw bytes -> their byte-level spelling (UTF-8).
std::string bytes_to_byte_level(std::string_view bytes);
// Byte-level spelling -> raw bytes; nullopt if `text` is not valid UTF-8 or has a character
// outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace zip
