// Chat templates: recognising a model's published Jinja chat template and rendering a
// conversation exactly as Hugging Face's tokenizer.apply_chat_template(messages, tokenize=False,
// add_generation_prompt=...) does for it. There is no Jinja interpreter: the template text is
// matched against the families in common use (signatures on a whitespace-normalised form of the
// template), their parameters (default system message, BOS, trimming, system handling) are read
// from the text, and each family is rendered by hand. Anything else is refused with one line.
//   chatml  <|im_start|>ROLE\n...<|im_end|>\n  (SmolLM2, Qwen2/2.5, OpenHermes; default system)
//   llama3  <|start_header_id|>ROLE<|end_header_id|>\n\n...<|eot_id|>  (Meta-Llama-3-Instruct;
//           Llama 3.1/3.2's dated system header)
//   gemma   <start_of_turn>user|model\n...<end_of_turn>\n  (Gemma 1/2: no system role;
//           Gemma 3: the system text + "\n\n" opens the first user turn)
//   inst    [INST] ... [/INST]  (Llama-2-chat with <<SYS>>; Mistral-7B-Instruct v0.2 / Mixtral)
// docs/CHAT.md lists exactly what is recognised.
#pragma once
#include <string>
#include <vector>

namespace zip {

struct TokenizerData;

struct ChatMessage {
  std::string role;  // "system" (first message only), "user" or "assistant"
  std::string content;
};

enum class ChatFamily { ChatML, Llama3, Gemma, Inst };

// A family and the parameters its template text gave.
struct ChatFormat {
  ChatFamily family = ChatFamily::ChatML;
  std::string variant;         // what was recognised, e.g. "chatml", "llama2", "mistral", "gemma3"
  bool bos = false;            // the template emits bos_token (at the start, or per turn for llama2)
  bool trim = false;           // message contents are whitespace-trimmed (Jinja |trim, .strip())
  std::string default_system;  // chatml: the system turn used when the first message is not one
  bool system_role = true;     // false: a system message is an error (Gemma 1/2)
  std::string system_sep;      // gemma3 / mistral: what joins the system text to the first user text
  std::string end_of_turn;     // the text that ends an assistant turn: "<|im_end|>", "<|eot_id|>",
                               // "<end_of_turn>", or the EOS text for inst
  // llama3.1 (Llama 3.1 / 3.2): the system header's "Cutting Knowledge Date: ..." and
  // "Today Date: ..." lines; the date is today's when the template calls strftime_now (as
  // transformers provides it), else its literal default.
  std::string knowledge_date, default_date;
  bool date_today = false;
};

// The template's variables: the texts bos_token and eos_token stand for (the tokenizer's BOS/EOS
// pieces; "" if none), and date_string ("" = the template's own rule: today, or its default).
struct ChatSpecials {
  std::string bos, eos;
  std::string date_string;
};

// "chatml", "llama3", "gemma", "inst".
const char* chat_family_name(ChatFamily f);
// The names --chat-format accepts, for messages: "chatml|llama3|gemma|inst".
const char* chat_family_names();

// Recognises `tmpl` (and reads its parameters; `eos` is the EOS text, inst's end of turn).
// Throws zip::Error, one line that names --chat-format, for a template it cannot render exactly.
ChatFormat detect_chat_format(const std::string& tmpl, const std::string& eos);
// The family named `name` (--chat-format; UsageError if unknown), its parameters read from `tmpl`
// where they are recognisable and the family's defaults otherwise.
ChatFormat chat_format_named(const std::string& name, const std::string& tmpl, const std::string& eos);

// One line for zip inspect: "none", "chatml (chatml-default-system), 412 chars of template", or
// "not recognised (use --chat-format), 4100 chars of template".
std::string chat_template_summary(const TokenizerData& tok);

// The conversation as the template renders it. Throws zip::Error where the template itself
// raises (roles that do not alternate, a system message Gemma 1/2 refuses, empty conversation).
std::string render_chat(const ChatFormat& f, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const ChatSpecials& specials);

namespace detail {
// The template with whitespace outside string literals removed, "-" whitespace controls dropped,
// literals re-quoted with ' and their newlines written \n, and message.role / message.content
// spelled message['role'] / message['content'] (what the signatures are matched against).
// in_code: the text is Jinja expression code already (for signatures), not a template.
std::string normalise_template(const std::string& tmpl, bool in_code = false);
// Python's str.strip() (= Jinja's trim): Unicode whitespace removed from both ends of UTF-8 text.
std::string python_strip(const std::string& s);
}  // namespace detail

}  // namespace zip
