// Chat templates: the renderer against Hugging Face's apply_chat_template (vectors made by
// tools/make_chat_vectors.py with transformers, tests/data/chat_templates.json), refusal of
// templates it cannot render, the template through GGUF / Hugging Face / .zlm / slice, and
// `zip run -p` / `zip run -i` on a model with a template.
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "compress/slice.h"
#include "engine/backend.h"
#include "engine/chat/chat_session.h"
#include "engine/chat/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/zlm.h"
#include "tests/fixtures.h"
#include "tests/gguf_builder.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

const nlohmann::json& vectors() {
  static const nlohmann::json j = ztest::load_json("tests/data/chat_templates.json");
  return j;
}

std::string template_named(const std::string& name) {
  for (const auto& t : vectors()["templates"])
    if (t["name"] == name) return t["template"].get<std::string>();
  FAIL("no template " << name << " in tests/data/chat_templates.json");
  return {};
}

std::vector<ChatMessage> messages_of(const nlohmann::json& j) {
  std::vector<ChatMessage> m;
  for (const auto& e : j) m.push_back({e["role"].get<std::string>(), e["content"].get<std::string>()});
  return m;
}

std::string q(const std::string& s) { return ztest::shell_quote(s); }

// stories260K with a chat template, written to a temp .zlm.
std::string stories_with_template(const std::string& tmpl, const std::string& name) {
  static const std::string dir = ztest::temp_dir();
  Model m = ztest::stories260K();
  auto tok = std::make_shared<TokenizerData>(*m.tokenizer);
  tok->chat_template = tmpl;
  m.tokenizer = tok;
  const std::string path = dir + "/" + name + ".zlm";
  save_zlm(m, path);
  return path;
}

struct TurnLine {
  int turn, prompt, prefilled, cached, cache;
};

// The "turn N: prompt P tokens (F prefilled, C cached) ... cache X/Y" lines of zip run's stderr.
std::vector<TurnLine> turn_lines(const std::string& err) {
  static const std::regex re(R"(turn (\d+): prompt (\d+) tokens \((\d+) prefilled, (\d+) cached\).*cache (\d+)/)");
  std::vector<TurnLine> out;
  for (std::sregex_iterator it(err.begin(), err.end(), re), end; it != end; ++it)
    out.push_back({std::stoi((*it)[1]), std::stoi((*it)[2]), std::stoi((*it)[3]), std::stoi((*it)[4]), std::stoi((*it)[5])});
  return out;
}

}  // namespace

TEST_CASE("chat templates: every transformers vector renders bit-exactly (four families)") {
  std::set<std::string> families;
  int cases = 0, errors = 0;
  for (const auto& t : vectors()["templates"]) {
    const std::string name = t["name"], tmpl = t["template"];
    INFO("template " << name);
    const ChatFormat f = detect_chat_format(tmpl, t["eos"]);
    CHECK(chat_family_name(f.family) == t["family"].get<std::string>());
    families.insert(chat_family_name(f.family));
    const ChatSpecials sp{t["bos"], t["eos"], t.value("date_string", "")};
    for (const auto& c : t["cases"]) {
      INFO("case " << c["name"].get<std::string>() << ", add_generation_prompt " << c["add_generation_prompt"]);
      const auto msgs = messages_of(c["messages"]);
      if (c.contains("error")) {
        CHECK_THROWS_AS(render_chat(f, msgs, c["add_generation_prompt"], sp), Error);
        errors++;
      } else {
        CHECK(render_chat(f, msgs, c["add_generation_prompt"], sp) == c["text"].get<std::string>());
      }
      cases++;
    }
  }
  CHECK(families == std::set<std::string>{"chatml", "llama3", "gemma", "inst"});
  CHECK(cases >= 9 * 14);
  CHECK(errors >= 2);  // Gemma 2 refuses a system message
  // The parameters read from the text.
  CHECK(detect_chat_format(template_named("smollm2"), "").default_system ==
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
  CHECK(detect_chat_format(template_named("qwen2.5"), "").default_system ==
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  CHECK(detect_chat_format(template_named("openhermes"), "").default_system.empty());
  CHECK(detect_chat_format(template_named("gemma3"), "").variant == "gemma3");
  const ChatFormat l32 = detect_chat_format(template_named("llama3.2"), "");
  CHECK(l32.variant == "llama3.1");
  CHECK(l32.knowledge_date == "December 2023");
  CHECK(l32.default_date == "26 Jul 2024");
  CHECK(l32.date_today);
  // Without a date_string, today's date, as transformers' strftime_now gives it.
  char today[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(today, sizeof today, "%d %b %Y", &local);
  CHECK_HAS(render_chat(l32, {{"user", "Hi"}}, true, {"<|begin_of_text|>", "", ""}), std::string("Today Date: ") + today + "\n\n");
  CHECK(!detect_chat_format(template_named("gemma2"), "").system_role);
  CHECK(detect_chat_format(template_named("llama2"), "</s>").variant == "llama2");
  CHECK(detect_chat_format(template_named("mistral"), "</s>").end_of_turn == "</s>");
}

TEST_CASE("chat templates: recognition ignores layout, quoting and attribute style") {
  // SmolLM2's template written as someone else might: double quotes, whitespace control,
  // message.role, a real newline inside a literal, a comment.
  const std::string restyled =
      "{#- restyled -#}\n{%- for message in messages -%}\n  {%- if loop.first and messages[0].role != \"system\" -%}\n"
      "    {{- \"<|im_start|>system\nBe brief.<|im_end|>\\n\" -}}\n  {%- endif -%}\n"
      "  {{- \"<|im_start|>\" + message.role + \"\\n\" + message.content + \"<|im_end|>\\n\" -}}\n{%- endfor -%}\n"
      "{%- if add_generation_prompt -%}{{- \"<|im_start|>assistant\\n\" -}}{%- endif -%}";
  const ChatFormat f = detect_chat_format(restyled, "");
  CHECK(f.family == ChatFamily::ChatML);
  CHECK(f.default_system == "Be brief.");
  CHECK(render_chat(f, {{"user", "Hi"}}, true, {}) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(detail::normalise_template("{{ a + 'x\ny' }}") == detail::normalise_template("{{-a+\"x\\ny\"-}}"));
  CHECK(detail::normalise_template("{% if m.role %}") == "{%ifm['role']%}");
  CHECK(detail::normalise_template("{% if m.roles %}") == "{%ifm.roles%}");
}

TEST_CASE("chat templates: Python's strip (Jinja trim) on Unicode whitespace") {
  CHECK(detail::python_strip("  a b \n") == "a b");
  CHECK(detail::python_strip("\xC2\xA0" "caf\xC3\xA9\xE3\x80\x80") == "caf\xC3\xA9");  // NBSP, U+3000
  CHECK(detail::python_strip("\xE2\x80\x8Bx\xE2\x80\x8B") == "\xE2\x80\x8Bx\xE2\x80\x8B");  // U+200B is not space
  CHECK(detail::python_strip("\x1c\x1f\x85x") == "\x85x");  // a lone 0x85 byte is not U+0085
  CHECK(detail::python_strip("\xC2\x85x\xE2\x80\xA8") == "x");
  CHECK(detail::python_strip(" \t\r\n").empty());
  CHECK(detail::python_strip("\xFF ").size() == 1);
}

TEST_CASE("chat templates: unknown templates are refused with one line naming --chat-format") {
  std::vector<std::string> unknown;
  for (const auto& u : vectors()["unknown"]) unknown.push_back(u["template"]);
  unknown.push_back("");
  unknown.push_back("{{ messages[0]['content'] }}");
  // A dated system header but not Llama 3.1/3.2's layout.
  unknown.push_back(template_named("llama3") + "{{ 'Cutting Knowledge Date: December 2023' }}");
  for (const auto& t : unknown) {
    INFO("template: " << t);
    try {
      detect_chat_format(t, "</s>");
      FAIL("accepted");
    } catch (const Error& e) {
      const std::string m = e.what();
      CHECK_HAS(m, "--chat-format NAME (chatml|llama3|gemma|inst)");
      CHECK(m.find('\n') == std::string::npos);
    }
  }
  // Forced, an unknown template renders as the family named.
  const ChatFormat f = chat_format_named("chatml", unknown[0], "</s>");
  CHECK(render_chat(f, {{"user", "x"}}, true, {}) == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n");
  CHECK(chat_format_named("inst", template_named("llama2"), "</s>").variant == "llama2");
  CHECK_THROWS_AS(chat_format_named("vicuna", "", ""), UsageError);
  CHECK_THROWS_AS(render_chat(f, {}, true, {}), Error);
  CHECK_THROWS_AS(render_chat(f, {{"user", "a"}, {"system", "late"}}, true, {}), Error);
}

TEST_CASE("chat templates: GGUF -> .zlm -> slice keeps the template; old files load without one") {
  const std::string tmpl = template_named("smollm2");
  Builder b = spm_llama();
  b.str("tokenizer.chat_template", tmpl);
  const std::string gguf = write_temp(b.bytes(), "chat.gguf");
  Model m = import_model(gguf, {});
  REQUIRE(m.tokenizer);
  CHECK(m.tokenizer->chat_template == tmpl);

  const std::string dir = ztest::temp_dir();
  ztest::CmdResult c = ztest::run_zip("convert " + q(gguf) + " -o " + q(dir + "/chat.zlm"));
  REQUIRE_MESSAGE(c.status == 0, c.err);
  Model z = load_zlm(dir + "/chat.zlm", {.verify_data = true});
  REQUIRE(z.tokenizer);
  CHECK(z.tokenizer->chat_template == tmpl);
  ztest::CmdResult i = ztest::run_zip("inspect " + q(dir + "/chat.zlm"));
  CHECK(i.status == 0);
  CHECK_HAS(i.out, fmt::format("chat:         chatml (chatml-default-system), {} chars of template", tmpl.size()));
  CHECK(i.out.find("SmolLM") == std::string::npos);  // a summary, not the text

  Model s = slice_model(z, {{0, LayerSlice{{0}, std::vector<int>{0}, {1, 2, 3}}}});
  save_zlm(s, dir + "/sliced.zlm");
  CHECK(load_zlm(dir + "/sliced.zlm").tokenizer->chat_template == tmpl);

  // A file without the key (every file before this version) loads with no template.
  Model plain = import_model(write_temp(spm_llama().bytes(), "plain.gguf"), {});
  save_zlm(plain, dir + "/plain.zlm");
  CHECK(load_zlm(dir + "/plain.zlm").tokenizer->chat_template.empty());
  CHECK_HAS(ztest::run_zip("inspect " + q(dir + "/plain.zlm")).out, "chat:         none");
  // A template zip does not recognise is kept all the same, and inspect says so.
  Builder u = spm_llama();
  u.str("tokenizer.chat_template", vectors()["unknown"][0]["template"].get<std::string>());
  Model um = import_model(write_temp(u.bytes(), "unknown.gguf"), {});
  save_zlm(um, dir + "/unknown.zlm");
  CHECK_HAS(ztest::run_zip("inspect " + q(dir + "/unknown.zlm")).out, "chat:         not recognised");
}

TEST_CASE("chat templates: Hugging Face tokenizer_config.json (string or named list) and chat_template.jinja") {
  namespace fs = std::filesystem;
  const std::string dir = ztest::temp_dir() + "/hf_chat";
  fs::create_directories(dir);
  CHECK(load_chat_template(dir).empty());
  std::ofstream(dir + "/tokenizer_config.json") << nlohmann::json{{"chat_template", "T1"}}.dump();
  CHECK(load_chat_template(dir) == "T1");
  std::ofstream(dir + "/tokenizer_config.json")
      << nlohmann::json{{"chat_template", {{{"name", "tool_use"}, {"template", "T2"}}, {{"name", "default"}, {"template", "T3"}}}}}
             .dump();
  CHECK(load_chat_template(dir) == "T3");
  std::ofstream(dir + "/tokenizer_config.json") << nlohmann::json{{"chat_template", 5}}.dump();
  CHECK_THROWS_AS(load_chat_template(dir), Error);
  std::ofstream(dir + "/chat_template.jinja") << "T4";
  CHECK(load_chat_template(dir) == "T4");
}

TEST_CASE("chat: zip run -p renders one user turn; errors are one line") {
  const std::string m = stories_with_template(template_named("smollm2"), "smollm2_tmpl");
  Tokenizer tok(ztest::stories260K().tokenizer);
  const ChatFormat f = detect_chat_format(template_named("smollm2"), "");
  const std::string rendered = render_chat(f, {{"user", "Hello"}}, true, {});
  const int want_tokens = int(tok.encode(rendered, false, true).size());

  ztest::CmdResult r = ztest::run_zip("run " + q(m) + " -p Hello -n 6 --temp 0");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.find("Hello") == std::string::npos);  // the answer only, not the prompt
  std::vector<TurnLine> t = turn_lines(r.err);
  REQUIRE(t.size() == 1);
  CHECK(t[0].prompt == want_tokens);
  CHECK(t[0].prefilled == want_tokens);
  CHECK(t[0].cached == 0);
  // --raw: the plain prompt, echoed, as before chat templates.
  ztest::CmdResult raw = ztest::run_zip("run " + q(m) + " -p Hello -n 6 --temp 0 --raw");
  REQUIRE(raw.status == 0);
  CHECK(raw.out.starts_with("Hello"));

  ztest::check_clean_failure(ztest::run_zip("run " + q(m) + " -p Hi --raw -i"));
  ztest::check_clean_failure(ztest::run_zip("run " + q(m) + " --system S"));
  ztest::check_clean_failure(ztest::run_zip("run " + q(m) + " -p Hi --chat-format vicuna"));
  const std::string unknown = stories_with_template(vectors()["unknown"][0]["template"], "unknown_tmpl");
  ztest::CmdResult u = ztest::run_zip("run " + q(unknown) + " -p Hi -n 2");
  ztest::check_clean_failure(u);
  CHECK_HAS(u.err, "--chat-format NAME");
  CHECK(ztest::run_zip("run " + q(unknown) + " -p Hi -n 2 --chat-format chatml --temp 0").status == 0);
  const std::string gemma2 = stories_with_template(template_named("gemma2"), "gemma2_tmpl");
  ztest::CmdResult g = ztest::run_zip("run " + q(gemma2) + " -p Hi -n 2 --system Be");
  ztest::check_clean_failure(g);
  CHECK_HAS(g.err, "no system role");
  ztest::check_clean_failure(ztest::run_zip("run " + q(ztest::stories260K_zlm()) + " -i"));
}

TEST_CASE("chat: zip run -i with piped turns keeps the history in the KV cache") {
  const std::string m = stories_with_template(template_named("smollm2"), "smollm2_tmpl_i");
  // (run_cmd redirects the last command's stdin: the braces keep the pipe.)
  ztest::CmdResult r = ztest::run_cmd("{ printf 'Hello\\nWhat next?\\n' | " + q(ztest::zip_bin()) + " run " + q(m) +
                                      " -i -n 8 --temp 0 -v --system 'Tell a story.'; }");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  MESSAGE(r.err);
  std::vector<TurnLine> t = turn_lines(r.err);
  REQUIRE(t.size() == 2);
  Tokenizer tok(ztest::stories260K().tokenizer);
  const ChatFormat f = detect_chat_format(template_named("smollm2"), "");
  const std::string first = render_chat(f, {{"system", "Tell a story."}, {"user", "Hello"}}, true, {});
  CHECK(t[0].prefilled == int(tok.encode(first, false, true).size()));
  CHECK(t[0].cached == 0);
  // Turn 2 prefills only its own text (plus at most the answer's last, unevaluated token): what
  // turn 1 left in the cache is reused.
  CHECK(t[1].cached == t[0].cache);
  CHECK(t[1].cached >= t[0].prefilled);
  CHECK(t[1].prompt == t[1].cached + t[1].prefilled);
  const std::string tail = "<|im_end|>\n<|im_start|>user\nWhat next?<|im_end|>\n<|im_start|>assistant\n";
  const int tail_tokens = int(tok.encode(tail, false, true).size());
  CHECK(t[1].prefilled >= tail_tokens);
  CHECK(t[1].prefilled <= tail_tokens + 2);

  // A context too small for the second turn: said, and the conversation ends cleanly.
  ztest::CmdResult full = ztest::run_cmd("{ printf 'Hello\\nWhat next?\\n' | " + q(ztest::zip_bin()) + " run " + q(m) +
                                         " -i -n 8 --temp 0 --ctx 100; }");
  CHECK(full.status == 0);
  CHECK_HAS(full.err, "of 100 tokens; ending it");
  CHECK(full.err.find("context full") != std::string::npos);
}

TEST_CASE("chat: ChatSession ends an answer early, reuses or rewinds the cache as the template needs") {
  const Model& m = ztest::stories260K();
  Tokenizer tok(m.tokenizer);
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be, 512);
  GenerateOptions opt;
  opt.max_new_tokens = 12;
  opt.sampling.temperature = 0;

  // ChatML keeps the answer as generated: turn 2 continues the cache.
  ChatSession chat(ctx, tok, detect_chat_format(template_named("openhermes"), ""), "");
  int texts = 0;
  ChatSession::Turn a = chat.reply("Once upon a time", opt, [&](const std::string&) { return ++texts < 3; });
  CHECK(a.gen.stop_reason == "callback");  // what Ctrl-C does in zip run -i
  CHECK(a.gen.new_tokens == 3);
  CHECK(a.cache_tokens == a.prompt_tokens + 2);  // the last answer token was not evaluated
  REQUIRE(chat.history().size() == 2);
  CHECK(chat.history()[1].content == a.answer);
  ChatSession::Turn b = chat.reply("Then?", opt, [](const std::string&) { return true; });
  CHECK(b.prompt_tokens - b.prefilled == a.cache_tokens);
  // The cache now holds exactly the tokens of the rendered conversation that a fresh start
  // would prefill, except that the answers are the generated ids rather than re-tokenized text.
  CHECK(b.prompt_tokens <= int(tok.encode(render_chat(chat.format(), {{"user", "Once upon a time"}, {"assistant", a.answer},
                                                                       {"user", "Then?"}},
                                                      true, {}),
                                          false, true)
                                   .size()) +
                               2);

  // Llama-2-chat renders an answer as " " + answer.strip() + " </s>", not as generated: the cache
  // is rewound to the end of turn 1's prompt and the answer re-prefilled from its rendered text.
  ChatSession l2(ctx, tok, detect_chat_format(template_named("llama2"), "</s>"), "");
  ChatSession::Turn c = l2.reply("Hello", opt, [](const std::string&) { return true; });
  REQUIRE(!c.answer.empty());
  REQUIRE(c.answer[0] != ' ');
  ChatSession::Turn d = l2.reply("More", opt, [](const std::string&) { return true; });
  CHECK(d.prompt_tokens - d.prefilled == c.prompt_tokens);
  CHECK(ctx.pos() == d.cache_tokens);
}

TEST_CASE("chat templates: a GGUF template that is not valid UTF-8 is dropped with a warning") {
  Builder b = spm_llama();
  b.str("tokenizer.chat_template", "{{ bos_token }}\xff\xfe");
  const std::string gguf = write_temp(b.bytes(), "bad_template.gguf");
  const std::string out = ztest::temp_dir() + "/bad_template.zlm";
  ztest::CmdResult c = ztest::run_zip("convert " + q(gguf) + " -o " + q(out));
  REQUIRE_MESSAGE(c.status == 0, c.err);
  CHECK_HAS(c.err, "tokenizer.chat_template is not valid UTF-8; importing without it");
  CHECK(load_zlm(out).tokenizer->chat_template.empty());
  // The writer refuses one all the same (the header is JSON).
  Model m = import_model(gguf, {});
  auto tok = std::make_shared<TokenizerData>(*m.tokenizer);
  tok->chat_template = "\xc3";
  m.tokenizer = tok;
  CHECK_THROWS_AS(save_zlm(m, out), Error);
}
