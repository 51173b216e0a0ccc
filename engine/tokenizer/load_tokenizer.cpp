// load_tokenizer: which loader a file or directory needs.
#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/hf_vocab.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"

namespace zip {

namespace {

namespace fs = std::filesystem;

std::string sibling(const std::string& path, const char* name) {
  return (fs::path(path).parent_path() / name).string();
}

// The Hugging Face formats, then tokenizer_config.json (and the chat template) from the same
// directory.
TokenizerData with_config(TokenizerData t, const std::string& dir) {
  detail::apply_tokenizer_config(t, (fs::path(dir) / "tokenizer_config.json").string());
  t.chat_template = load_chat_template(dir);
  return t;
}

// A SentencePiece model in a Hugging Face directory: only the chat template is taken from
// tokenizer_config.json (the .model file defines the specials).
TokenizerData with_template(TokenizerData t, const std::string& dir) {
  t.chat_template = load_chat_template(dir);
  return t;
}

std::string parent_dir(const std::string& path) {
  std::string p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

// The first bytes of a file, without reading all of it.
std::string_view head(const MappedFile& f) {
  return std::string_view(reinterpret_cast<const char*>(f.data()), std::min<size_t>(f.size(), 256));
}

bool looks_like_json(const std::string& path) {
  auto f = MappedFile::open(path);
  std::string_view h = head(*f);
  size_t first = h.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && h[first] == '{';
}

bool starts_with_version_line(const std::string& path) { return head(*MappedFile::open(path)).starts_with("#version"); }

// vocab.json or tokenizer.json, told apart by content.
TokenizerData load_json_file(const std::string& path) {
  const nlohmann::json j = detail::read_json_file(path);
  // (A vocab.json may well have a token "model", but its values are ids.)
  if (j.is_object() && j.contains("model") && j["model"].is_object()) return with_config(load_hf_tokenizer_json(path), parent_dir(path));
  const std::string merges = sibling(path, "merges.txt");
  ZIP_CHECK(file_exists(merges), "'{}' looks like a vocab.json, but there is no merges.txt beside it", path);
  return with_config(load_gpt2_vocab(path, merges), parent_dir(path));
}

TokenizerData load_directory(const std::string& dir_name) {
  const fs::path dir(dir_name);
  auto in_dir = [&](const char* name) { return (dir / name).string(); };
  auto has = [&](const char* name) { return file_exists(in_dir(name)); };

  if (has("tokenizer.json")) {
    // A Llama directory has both; tokenizer.model is the one we run when tokenizer.json is a
    // SentencePiece-style BPE (or another kind we do not support).
    if (is_supported_hf_tokenizer_json(in_dir("tokenizer.json")))
      return with_config(load_hf_tokenizer_json(in_dir("tokenizer.json")), dir_name);
    if (has("tokenizer.model")) return with_template(load_sentencepiece_model(in_dir("tokenizer.model")), dir_name);
    load_hf_tokenizer_json(in_dir("tokenizer.json"));  // throws, saying what is not supported
  }
  if (has("vocab.json") && has("merges.txt"))
    return with_config(load_gpt2_vocab(in_dir("vocab.json"), in_dir("merges.txt")), dir_name);
  if (has("vocab.txt")) return with_config(load_wordpiece_vocab(in_dir("vocab.txt")), dir_name);
  if (has("tokenizer.model")) return with_template(load_sentencepiece_model(in_dir("tokenizer.model")), dir_name);
  if (has("tokenizer.bin")) return load_llama2c_tokenizer(in_dir("tokenizer.bin"));
  // llama2.c's custom vocabularies are named tok<N>.bin; other *.bin files there are checkpoints.
  std::vector<std::string> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 7 && name.rfind("tok", 0) == 0 && name.ends_with(".bin") && file_exists(entry.path().string()))
      candidates.push_back(entry.path().string());
  }
  ZIP_CHECK(!ec, "cannot list directory '{}': {}", dir_name, ec.message());
  ZIP_CHECK(!candidates.empty(),
            "no tokenizer in '{}' (looked for tokenizer.json, vocab.json + merges.txt, vocab.txt, tokenizer.model, "
            "tokenizer.bin, tok*.bin)",
            dir_name);
  ZIP_CHECK(candidates.size() == 1, "'{}' holds several tok*.bin files; name the tokenizer file", dir_name);
  return load_llama2c_tokenizer(candidates[0]);
}

}  // namespace

std::string load_chat_template(const std::string& dir) {
  const std::string jinja = (fs::path(dir) / "chat_template.jinja").string();
  if (file_exists(jinja)) {
    std::string text = read_file(jinja);
    ZIP_CHECK(unicode::is_valid_utf8(text), "'{}' is not valid UTF-8", jinja);
    return text;
  }
  const std::string config = (fs::path(dir) / "tokenizer_config.json").string();
  if (!file_exists(config)) return {};
  const nlohmann::json c = detail::read_json_file(config);
  const nlohmann::json* v = detail::optional_field(c, "chat_template");
  if (!v) return {};
  if (v->is_string()) return v->get<std::string>();
  ZIP_CHECK(v->is_array(), "'{}': 'chat_template' must be a string or a list of {{name, template}}", config);
  for (const auto& named : *v) {
    ZIP_CHECK(named.is_object() && named.contains("name") && named["name"].is_string() && named.contains("template") &&
                  named["template"].is_string(),
              "'{}': each 'chat_template' entry must be {{\"name\": string, \"template\": string}}", config);
    if (named["name"] == "default") return named["template"].get<std::string>();
  }
  return {};  // named templates only (tool_use, rag...): none to chat with by default
}

TokenizerData load_tokenizer(const std::string& file_or_dir) {
  if (is_directory(file_or_dir)) return load_directory(file_or_dir);
  require_regular_file(file_or_dir);
  const std::string name = fs::path(file_or_dir).filename().string();
  if (name.ends_with(".model")) return load_sentencepiece_model(file_or_dir);
  // llama2.c's .bin starts with an int32 that may happen to be '{'.
  if (name.ends_with(".json") || (!name.ends_with(".bin") && looks_like_json(file_or_dir)))
    return load_json_file(file_or_dir);
  if (name.ends_with(".txt")) {
    if (name.ends_with("merges.txt") || starts_with_version_line(file_or_dir)) {
      const std::string vocab = sibling(file_or_dir, "vocab.json");
      ZIP_CHECK(file_exists(vocab), "'{}' looks like a merges.txt, but there is no vocab.json beside it", file_or_dir);
      return with_config(load_gpt2_vocab(vocab, file_or_dir), parent_dir(file_or_dir));
    }
    return with_config(load_wordpiece_vocab(file_or_dir), parent_dir(file_or_dir));
  }
  return load_llama2c_tokenizer(file_or_dir);
}

}  // namespace zip
