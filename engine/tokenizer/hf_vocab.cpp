#include "engine/tokenizer/hf_vocab.h"

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/byte_level.h"

namespace zip::detail {

nlohmann::json read_json_file(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!j.is_discarded(), "'{}': not valid JSON", path);
  return j;
}

const nlohmann::json* optional_field(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

bool bool_field(const nlohmann::json& obj, const char* key, bool fallback, const std::string& where) {
  const nlohmann::json* v = optional_field(obj, key);
  if (!v) return fallback;
  ZIP_CHECK(v->is_boolean(), "'{}': '{}' must be true or false", where, key);
  return v->get<bool>();
}

std::string string_field(const nlohmann::json& obj, const char* key, const std::string& where) {
  const nlohmann::json* v = optional_field(obj, key);
  if (!v) return {};
  ZIP_CHECK(v->is_string(), "'{}': '{}' must be a string", where, key);
  return v->get<std::string>();
}

void set_vocab(TokenizerData& t, const nlohmann::json& vocab, bool byte_level, const std::string& where) {
  ZIP_CHECK(vocab.is_object(), "'{}': the vocabulary must be a JSON object of token: id", where);
  ZIP_CHECK(!vocab.empty(), "'{}': the vocabulary is empty", where);
  const size_t n_entries = vocab.size();
  // Gaps are allowed but bounded, so a corrupt id cannot ask for gigabytes.
  const int64_t max_id = int64_t(2 * n_entries + 1024);
  std::vector<std::pair<int64_t, const std::string*>> entries;
  entries.reserve(n_entries);
  int64_t n = 0;
  for (const auto& [token, id] : vocab.items()) {
    ZIP_CHECK(id.is_number_integer(), "'{}': the id of token '{}' is not an integer", where, token);
    const int64_t i = id.get<int64_t>();
    ZIP_CHECK(i >= 0 && i < max_id, "'{}': token '{}' has id {}, outside [0, {})", where, token, i, max_id);
    entries.emplace_back(i, &token);
    n = std::max(n, i + 1);
  }
  t.pieces.assign(size_t(n), std::string());
  t.types.assign(size_t(n), kUnused);
  t.scores.assign(size_t(n), 0.0f);
  for (const auto& [id, token] : entries) {
    ZIP_CHECK(t.types[size_t(id)] == kUnused, "'{}': id {} is given to two tokens", where, id);
    std::optional<std::string> bytes = byte_level ? byte_level_to_bytes(*token) : std::nullopt;
    t.pieces[size_t(id)] = bytes ? *bytes : *token;
    t.types[size_t(id)] = kNormal;
  }
}

std::pair<int32_t, int32_t> resolve_merge(const nlohmann::json& vocab, std::string_view a, std::string_view b,
                                          const std::string& where, size_t rank) {
  auto id_of = [&](std::string_view token) {
    auto it = vocab.find(std::string(token));
    ZIP_CHECK(it != vocab.end(), "'{}': merge {} ('{} {}') uses '{}', which is not in the vocabulary", where, rank, a,
              b, token);
    return int32_t(it->get<int64_t>());
  };
  int32_t left = id_of(a), right = id_of(b);
  id_of(std::string(a) + std::string(b));  // the merged token must exist too
  return {left, right};
}

void set_added_token(TokenizerData& t, int64_t id, const std::string& content, int type, const std::string& where) {
  ZIP_CHECK(!content.empty(), "'{}': added token {} is empty", where, id);
  const int64_t limit = int64_t(2 * t.pieces.size() + 1024);
  ZIP_CHECK(id >= 0 && id < limit, "'{}': added token '{}' has id {}, outside [0, {})", where, content, id, limit);
  if (size_t(id) >= t.pieces.size()) {
    t.pieces.resize(size_t(id) + 1);
    t.types.resize(size_t(id) + 1, kUnused);
    t.scores.resize(size_t(id) + 1, 0.0f);
  }
  t.pieces[size_t(id)] = content;
  t.types[size_t(id)] = type;
}

int find_piece(const TokenizerData& t, std::string_view piece) {
  for (size_t i = 0; i < t.pieces.size(); i++)
    if (t.types[i] != kUnused && t.pieces[i] == piece) return int(i);
  return -1;
}

void guess_bpe_specials(TokenizerData& t) {
  auto first_of = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view name : names)
      if (int id = find_piece(t, name); id >= 0) return id;
    return -1;
  };
  if (t.eos < 0) t.eos = first_of({"<|endoftext|>", "<|end_of_text|>", "</s>"});
  if (t.bos < 0) t.bos = first_of({"<|endoftext|>", "<|begin_of_text|>", "<s>"});
  for (int id : {t.bos, t.eos})
    if (id >= 0) t.types[size_t(id)] = kControl;
}

void apply_tokenizer_config(TokenizerData& t, const std::string& path) {
  if (!file_exists(path)) return;
  const nlohmann::json c = read_json_file(path);
  ZIP_CHECK(c.is_object(), "'{}': tokenizer_config.json must be a JSON object", path);
  // A special token is a string or {"content": string, ...} (transformers' AddedToken).
  auto token_id = [&](const char* key) {
    const nlohmann::json* v = optional_field(c, key);
    if (!v) return -1;
    const nlohmann::json* content = v->is_object() ? optional_field(*v, "content") : v;
    ZIP_CHECK(content && content->is_string(), "'{}': '{}' must be a token string", path, key);
    return find_piece(t, content->get<std::string>());
  };
  struct Slot {
    const char* key;
    int* id;
  };
  const bool wordpiece = t.type == "wordpiece";
  for (auto [key, id] : {Slot{"bos_token", &t.bos}, Slot{"eos_token", &t.eos}, Slot{"unk_token", &t.unk},
                         Slot{"pad_token", &t.pad}, Slot{"cls_token", &t.cls}, Slot{"sep_token", &t.sep},
                         Slot{"mask_token", &t.mask}}) {
    // [CLS]/[SEP] select BERT's template in encode(): only for WordPiece (RoBERTa-style BPE
    // templates are not supported).
    if (!wordpiece && (id == &t.cls || id == &t.sep || id == &t.mask)) continue;
    int found = token_id(key);
    if (found < 0) continue;
    *id = found;
    if (t.types[size_t(found)] == kNormal) t.types[size_t(found)] = id == &t.unk ? kUnknown : kControl;
  }
  t.add_bos = bool_field(c, "add_bos_token", t.add_bos, path);
  if (wordpiece) {
    // As transformers' BertTokenizerFast: strip_accents unset follows the lower-casing.
    const bool casing = c.contains("do_lower_case"), accents = c.contains("strip_accents");
    t.lowercase = bool_field(c, "do_lower_case", t.lowercase, path);
    if (casing || accents) t.strip_accents = bool_field(c, "strip_accents", t.lowercase, path);
    t.handle_chinese_chars = bool_field(c, "tokenize_chinese_chars", t.handle_chinese_chars, path);
  }
}

}  // namespace zip::detail
