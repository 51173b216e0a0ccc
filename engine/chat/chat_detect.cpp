// Recognising a chat template: the text is normalised (whitespace outside literals and the
// whitespace-control dashes removed, literals re-quoted, attribute access spelled as subscripts)
// so that spacing and quoting styles do not matter, then each family's signatures, written in
// plain Jinja below and normalised the same way, must all appear, and features that would change
// the output (reasoning blocks, dated system headers, tool prompts in the default path) must not.
#include <string_view>

#include "engine/chat/chat_template.h"
#include "engine/error.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

namespace detail {

namespace {

bool ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// A literal starting at s[i] (the quote); appends it re-quoted with ' and returns the index after it.
size_t copy_literal(const std::string& s, size_t i, std::string& out) {
  const char q = s[i++];
  std::string raw;
  while (i < s.size() && s[i] != q) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char e = s[i + 1];
      raw += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      i += 2;
    } else {
      raw += s[i++];
    }
  }
  out += '\'';
  for (char c : raw) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\'' || c == '\\') out += '\\', out += c;
    else out += c;
  }
  out += '\'';
  return i < s.size() ? i + 1 : i;
}

// Expression/statement code from s[i] up to the closing delimiter `close` ("}}" or "%}");
// returns the index after it (or the end).
size_t copy_code(const std::string& s, size_t i, const char* close, std::string& out) {
  while (i < s.size()) {
    if ((s[i] == '-' || s[i] == '+') && s.compare(i + 1, 2, close) == 0) {
      out += close;
      return i + 3;
    }
    if (s.compare(i, 2, close) == 0) {
      out += close;
      return i + 2;
    }
    const char c = s[i];
    if (c == '\'' || c == '"') {
      i = copy_literal(s, i, out);
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
    } else if (c == '.' && (s.compare(i + 1, 4, "role") == 0 || s.compare(i + 1, 7, "content") == 0)) {
      const size_t len = s.compare(i + 1, 4, "role") == 0 ? 4 : 7;
      if (i + 1 + len < s.size() && ident_char(s[i + 1 + len])) {
        out += c;
        i++;
      } else {
        out += "['" + s.substr(i + 1, len) + "']";
        i += 1 + len;
      }
    } else {
      out += c;
      i++;
    }
  }
  return i;
}

}  // namespace

std::string normalise_template(const std::string& s, bool in_code) {
  std::string out;
  if (in_code) {
    copy_code(s, 0, "\x01\x01", out);  // no closing delimiter: all of it
    return out;
  }
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 2, "{#") == 0) {
      size_t end = s.find("#}", i + 2);
      i = end == std::string::npos ? s.size() : end + 2;
    } else if (s.compare(i, 2, "{{") == 0 || s.compare(i, 2, "{%") == 0) {
      const bool expr = s[i + 1] == '{';
      out += expr ? "{{" : "{%";
      i += 2;
      if (i < s.size() && (s[i] == '-' || s[i] == '+')) i++;
      i = copy_code(s, i, expr ? "}}" : "%}", out);
    } else {
      // Raw text: kept, except runs of whitespace (the layout between tags).
      size_t end = i;
      while (end < s.size() && s.compare(end, 2, "{{") != 0 && s.compare(end, 2, "{%") != 0 &&
             s.compare(end, 2, "{#") != 0)
        end++;
      std::string_view text(s.data() + i, end - i);
      if (text.find_first_not_of(" \t\r\n") != std::string_view::npos) out += text;
      i = end;
    }
  }
  return out;
}

}  // namespace detail

namespace {

using detail::normalise_template;

struct Template {
  std::string norm;
  bool has(std::string_view jinja_code) const { return norm.find(normalise_template(std::string(jinja_code), true)) != std::string::npos; }
  bool has_text(std::string_view raw) const { return norm.find(raw) != std::string::npos; }
};

// The text of the normalised literal that starts right after `prefix` (which ends inside a
// literal) and runs to `until` within the same literal; nullopt-like "" + false if absent.
bool literal_after(const std::string& norm, const std::string& prefix, const std::string& until, std::string& value) {
  for (size_t at = norm.find(prefix); at != std::string::npos; at = norm.find(prefix, at + 1)) {
    size_t b = at + prefix.size();
    std::string raw;
    size_t i = b;
    bool ok = false;
    while (i < norm.size()) {
      if (norm.compare(i, until.size(), until) == 0) {
        ok = true;
        break;
      }
      if (norm[i] == '\'') break;  // the literal ended first: not a constant text
      if (norm[i] == '\\' && i + 1 < norm.size()) {
        const char e = norm[i + 1];
        raw += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        i += 2;
      } else {
        raw += norm[i++];
      }
    }
    if (ok) {
      value = raw;
      return true;
    }
  }
  return false;
}

std::string unknown_message(const char* why) {
  return fmt::format("the model's chat template is not one zip can render exactly ({}); --chat-format NAME ({}) "
                     "renders it as that family, --raw sends the prompt as plain text",
                     why, chat_family_names());
}

// Each returns whether `t` is of the family, filling `f`; `strict` false fills what it can.
bool read_chatml(const Template& t, ChatFormat& f, bool strict) {
  f.family = ChatFamily::ChatML, f.variant = "chatml", f.end_of_turn = "<|im_end|>";
  f.bos = t.has("bos_token");
  literal_after(t.norm, "'<|im_start|>system\\n", "<|im_end|>", f.default_system);
  if (!f.default_system.empty()) f.variant = "chatml-default-system";
  const bool turn = t.has("'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'") ||
                    t.has("'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'");
  const bool extra = t.has_text("<think>") || t.has_text("enable_thinking") || t.has_text("reasoning_content");
  return !strict || (turn && t.has("'<|im_start|>assistant\\n'") && !extra);
}

// Llama 3.1 / 3.2: a system header with dates always comes first (the system text, trimmed, or
// nothing after them); tools and ipython roles only appear when tools are passed (zip passes none).
bool read_llama31(const Template& t, ChatFormat& f, bool strict) {
  f.variant = "llama3.1";
  const bool dates = literal_after(t.norm, "'Cutting Knowledge Date: ", "\\n'", f.knowledge_date) &&
                     t.has("'Today Date: ' + date_string + '\\n\\n'");
  literal_after(t.norm, "{%setdate_string='", "'", f.default_date);
  f.date_today = t.has_text("strftime_now('%d %b %Y')");
  const bool system = t.has("set system_message = messages[0]['content'] | trim") &&
                      t.has_text("{{'<|start_header_id|>system<|end_header_id|>\\n\\n'}}") &&
                      t.has_text("{{system_message}}{{'<|eot_id|>'}}");
  return !strict || (dates && system && (f.date_today || !f.default_date.empty()));
}

bool read_llama3(const Template& t, ChatFormat& f, bool strict) {
  f.family = ChatFamily::Llama3, f.variant = "llama3", f.end_of_turn = "<|eot_id|>";
  f.bos = t.has("bos_token");
  const std::string head = "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content']";
  f.trim = t.has(head + " | trim + '<|eot_id|>'");
  const bool turn = f.trim || t.has(head + " + '<|eot_id|>'");
  const bool gen = t.has("'<|start_header_id|>assistant<|end_header_id|>\\n\\n'");
  if (t.has_text("Cutting Knowledge Date")) return read_llama31(t, f, strict) && (!strict || (turn && gen && f.trim));
  const bool extra = t.has_text("date_string") || t.has_text("ipython");
  return !strict || (turn && gen && !extra);
}

bool read_gemma(const Template& t, ChatFormat& f, bool strict) {
  f.family = ChatFamily::Gemma, f.variant = "gemma3", f.end_of_turn = "<end_of_turn>", f.trim = true;
  f.bos = t.has("bos_token");
  // Gemma 3 opens the first user turn with the system text; Gemma 1/2 raise on a system message.
  // Forced onto another template (--chat-format gemma): Gemma 3's rule.
  f.system_sep = "\n\n";
  bool system_ok = literal_after(t.norm, "{%setfirst_user_prefix=messages[0]['content']+'", "'", f.system_sep) &&
                   t.has("(first_user_prefix if loop.first else '')");
  if (!system_ok && t.has_text("raise_exception('System role not supported')")) {
    f.variant = "gemma", f.system_role = false, f.system_sep.clear();
    system_ok = true;
  }
  const bool turn = t.has("'<start_of_turn>' + role + '\\n'") && t.has("'<end_of_turn>\\n'") &&
                    t.has("message['content'] | trim") && t.has("set role = 'model'");
  return !strict || (turn && system_ok && t.has("'<start_of_turn>model\\n'"));
}

bool read_inst(const Template& t, ChatFormat& f, bool strict, const std::string& eos) {
  f.family = ChatFamily::Inst, f.end_of_turn = eos;
  f.bos = t.has("bos_token");
  if (t.has_text("<<SYS>>")) {
    f.variant = "llama2", f.trim = true;
    return !strict || (t.has("bos_token + '[INST] ' + content.strip() + ' [/INST]'") &&
                       t.has("'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content']") &&
                       t.has("' ' + content.strip() + ' ' + eos_token"));
  }
  f.variant = "mistral", f.system_sep = "\n\n";
  return !strict || (t.has("' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]'") &&
                     t.has("' [INST] ' + message['content'] + ' [/INST]'") && t.has("' ' + message['content'] + eos_token") &&
                     !t.has_text("[AVAILABLE_TOOLS]"));
}

}  // namespace

const char* chat_family_name(ChatFamily f) {
  switch (f) {
    case ChatFamily::ChatML: return "chatml";
    case ChatFamily::Llama3: return "llama3";
    case ChatFamily::Gemma: return "gemma";
    case ChatFamily::Inst: return "inst";
  }
  return "?";
}

const char* chat_family_names() { return "chatml|llama3|gemma|inst"; }

ChatFormat detect_chat_format(const std::string& tmpl, const std::string& eos) {
  if (tmpl.empty()) throw Error(unknown_message("the model has no chat template"));
  const Template t{normalise_template(tmpl)};
  ChatFormat f;
  if (t.has_text("<|im_start|>")) {
    if (read_chatml(t, f, true)) return f;
    throw Error(unknown_message("a ChatML variant with features zip does not model"));
  }
  if (t.has_text("<|start_header_id|>")) {
    if (read_llama3(t, f, true)) return f;
    throw Error(unknown_message("a Llama-3 variant zip does not model"));
  }
  if (t.has_text("<start_of_turn>")) {
    if (read_gemma(t, f, true)) return f;
    throw Error(unknown_message("a Gemma variant zip does not model"));
  }
  if (t.has_text("[INST]")) {
    if (read_inst(t, f, true, eos)) return f;
    throw Error(unknown_message("an [INST] variant zip does not model"));
  }
  throw Error(unknown_message("no known family's markers"));
}

ChatFormat chat_format_named(const std::string& name, const std::string& tmpl, const std::string& eos) {
  const Template t{normalise_template(tmpl)};
  ChatFormat f;
  if (name == "chatml") read_chatml(t, f, false);
  else if (name == "llama3") read_llama3(t, f, false), f.trim = f.trim || tmpl.empty(), f.bos = f.bos || tmpl.empty();
  else if (name == "gemma") read_gemma(t, f, false), f.bos = f.bos || tmpl.empty();
  else if (name == "inst") read_inst(t, f, false, eos), f.bos = f.bos || tmpl.empty();
  else throw UsageError(fmt::format("--chat-format: unknown family '{}' (known: {})", printable(name), chat_family_names()));
  return f;
}

std::string chat_template_summary(const TokenizerData& tok) {
  if (tok.chat_template.empty()) return "none";
  const std::string eos = tok.eos >= 0 && tok.eos < int(tok.pieces.size()) ? tok.pieces[size_t(tok.eos)] : "";
  try {
    const ChatFormat f = detect_chat_format(tok.chat_template, eos);
    return fmt::format("{} ({}), {} chars of template", chat_family_name(f.family), f.variant, tok.chat_template.size());
  } catch (const Error&) {
    return fmt::format("not recognised (zip run needs --chat-format {}), {} chars of template", chat_family_names(),
                       tok.chat_template.size());
  }
}

}  // namespace zip
