// Task file layouts → candidates, with lm-evaluation-harness's templates (docs/EVAL.md):
//   mc        context query + "\nAnswer:", continuations " " + choice        (arc_easy)
//   mc_stem   context query,               continuations " " + choice        (openbookqa)
//   piqa      context "Question: " + goal + "\nAnswer:", continuations " " + sol1 / sol2
//   hellaswag context line, continuations " " + ending, both through lm-eval's preprocess()
//   partial   contexts: the sentence up to the blank with each option, continuation " " + the rest
//   lambada   context, continuation " " + the last word
// acc_norm divides by the length of the choice itself (without the leading space), in characters.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/eval/tasks.h"
#include "engine/file_io.h"

namespace zip {

namespace {

using nlohmann::json;

constexpr const char* kSpace = " \t\n\r\v\f";

std::string strip(const std::string& s) {
  size_t b = s.find_first_not_of(kSpace), e = s.find_last_not_of(kSpace);
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Lines without their '\n' (and a '\r' before it); numbered from 1 by index + 1.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  return lines;
}

// One JSON object per non-blank line, each with its "file:line".
struct JsonRow {
  json j;
  std::string where;
};

std::vector<JsonRow> read_jsonl(const std::string& path) {
  std::vector<JsonRow> rows;
  auto lines = split_lines(read_file(path));
  for (size_t i = 0; i < lines.size(); i++) {
    if (strip(lines[i]).empty()) continue;
    std::string where = fmt::format("{}:{}", path, i + 1);
    json j;
    try {
      j = json::parse(lines[i]);
    } catch (const json::exception& e) {
      fail("{}: not valid JSON ({})", where, e.what());
    }
    ZIP_CHECK(j.is_object(), "{}: expected a JSON object", where);
    rows.push_back({std::move(j), std::move(where)});
  }
  ZIP_CHECK(!rows.empty(), "{}: no items", path);
  return rows;
}

const json& field(const JsonRow& r, const char* key) {
  auto it = r.j.find(key);
  ZIP_CHECK(it != r.j.end(), "{}: missing field \"{}\"", r.where, key);
  return *it;
}

std::string string_field(const JsonRow& r, const char* key) {
  const json& v = field(r, key);
  ZIP_CHECK(v.is_string(), "{}: field \"{}\" must be a string", r.where, key);
  return v.get<std::string>();
}

std::vector<std::string> strings_field(const JsonRow& r, const char* key) {
  const json& v = field(r, key);
  ZIP_CHECK(v.is_array() && v.size() >= 2, "{}: field \"{}\" must be an array of at least 2 strings", r.where, key);
  std::vector<std::string> out;
  for (const json& s : v) {
    ZIP_CHECK(s.is_string(), "{}: field \"{}\" must hold strings only", r.where, key);
    out.push_back(s.get<std::string>());
  }
  return out;
}

int index_field(const JsonRow& r, const char* key, size_t n) {
  const json& v = field(r, key);
  ZIP_CHECK(v.is_number_integer(), "{}: field \"{}\" must be an integer", r.where, key);
  long long g = v.get<long long>();
  ZIP_CHECK(g >= 0 && g < (long long)n, "{}: \"{}\" {} is out of range (0..{})", r.where, key, g, n - 1);
  return int(g);
}

// A candidate scored as " " + choice after `context`; acc_norm divides by the choice's length.
TaskCandidate choice_candidate(const std::string& context, const std::string& choice, const std::string& where) {
  ZIP_CHECK(!choice.empty(), "{}: empty choice", where);
  return {context, " " + choice, double(std::max<size_t>(1, utf8_length(choice)))};
}

std::vector<TaskItem> load_mc(const std::string& path, bool answer_prompt) {
  std::vector<TaskItem> items;
  for (const JsonRow& r : read_jsonl(path)) {
    std::string context = string_field(r, "query") + (answer_prompt ? "\nAnswer:" : "");
    auto choices = strings_field(r, "choices");
    TaskItem item{{}, index_field(r, "gold", choices.size()), r.where};
    for (auto& c : choices) item.candidates.push_back(choice_candidate(context, c, r.where));
    items.push_back(std::move(item));
  }
  return items;
}

// "dir/valid.jsonl" → "dir/valid-labels.lst".
std::string default_labels_path(const std::string& path) {
  size_t slash = path.rfind('/'), dot = path.rfind('.');
  std::string stem = dot != std::string::npos && (slash == std::string::npos || dot > slash) ? path.substr(0, dot) : path;
  return stem + "-labels.lst";
}

std::vector<TaskItem> load_piqa(const std::string& path, std::string labels) {
  if (labels.empty()) {
    labels = default_labels_path(path);
    ZIP_CHECK(file_exists(labels), "{}: the labels file {} is missing (give it with --labels FILE)", path, labels);
  }
  std::vector<JsonRow> rows = read_jsonl(path);
  std::vector<int> gold;
  auto lines = split_lines(read_file(labels));
  for (size_t i = 0; i < lines.size(); i++) {
    std::string l = strip(lines[i]);
    if (l.empty()) continue;
    ZIP_CHECK(l == "0" || l == "1", "{}:{}: a label must be 0 or 1, got '{}'", labels, i + 1, l);
    gold.push_back(l[0] - '0');
  }
  ZIP_CHECK(gold.size() == rows.size(), "{}: {} labels for the {} items of {}", labels, gold.size(), rows.size(), path);
  std::vector<TaskItem> items;
  for (size_t i = 0; i < rows.size(); i++) {
    const JsonRow& r = rows[i];
    std::string context = "Question: " + string_field(r, "goal") + "\nAnswer:";
    TaskItem item{{}, gold[i], r.where};
    for (const char* key : {"sol1", "sol2"}) item.candidates.push_back(choice_candidate(context, string_field(r, key), r.where));
    items.push_back(std::move(item));
  }
  return items;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

// lm-eval's hellaswag preprocess(): strip, " [title]" → ". ", drop "[...]" spans (shortest
// match), then one pass of "  " → " ". WikiHow markers are already gone from the shared file;
// this removes the few bracketed spans left in it, as lm-eval would.
std::string hellaswag_preprocess(const std::string& text) {
  std::string s = replace_all(strip(text), " [title]", ". ");
  for (size_t open = s.find('['); open != std::string::npos; open = s.find('[', open)) {
    size_t close = s.find(']', open + 1);
    if (close == std::string::npos) break;  // no later '[' can close either
    s.erase(open, close - open + 1);
  }
  return replace_all(s, "  ", " ");
}

std::vector<TaskItem> load_hellaswag(const std::string& path) {
  auto lines = split_lines(read_file(path));
  while (!lines.empty() && strip(lines.back()).empty()) lines.pop_back();
  ZIP_CHECK(!lines.empty(), "{}: no items", path);
  ZIP_CHECK(lines.size() % 6 == 0,
            "{}:{}: incomplete item: hellaswag items are 6 lines (context, gold index 0-3, four endings), the file has {}",
            path, lines.size() / 6 * 6 + 1, lines.size());
  std::vector<TaskItem> items;
  for (size_t i = 0; i < lines.size(); i += 6) {
    std::string where = fmt::format("{}:{}", path, i + 1);
    std::string context = hellaswag_preprocess(lines[i]);
    ZIP_CHECK(!context.empty(), "{}: empty context", where);
    std::string g = strip(lines[i + 1]);
    ZIP_CHECK(g.size() == 1 && g[0] >= '0' && g[0] <= '3', "{}:{}: the gold index must be 0-3, got '{}'", path, i + 2, g);
    TaskItem item{{}, g[0] - '0', where};
    for (size_t k = 0; k < 4; k++)
      item.candidates.push_back(
          choice_candidate(context, hellaswag_preprocess(lines[i + 2 + k]), fmt::format("{}:{}", path, i + 3 + k)));
    items.push_back(std::move(item));
  }
  return items;
}

// Both contexts share the continuation, so acc_norm (divided by its length) equals acc.
std::vector<TaskItem> load_partial(const std::string& path) {
  std::vector<TaskItem> items;
  for (const JsonRow& r : read_jsonl(path)) {
    std::vector<std::string> contexts;
    std::string rest;
    int gold;
    if (r.j.contains("sentence")) {  // WinoGrande's own layout: "_" marks the blank
      std::string sentence = string_field(r, "sentence");
      size_t blank = sentence.find('_');
      ZIP_CHECK(blank != std::string::npos, "{}: the sentence has no blank '_'", r.where);
      for (const char* key : {"option1", "option2"}) contexts.push_back(sentence.substr(0, blank) + string_field(r, key));
      rest = sentence.substr(blank + 1);
      const json& a = field(r, "answer");
      std::string answer = a.is_string() ? a.get<std::string>() : a.is_number_integer() ? std::to_string(a.get<long long>()) : "";
      ZIP_CHECK(answer == "1" || answer == "2", "{}: \"answer\" must be \"1\" or \"2\"", r.where);
      gold = answer[0] - '1';
    } else {  // {"context_options", "continuation", "gold"}
      contexts = strings_field(r, "context_options");
      rest = string_field(r, "continuation");
      gold = index_field(r, "gold", contexts.size());
    }
    rest = strip(rest);
    ZIP_CHECK(!rest.empty(), "{}: nothing follows the blank", r.where);
    TaskItem item{{}, gold, r.where};
    for (auto& c : contexts) item.candidates.push_back({c, " " + rest, double(std::max<size_t>(1, utf8_length(rest)))});
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<TaskItem> load_lambada(const std::string& path) {
  std::vector<TaskItem> items;
  for (const JsonRow& r : read_jsonl(path)) {
    std::string context, word;
    if (r.j.contains("text")) {  // lm-eval: split on ' ', the last piece is the target
      std::string text = string_field(r, "text");
      size_t sp = text.rfind(' ');
      ZIP_CHECK(sp != std::string::npos, "{}: the text has no space before its last word", r.where);
      context = text.substr(0, sp), word = text.substr(sp + 1);
    } else {
      context = string_field(r, "context"), word = string_field(r, "continuation");
    }
    ZIP_CHECK(!word.empty(), "{}: empty target word", r.where);
    items.push_back({{{context, " " + word, double(std::max<size_t>(1, utf8_length(word)))}}, 0, r.where});
  }
  return items;
}

}  // namespace

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

TaskFormat parse_task_format(const std::string& name) {
  for (TaskFormat f : {TaskFormat::MC, TaskFormat::MCStem, TaskFormat::Piqa, TaskFormat::Hellaswag, TaskFormat::Partial,
                       TaskFormat::Lambada})
    if (name == task_format_name(f)) return f;
  throw UsageError(fmt::format("unknown task format '{}' (mc, mc_stem, piqa, hellaswag, partial, lambada)", name));
}

const char* task_format_name(TaskFormat f) {
  switch (f) {
    case TaskFormat::MC: return "mc";
    case TaskFormat::MCStem: return "mc_stem";
    case TaskFormat::Piqa: return "piqa";
    case TaskFormat::Hellaswag: return "hellaswag";
    case TaskFormat::Partial: return "partial";
    case TaskFormat::Lambada: return "lambada";
  }
  return "?";
}

namespace {
const std::pair<const char*, TaskFormat> kTasks[] = {
    {"arc_easy", TaskFormat::MC},         {"arc_challenge", TaskFormat::MC},    {"openbookqa", TaskFormat::MCStem},
    {"openbook_qa", TaskFormat::MCStem},  {"piqa", TaskFormat::Piqa},           {"hellaswag", TaskFormat::Hellaswag},
    {"winogrande", TaskFormat::Partial},  {"lambada", TaskFormat::Lambada},     {"lambada_openai", TaskFormat::Lambada},
};
}  // namespace

std::optional<TaskFormat> task_default_format(const std::string& task) {
  for (auto& [name, f] : kTasks)
    if (task == name) return f;
  return std::nullopt;
}

std::string task_names() {
  std::string s;
  for (auto& [name, f] : kTasks) s += (s.empty() ? "" : ", ") + std::string(name);
  return s;
}

std::vector<TaskItem> load_task_items(const std::string& path, TaskFormat format, const std::string& labels) {
  switch (format) {
    case TaskFormat::MC: return load_mc(path, true);
    case TaskFormat::MCStem: return load_mc(path, false);
    case TaskFormat::Piqa: return load_piqa(path, labels);
    case TaskFormat::Hellaswag: return load_hellaswag(path);
    case TaskFormat::Partial: return load_partial(path);
    case TaskFormat::Lambada: return load_lambada(path);
  }
  fail("unknown task format");
}

}  // namespace zip
