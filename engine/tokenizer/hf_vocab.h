// Internal: pieces shared by the Hugging Face format loaders (vocab.json + merges.txt, vocab.txt,
// tokenizer.json, tokenizer_config.json). Every function validates its input and throws
// zip::Error naming `where` (the file) on anything malformed.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace zip::detail {

// The whole file parsed as JSON (an error, not an exception of nlohmann's, if it is not JSON).
nlohmann::json read_json_file(const std::string& path);

// Sets t.pieces/scores/types from a {"token": id, ...} object. byte_level: tokens are spelled in
// GPT-2's byte alphabet and stored decoded (a token outside the alphabet is kept as its text).
// Ids must be distinct; gaps become empty kUnused pieces.
void set_vocab(TokenizerData& t, const nlohmann::json& vocab, bool byte_level, const std::string& where);

// The (left id, right id) pair of one merge of two spelled tokens, which must be in `vocab` and
// whose concatenation must be too.
std::pair<int32_t, int32_t> resolve_merge(const nlohmann::json& vocab, std::string_view a, std::string_view b,
                                          const std::string& where, size_t rank);

// Adds or overwrites piece `id` (a Hugging Face added token: raw text, not byte-level spelled).
void set_added_token(TokenizerData& t, int64_t id, const std::string& content, int type, const std::string& where);

// The id of the first piece spelled `piece` (any type but kUnused), or -1.
int find_piece(const TokenizerData& t, std::string_view piece);

// BOS/EOS by the usual spellings (<|endoftext|> is both for GPT-2), for vocabularies that do not
// name them; they become kControl pieces.
void guess_bpe_specials(TokenizerData& t);

// Applies tokenizer_config.json (if `path` exists): the special tokens it names, add_bos_token,
// and for wordpiece do_lower_case / strip_accents / tokenize_chinese_chars (transformers lets
// these override the tokenizer files).
void apply_tokenizer_config(TokenizerData& t, const std::string& path);

// JSON field access with type checks; `where` labels errors.
const nlohmann::json* optional_field(const nlohmann::json& obj, const char* key);  // null if absent or null
bool bool_field(const nlohmann::json& obj, const char* key, bool fallback, const std::string& where);
std::string string_field(const nlohmann::json& obj, const char* key, const std::string& where);  // "" if absent/null

}  // namespace zip::detail
