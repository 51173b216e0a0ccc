// Rendering a conversation the way each recognised template does under Hugging Face's Jinja
// environment (trim_blocks, lstrip_blocks): one function per family, written from the published
// templates (tools/make_chat_vectors.py holds them; tests/data/chat_templates.json the outputs).
#include <cstdint>
#include <ctime>

#include "engine/chat/chat_template.h"
#include "engine/error.h"

namespace zip {

namespace detail {

namespace {

// The code point at s[i] and its length in bytes; (-1, 1) for a byte that does not start valid UTF-8.
std::pair<int32_t, size_t> decode_at(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return uint8_t(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return {c, 1};
  size_t n = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (n == 0 || i + n > s.size() || c >= 0xF8) return {-1, 1};
  int32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; k++) {
    if ((b(i + k) & 0xC0) != 0x80) return {-1, 1};
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return {cp, n};
}

// Python's str.isspace(): bidirectional class WS, B or S, or category Zs.
bool python_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

std::string python_strip(const std::string& s) {
  // Code point boundaries, then drop whitespace ones from both ends.
  std::vector<std::pair<size_t, bool>> cps;  // (start byte, is space)
  for (size_t i = 0; i < s.size();) {
    auto [cp, n] = decode_at(s, i);
    cps.push_back({i, python_space(cp)});
    i += n;
  }
  size_t first = 0, last = cps.size();
  while (first < last && cps[first].second) first++;
  while (last > first && cps[last - 1].second) last--;
  if (first == last) return {};
  const size_t b = cps[first].first, e = last < cps.size() ? cps[last].first : s.size();
  return s.substr(b, e - b);
}

}  // namespace detail

namespace {

using detail::python_strip;

// The message list after an optional leading system message; its text through `system`.
std::vector<const ChatMessage*> split_system(const std::vector<ChatMessage>& m, const std::string** system) {
  *system = nullptr;
  std::vector<const ChatMessage*> rest;
  for (size_t i = 0; i < m.size(); i++) {
    if (i == 0 && m[0].role == "system") *system = &m[0].content;
    else rest.push_back(&m[i]);
  }
  return rest;
}

// The templates' "Conversation roles must alternate user/assistant/user/assistant/..." check.
void require_alternating(const std::vector<const ChatMessage*>& turns, const char* family) {
  for (size_t i = 0; i < turns.size(); i++)
    ZIP_CHECK((turns[i]->role == "user") == (i % 2 == 0),
              "chat ({}): conversation roles must alternate user/assistant/user/assistant/... (message {} is '{}')",
              family, i + 1, printable(turns[i]->role));
}

std::string render_chatml(const ChatFormat& f, const std::vector<ChatMessage>& m, bool gen, const ChatSpecials& sp) {
  std::string out = f.bos ? sp.bos : "";
  if (!f.default_system.empty() && m[0].role != "system")
    out += "<|im_start|>system\n" + f.default_system + "<|im_end|>\n";
  for (const auto& msg : m) out += "<|im_start|>" + msg.role + "\n" + msg.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

// "07 Dec 2026": Python's strftime("%d %b %Y") in the C locale, local time (transformers'
// strftime_now).
std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%d %b %Y", &local);
  return buf;
}

std::string render_llama3(const ChatFormat& f, const std::vector<ChatMessage>& all, bool gen, const ChatSpecials& sp) {
  std::string out = f.bos ? sp.bos : "";
  std::vector<ChatMessage> m = all;
  if (f.variant == "llama3.1") {
    const std::string date = !sp.date_string.empty() ? sp.date_string : f.date_today ? today() : f.default_date;
    std::string system;
    if (m[0].role == "system") system = python_strip(m[0].content), m.erase(m.begin());
    out += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: " + f.knowledge_date +
           "\nToday Date: " + date + "\n\n" + system + "<|eot_id|>";
  }
  for (const auto& msg : m)
    out += "<|start_header_id|>" + msg.role + "<|end_header_id|>\n\n" + (f.trim ? python_strip(msg.content) : msg.content) +
           "<|eot_id|>";
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_gemma(const ChatFormat& f, const std::vector<ChatMessage>& m, bool gen, const ChatSpecials& sp) {
  const std::string* system = nullptr;
  std::vector<const ChatMessage*> turns = split_system(m, &system);
  ZIP_CHECK(!system || f.system_role, "chat (gemma): this model's template has no system role (it refuses a system message)");
  require_alternating(turns, "gemma");
  std::string out = f.bos ? sp.bos : "";
  for (size_t i = 0; i < turns.size(); i++) {
    out += "<start_of_turn>" + std::string(turns[i]->role == "assistant" ? "model" : turns[i]->role) + "\n";
    if (i == 0 && system) out += *system + f.system_sep;
    out += python_strip(turns[i]->content) + "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

// Llama-2-chat: the system text in <<SYS>> inside the first user turn, BOS before every user turn,
// no generation prompt (the text ends with [/INST] either way).
std::string render_llama2(const ChatFormat& f, const std::vector<ChatMessage>& m, const ChatSpecials& sp) {
  const std::string* system = nullptr;
  std::vector<const ChatMessage*> turns = split_system(m, &system);
  require_alternating(turns, "llama2");
  std::string out;
  for (size_t i = 0; i < turns.size(); i++) {
    std::string content = turns[i]->content;
    if (i == 0 && system) content = "<<SYS>>\n" + *system + "\n<</SYS>>\n\n" + content;
    if (turns[i]->role == "user") out += (f.bos ? sp.bos : "") + "[INST] " + python_strip(content) + " [/INST]";
    else out += " " + python_strip(content) + " " + sp.eos;
  }
  return out;
}

// Mistral-7B-Instruct v0.2 / Mixtral: BOS once, " [INST] ...", the system text before the first
// user text; no generation prompt.
std::string render_mistral(const ChatFormat& f, const std::vector<ChatMessage>& m, const ChatSpecials& sp) {
  const std::string* system = nullptr;
  std::vector<const ChatMessage*> turns = split_system(m, &system);
  require_alternating(turns, "mistral");
  std::string out = f.bos ? sp.bos : "";
  for (size_t i = 0; i < turns.size(); i++) {
    if (turns[i]->role == "user")
      out += " [INST] " + (i == 0 && system ? *system + f.system_sep : std::string()) + turns[i]->content + " [/INST]";
    else
      out += " " + turns[i]->content + sp.eos;
  }
  return out;
}

}  // namespace

std::string render_chat(const ChatFormat& f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const ChatSpecials& specials) {
  ZIP_CHECK(!messages.empty(), "chat: no messages to render");
  for (size_t i = 0; i < messages.size(); i++) {
    const std::string& r = messages[i].role;
    ZIP_CHECK(r == "user" || r == "assistant" || (r == "system" && i == 0),
              "chat: message {} has role '{}' (roles: a first 'system', then 'user' and 'assistant')", i + 1,
              printable(r));
  }
  switch (f.family) {
    case ChatFamily::ChatML: return render_chatml(f, messages, add_generation_prompt, specials);
    case ChatFamily::Llama3: return render_llama3(f, messages, add_generation_prompt, specials);
    case ChatFamily::Gemma: return render_gemma(f, messages, add_generation_prompt, specials);
    case ChatFamily::Inst:
      return f.variant == "llama2" ? render_llama2(f, messages, specials) : render_mistral(f, messages, specials);
  }
  fail("chat: unknown family");
}

}  // namespace zip
