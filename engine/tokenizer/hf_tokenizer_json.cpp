// Hugging Face tokenizer.json: the kinds this engine runs id-for-id are read, every other kind is
// named and refused (so a Llama directory can fall back to its tokenizer.model):
//   byte-level BPE: model BPE without byte_fallback, no normalizer, pre_tokenizer ByteLevel (the
//     GPT-2 regex) or Sequence[Split(a known regex, Isolated), ByteLevel(use_regex=false)] or
//     Sequence[Digits(individual_digits), ByteLevel]; post_processor nothing or a BOS template.
//   WordPiece: normalizer BertNormalizer (or none), pre_tokenizer BertPreTokenizer, "##"
//     continuations, post_processor BertProcessing / a [CLS] $A [SEP] template (or none).
#include "engine/error.h"
#include "engine/tokenizer/hf_vocab.h"
#include "engine/tokenizer/pretokenize.h"

namespace zip {

namespace {

using nlohmann::json;
using detail::optional_field;
using detail::string_field;

// What the file asks for, or why it is not supported.
struct Plan {
  std::string unsupported;  // non-empty: the reason
  std::string type;         // "byte-bpe" or "wordpiece"
  const PreTokenizerRule* rule = nullptr;
  bool add_prefix_space = false;
  std::vector<std::string> template_specials;  // special tokens around $A in the single template
};

std::string type_of(const json& node) {
  const json* t = optional_field(node, "type");
  return t && t->is_string() ? t->get<std::string>() : std::string();
}

// The pre-tokenizer of a byte-level BPE: sets plan.rule / add_prefix_space, or the reason.
void plan_byte_level(const json* pre, Plan& p) {
  auto byte_level = [](const json& node, bool want_regex) {
    return type_of(node) == "ByteLevel" && node.value("use_regex", true) == want_regex;
  };
  const std::string type = pre ? type_of(*pre) : "none";
  if (pre && byte_level(*pre, true)) {
    p.rule = find_pretokenizer("gpt2");
    p.add_prefix_space = pre->value("add_prefix_space", false);
    return;
  }
  const json* seq = type == "Sequence" ? optional_field(*pre, "pretokenizers") : nullptr;
  if (seq && seq->is_array() && seq->size() == 2) {
    const json& first = (*seq)[0];
    const json& second = (*seq)[1];
    const json* pattern = optional_field(first, "pattern");
    const json* regex = pattern ? optional_field(*pattern, "Regex") : nullptr;
    if (type_of(first) == "Split" && regex && regex->is_string() && first.value("behavior", "") == "Isolated" &&
        !first.value("invert", false) && byte_level(second, false)) {
      p.rule = find_pretokenizer_by_regex(regex->get<std::string>());
      if (!p.rule) p.unsupported = "its pre-tokenizer regex is not one of the known rules (" + pretokenizer_names() + ")";
    } else if (type_of(first) == "Digits" && first.value("individual_digits", false) && byte_level(second, true)) {
      p.rule = find_pretokenizer("smollm");
    } else {
      p.unsupported = "its pre-tokenizer Sequence is not a known byte-level rule";
    }
    if (p.rule) p.add_prefix_space = second.value("add_prefix_space", false);
    return;
  }
  p.unsupported = "its pre-tokenizer (" + type + ") is not byte-level";
}

// Special tokens of the single-text template: "A" alone, or with special tokens around it.
void plan_post_processor(const json* post, Plan& p) {
  if (!post) return;
  const std::string type = type_of(*post);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    const json* list = optional_field(*post, "processors");
    if (!list || !list->is_array()) {
      p.unsupported = "its post-processor Sequence has no processors";
      return;
    }
    for (const json& item : *list) plan_post_processor(&item, p);
    return;
  }
  if (type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const json* v = optional_field(*post, key);
      if (!v || !v->is_array() || v->empty() || !(*v)[0].is_string()) {
        p.unsupported = "its BertProcessing has no valid '" + std::string(key) + "'";
        return;
      }
      p.template_specials.push_back((*v)[0].get<std::string>());
    }
    return;
  }
  if (type != "TemplateProcessing") {
    p.unsupported = "its post-processor " + type + " is not supported";
    return;
  }
  const json* single = optional_field(*post, "single");
  bool seen_a = false, ok = single && single->is_array();
  std::vector<std::string> before, after;
  for (size_t i = 0; ok && i < single->size(); i++) {
    const json& item = (*single)[i];
    const json* special = optional_field(item, "SpecialToken");
    const json* id = special ? optional_field(*special, "id") : nullptr;
    if (optional_field(item, "Sequence")) {
      ok = !seen_a;
      seen_a = true;
    } else if (id && id->is_string()) {
      (seen_a ? after : before).push_back(id->get<std::string>());
    } else {
      ok = false;
    }
  }
  if (!ok || !seen_a || before.size() > 1 || after.size() > 1 || (p.type == "byte-bpe" && !after.empty()) ||
      (p.type == "wordpiece" && before.size() != after.size())) {
    p.unsupported = "its TemplateProcessing is not [BOS] $A or [CLS] $A [SEP]";
    return;
  }
  p.template_specials = before;
  p.template_specials.insert(p.template_specials.end(), after.begin(), after.end());
}

Plan plan(const json& j, const std::string& where) {
  ZIP_CHECK(j.is_object(), "'{}': a tokenizer.json must be a JSON object", where);
  const json* model = optional_field(j, "model");
  ZIP_CHECK(model && model->is_object(), "'{}': not a tokenizer.json (no 'model' object)", where);
  std::string type = type_of(*model);
  if (type.empty())  // older files leave the model type implicit
    type = model->contains("merges") ? "BPE" : model->contains("max_input_chars_per_word") ? "WordPiece" : "?";
  const json* normalizer = optional_field(j, "normalizer");
  const json* pre = optional_field(j, "pre_tokenizer");
  Plan p;
  if (type == "BPE") {
    p.type = "byte-bpe";
    if (model->value("byte_fallback", false))
      p.unsupported = "it is a SentencePiece-style BPE (byte_fallback)";
    else if (normalizer)
      p.unsupported = "it has a normalizer (" + type_of(*normalizer) + ")";
    else if (!string_field(*model, "continuing_subword_prefix", where).empty() ||
             !string_field(*model, "end_of_word_suffix", where).empty())
      p.unsupported = "its BPE model uses subword prefixes or suffixes";
    else if (const json* dropout = optional_field(*model, "dropout"); dropout && *dropout != 0)
      p.unsupported = "its BPE model uses dropout";
    else
      plan_byte_level(pre, p);
  } else if (type == "WordPiece") {
    p.type = "wordpiece";
    const json* prefix = optional_field(*model, "continuing_subword_prefix");
    const json* max_chars = optional_field(*model, "max_input_chars_per_word");
    if (normalizer && type_of(*normalizer) != "BertNormalizer")
      p.unsupported = "its normalizer (" + type_of(*normalizer) + ") is not BertNormalizer";
    else if (!pre || type_of(*pre) != "BertPreTokenizer")
      p.unsupported = "its pre-tokenizer is not BertPreTokenizer";
    else if ((prefix && *prefix != "##") || (max_chars && *max_chars != 100))
      p.unsupported = "its WordPiece model does not use '##' and 100 characters per word";
  } else {
    p.unsupported = "its model type is " + type;
  }
  if (p.unsupported.empty()) plan_post_processor(optional_field(j, "post_processor"), p);
  return p;
}

void read_added_tokens(const json& j, TokenizerData& t, const std::string& where) {
  const json* added = optional_field(j, "added_tokens");
  if (!added) return;
  ZIP_CHECK(added->is_array(), "'{}': 'added_tokens' must be an array", where);
  for (const json& a : *added) {
    const json* id = optional_field(a, "id");
    const json* content = optional_field(a, "content");
    ZIP_CHECK(id && id->is_number_integer() && content && content->is_string(),
              "'{}': an added token needs an integer 'id' and a string 'content'", where);
    const int type = detail::bool_field(a, "special", false, where) ? kControl : kUserDefined;
    detail::set_added_token(t, id->get<int64_t>(), content->get<std::string>(), type, where);
  }
}

// The id of a template's special token, by its spelling.
int special_id(const TokenizerData& t, const std::string& name, const std::string& where) {
  int id = detail::find_piece(t, name);
  ZIP_CHECK(id >= 0, "'{}': the post-processor's special token '{}' is not in the vocabulary", where, name);
  return id;
}

TokenizerData from_json(const json& j, const std::string& path) {
  const Plan p = plan(j, path);
  ZIP_CHECK(p.unsupported.empty(), "'{}': tokenizer.json of this kind is not supported: {}", path, p.unsupported);
  const json& model = j["model"];
  const json* vocab = optional_field(model, "vocab");
  ZIP_CHECK(vocab, "'{}': the model has no 'vocab'", path);

  TokenizerData t;
  t.type = p.type;
  t.add_bos = false;
  t.add_dummy_prefix = false;
  t.byte_fallback = false;
  detail::set_vocab(t, *vocab, p.type == "byte-bpe", path);
  const std::string unk = string_field(model, "unk_token", path);

  if (p.type == "byte-bpe") {
    t.pre = p.rule->name;
    t.add_dummy_prefix = p.add_prefix_space;
    t.ignore_merges = detail::bool_field(model, "ignore_merges", false, path);
    const json* merges = optional_field(model, "merges");
    ZIP_CHECK(merges && merges->is_array(), "'{}': the BPE model has no 'merges' array", path);
    // Each merge is "a b" (older files) or ["a", "b"].
    for (const json& m : *merges) {
      const size_t rank = t.merges.size();
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        ZIP_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos,
                  "'{}': merge {} is not two tokens 'a b'", path, rank);
        t.merges.push_back(detail::resolve_merge(*vocab, std::string_view(s).substr(0, sp),
                                                 std::string_view(s).substr(sp + 1), path, rank));
      } else {
        ZIP_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                  "'{}': merge {} is neither 'a b' nor [\"a\", \"b\"]", path, rank);
        t.merges.push_back(detail::resolve_merge(*vocab, m[0].get_ref<const std::string&>(),
                                                 m[1].get_ref<const std::string&>(), path, rank));
      }
    }
  } else {
    const json& n = j.contains("normalizer") ? j["normalizer"] : json();
    const bool have = n.is_object();
    t.clean_text = have && detail::bool_field(n, "clean_text", true, path);
    t.handle_chinese_chars = have && detail::bool_field(n, "handle_chinese_chars", true, path);
    t.lowercase = have && detail::bool_field(n, "lowercase", true, path);
    t.strip_accents = have && detail::bool_field(n, "strip_accents", t.lowercase, path);
  }

  read_added_tokens(j, t, path);
  if (!unk.empty()) {
    t.unk = detail::find_piece(t, unk);
    ZIP_CHECK(t.unk >= 0, "'{}': the unknown token '{}' is not in the vocabulary", path, unk);
    t.types[size_t(t.unk)] = kUnknown;
  }
  if (p.type == "wordpiece") {
    if (p.template_specials.size() == 2) {
      t.cls = special_id(t, p.template_specials[0], path);
      t.sep = special_id(t, p.template_specials[1], path);
    }
    t.mask = detail::find_piece(t, "[MASK]");
    t.pad = detail::find_piece(t, "[PAD]");
    for (int id : {t.cls, t.sep, t.mask, t.pad})
      if (id >= 0 && t.types[size_t(id)] == kNormal) t.types[size_t(id)] = kControl;
  } else {
    if (p.template_specials.size() == 1) {
      t.bos = special_id(t, p.template_specials[0], path);
      t.add_bos = true;
    }
    detail::guess_bpe_specials(t);
  }
  return t;
}

}  // namespace

bool is_supported_hf_tokenizer_json(const std::string& path) {
  const json j = detail::read_json_file(path);
  try {
    return plan(j, path).unsupported.empty();
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    fail("'{}': malformed tokenizer.json: {}", path, e.what());
  }
}

TokenizerData load_hf_tokenizer_json(const std::string& path) {
  const json j = detail::read_json_file(path);
  try {
    return from_json(j, path);
  } catch (const json::exception& e) {
    fail("'{}': malformed tokenizer.json: {}", path, e.what());
  }
}

}  // namespace zip
