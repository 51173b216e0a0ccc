// Zero-shot tasks: every layout parsed from small hand-written files, scored with stories260K and
// checked against an independent full-sequence evaluation (no KV reuse); the real task files
// parse; malformed files fail with file:line; the CLI runs end to end.
#include <algorithm>
#include <cmath>
#include <fstream>

#include "engine/eval/tasks.h"
#include "engine/file_io.h"
#include "models/import.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

const Model& stories() {
  static Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  return m;
}

std::string write(const std::string& dir, const std::string& name, const std::string& text) {
  std::string p = dir + "/" + name;
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

// log p(continuation | context) the plain way: tokens = encode(context) + the tail of
// encode(context + continuation), the whole sequence evaluated from scratch, every row's
// log-softmax written out. Also whether each continuation token is the row's argmax.
struct Expected {
  double logprob = 0;
  bool greedy = true;
};
Expected full_sequence(const std::string& context, const std::string& continuation, int ctx_len = 512) {
  Tokenizer tok(stories().tokenizer);
  std::vector<int> ctx = tok.encode(context, true), whole = tok.encode(context + continuation, true);
  std::vector<int> cont(whole.begin() + std::ptrdiff_t(ctx.size()), whole.end());
  std::vector<int> seq = ctx;
  seq.insert(seq.end(), cont.begin(), cont.end());
  size_t first = ctx.size();  // index in seq of the first continuation token
  if (int(seq.size()) > ctx_len + 1) {  // keep the last ctx_len + 1 tokens
    size_t cut = seq.size() - size_t(ctx_len + 1);
    seq.erase(seq.begin(), seq.begin() + std::ptrdiff_t(cut));
    first -= cut;
  }
  static auto be = make_cpu_backend(1);
  InferenceContext ic(stories(), *be, ctx_len);
  const float* logits = ic.eval(seq.data(), int(seq.size()) - 1, true);
  int V = ic.vocab_size();
  Expected e;
  for (size_t t = first; t < seq.size(); t++) {
    const float* row = logits + (t - 1) * size_t(V);
    double z = 0;
    int best = 0;
    for (int v = 0; v < V; v++) {
      z += std::exp(double(row[v]));
      if (row[v] > row[best]) best = v;
    }
    e.logprob += double(row[seq[t]]) - std::log(z);
    e.greedy = e.greedy && best == seq[t];
  }
  return e;
}

size_t first_max(const std::vector<double>& v) {
  size_t b = 0;
  for (size_t i = 1; i < v.size(); i++)
    if (v[i] > v[b]) b = i;
  return b;
}

// Scores `items` through eval_task and checks every candidate, acc and acc_norm against
// full_sequence(); the candidates run one at a time and batched (3 sequences, passes of at most 8
// rows: items split over several passes, long rests alone) give the same scores to float
// rounding (a row's products may take another micro-kernel in a pass of another height).
TaskResult check_scores(const std::vector<TaskItem>& items, TaskFormat format, int ctx_len = 512) {
  auto be = make_cpu_backend(1);
  InferenceContext ic(stories(), *be, ctx_len);
  Tokenizer tok(stories().tokenizer);
  TaskResult r = eval_task(ic, tok, items, format);
  REQUIRE(r.n == int64_t(items.size()));
  InferenceContext batched(stories(), *be, ctx_len, 8, 3);
  const TaskResult b = eval_task(batched, tok, items, format);
  for (size_t i = 0; i < items.size(); i++)
    for (size_t k = 0; k < items[i].candidates.size(); k++) {
      CHECK(std::fabs(b.scores[i][k].logprob - r.scores[i][k].logprob) < 1e-5);
      CHECK(b.scores[i][k].greedy == r.scores[i][k].greedy);
      CHECK(b.scores[i][k].tokens == r.scores[i][k].tokens);
    }
  double acc = 0, acc_norm = 0, ll = 0;
  for (size_t i = 0; i < items.size(); i++) {
    std::vector<double> lp, lpn;
    for (size_t k = 0; k < items[i].candidates.size(); k++) {
      const TaskCandidate& c = items[i].candidates[k];
      Expected e = full_sequence(c.context, c.continuation, ctx_len);
      CHECK(std::fabs(r.scores[i][k].logprob - e.logprob) < 1e-4);
      CHECK(r.scores[i][k].greedy == e.greedy);
      lp.push_back(e.logprob);
      lpn.push_back(e.logprob / c.norm_len);
      if (format == TaskFormat::Lambada) acc += e.greedy, ll += e.logprob;
    }
    if (format != TaskFormat::Lambada) {
      acc += first_max(lp) == size_t(items[i].gold);
      acc_norm += first_max(lpn) == size_t(items[i].gold);
    }
  }
  double n = double(items.size());
  CHECK(r.acc == doctest::Approx(acc / n));
  if (format == TaskFormat::Lambada) {
    CHECK(r.has_ppl);
    CHECK(r.ppl == doctest::Approx(std::exp(-ll / n)).epsilon(1e-4));  // log-likelihoods agree to 1e-4
  } else {
    CHECK(r.acc_norm == doctest::Approx(acc_norm / n));
  }
  return r;
}

void check_candidate(const TaskCandidate& c, const std::string& context, const std::string& continuation, double len) {
  CHECK(c.context == context);
  CHECK(c.continuation == continuation);
  CHECK(c.norm_len == len);
}

// The message of the zip::Error `f` throws ("" if none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("tasks: mc and mc_stem score each choice after the query, KV reuse equals full evaluation") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "mc.jsonl",
                        R"({"query": "Question: What did Lily find in the park?", "choices": ["a big red ball", "a cat", "the sun"], "gold": 0})"
                        "\n\n"  // blank lines are skipped
                        R"({"query": "Tom was sad because his toy", "choices": ["was broken.", "flew away to the moon.", "smiled"], "gold": 1})"
                        "\n");
  auto items = load_task_items(f, TaskFormat::MC);
  REQUIRE(items.size() == 2);
  CHECK(items[0].gold == 0);
  CHECK(items[1].gold == 1);
  CHECK(items[1].where == f + ":3");
  check_candidate(items[0].candidates[0], "Question: What did Lily find in the park?\nAnswer:", " a big red ball", 14);
  check_candidate(items[1].candidates[1], "Tom was sad because his toy\nAnswer:", " flew away to the moon.", 22);
  check_scores(items, TaskFormat::MC);

  auto stem = load_task_items(f, TaskFormat::MCStem);
  check_candidate(stem[1].candidates[2], "Tom was sad because his toy", " smiled", 6);
  check_scores(stem, TaskFormat::MCStem);
}

TEST_CASE("tasks: piqa reads labels beside the file or from --labels") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "dev.jsonl",
                        R"({"goal": "Make the dog happy.", "sol1": "Give it a bone.", "sol2": "Give it a rock. "})"
                        "\n"
                        R"({"goal": "dry wet hair", "sol1": "use a towel", "sol2": "use a spoon"})"
                        "\n");
  write(dir, "dev-labels.lst", "0\n1\n");
  auto items = load_task_items(f, TaskFormat::Piqa);
  REQUIRE(items.size() == 2);
  CHECK(items[0].gold == 0);
  CHECK(items[1].gold == 1);
  check_candidate(items[0].candidates[1], "Question: Make the dog happy.\nAnswer:", " Give it a rock. ", 16);
  check_scores(items, TaskFormat::Piqa);
  std::string other = write(dir, "other.lst", "1\n0\n");
  auto relabeled = load_task_items(f, TaskFormat::Piqa, other);
  CHECK(relabeled[0].gold == 1);
  CHECK(relabeled[1].gold == 0);
}

TEST_CASE("tasks: hellaswag 6-line items, lm-eval's preprocess applied") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "hs.txt",
                        "Playing ball: A girl throws a ball. she\n"
                        "2\n"
                        "eats the ball.\n"
                        "sleeps  on the grass.\n"
                        "runs after it [header] and laughs.\n"
                        "turns into a bird.\n"
                        " Baking: How to bake a cake [title] Mix the flour.\r\n"
                        "0\r\n"
                        "Put it in the oven.\r\n"
                        "Eat the spoon.\r\n"
                        "Sing a song.\r\n"
                        "Go to bed.\r\n");
  auto items = load_task_items(f, TaskFormat::Hellaswag);
  REQUIRE(items.size() == 2);
  CHECK(items[0].gold == 2);
  CHECK(items[1].gold == 0);
  CHECK(items[1].where == f + ":7");
  REQUIRE(items[0].candidates.size() == 4);
  check_candidate(items[0].candidates[1], "Playing ball: A girl throws a ball. she", " sleeps on the grass.", 20);
  check_candidate(items[0].candidates[2], "Playing ball: A girl throws a ball. she", " runs after it and laughs.", 25);
  check_candidate(items[1].candidates[0], "Baking: How to bake a cake. Mix the flour.", " Put it in the oven.", 19);
  check_scores(items, TaskFormat::Hellaswag);
}

TEST_CASE("tasks: partial (WinoGrande) scores the shared continuation after each option, both layouts") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "wg.jsonl",
                        R"({"sentence": "Tom gave the ball to Sam because _ was kind.", "option1": "Tom", "option2": "Sam", "answer": "1"})"
                        "\n"
                        R"({"context_options": ["Lily liked the cat more than the dog so Lily", "Lily liked the cat more than the dog so the dog"], "continuation": "played with the cat.", "gold": 0})"
                        "\n"
                        R"({"sentence": "The sun was hot and the ice was cold, so the _'s water melted.", "option1": "sun", "option2": "ice", "answer": 2})"
                        "\n");
  auto items = load_task_items(f, TaskFormat::Partial);
  REQUIRE(items.size() == 3);
  CHECK(items[0].gold == 0);
  CHECK(items[1].gold == 0);
  CHECK(items[2].gold == 1);
  check_candidate(items[0].candidates[1], "Tom gave the ball to Sam because Sam", " was kind.", 9);
  check_candidate(items[1].candidates[1], "Lily liked the cat more than the dog so the dog", " played with the cat.", 20);
  check_candidate(items[2].candidates[0], "The sun was hot and the ice was cold, so the sun", " 's water melted.", 16);
  TaskResult r = check_scores(items, TaskFormat::Partial);
  CHECK(r.acc_norm == r.acc);  // one continuation: the same normaliser for both options
}

TEST_CASE("tasks: lambada greedy accuracy and perplexity, both layouts") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "lb.jsonl",
                        R"({"context": "Once upon a time, there was a little girl named Lily. One day, Lily went to the park with her", "continuation": "mom"})"
                        "\n"
                        R"({"text": "Tom had a big red ball. He liked to play with his ball"})"
                        "\n"
                        R"({"context": "The cat sat on the", "continuation": "zebra"})"
                        "\n");
  auto items = load_task_items(f, TaskFormat::Lambada);
  REQUIRE(items.size() == 3);
  check_candidate(items[1].candidates[0], "Tom had a big red ball. He liked to play with his", " ball", 4);
  TaskResult r = check_scores(items, TaskFormat::Lambada);
  CHECK(r.acc > 0);  // "ball" after "play with his" is stories260K's greedy choice
}

TEST_CASE("tasks: sequences longer than the context keep their last ctx+1 tokens") {
  std::string dir = ztest::temp_dir();
  std::string f = write(dir, "long.jsonl",
                        R"({"query": "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her friends", "choices": ["and her dog.", "but it rained all day."], "gold": 0})"
                        "\n");
  auto items = load_task_items(f, TaskFormat::MCStem);
  check_scores(items, TaskFormat::MCStem, 16);
}

TEST_CASE("tasks: encode_pair moves the context's trailing spaces into the continuation; empty context gets BOS") {
  Tokenizer tok(stories().tokenizer);
  EncodedPair p = encode_pair(tok, "Once upon a time ", "there was");
  CHECK(p.context == tok.encode("Once upon a time", true));
  std::vector<int> whole = tok.encode("Once upon a time there was", true);
  CHECK(p.continuation == std::vector<int>(whole.begin() + std::ptrdiff_t(p.context.size()), whole.end()));
  EncodedPair e = encode_pair(tok, "", " Lily");
  CHECK(e.context == std::vector<int>{tok.bos()});
  std::vector<int> lily = tok.encode(" Lily", true);
  CHECK(e.continuation == std::vector<int>(lily.begin() + 1, lily.end()));
  CHECK(utf8_length("héllo →") == 7);
}

TEST_CASE("tasks: the shared task files parse") {
  auto check_all = [](const std::vector<TaskItem>& items, size_t n, size_t candidates) {
    CHECK(items.size() == n);
    for (auto& it : items) {
      CHECK(it.candidates.size() == candidates);
      CHECK((it.gold >= 0 && size_t(it.gold) < it.candidates.size()));
    }
  };
  std::string d = ztest::shared("data/tasks/");
  auto arc = load_task_items(d + "arc_easy.jsonl", TaskFormat::MC);
  check_all(arc, 2376, 4);
  CHECK(arc[0].gold == 0);
  check_candidate(arc[0].candidates[0],
                  "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
                  " Sunlight is the source of energy for nearly all ecosystems.", 59);
  auto obqa = load_task_items(d + "openbook_qa.jsonl", TaskFormat::MCStem);
  check_all(obqa, 500, 4);
  check_candidate(obqa[2].candidates[2], "Predators eat", " bunnies", 7);
  auto wg = load_task_items(d + "winogrande.jsonl", TaskFormat::Partial);
  check_all(wg, 1267, 2);
  CHECK(wg[0].gold == 1);
  check_candidate(wg[0].candidates[1], "Sarah was a much better surgeon than Maria so Maria", " always got the easier cases.", 28);
  auto lb = load_task_items(d + "lambada_openai.jsonl", TaskFormat::Lambada);
  check_all(lb, 5153, 1);
  CHECK(lb[0].candidates[0].continuation == " signs");
  auto hs = load_task_items(d + "hellaswag_val_full.txt", TaskFormat::Hellaswag);
  check_all(hs, 10042, 4);
  CHECK(hs[0].gold == 3);
  check_candidate(hs[0].candidates[3], "Roof shingle removal: A man is sitting on a roof. he", " starts pulling up roofing on a roof.",
                  36);
  auto piqa = load_task_items(d + "piqa/valid.jsonl", TaskFormat::Piqa);
  check_all(piqa, 1838, 2);
  CHECK(piqa[0].gold == 0);
  CHECK(piqa[1].gold == 1);
  CHECK(piqa[1].candidates[1].context == "Question: dresser\nAnswer:");
}

TEST_CASE("tasks: bad input - malformed task files fail with file:line") {
  std::string dir = ztest::temp_dir();
  auto err = [&](const std::string& name, const std::string& text, TaskFormat f, const std::string& labels = "") {
    std::string p = write(dir, name, text);
    return error_of([&] { load_task_items(p, f, labels); });
  };
  std::string ok = R"({"query": "q", "choices": ["a", "b"], "gold": 1})";
  CHECK(err("json.jsonl", ok + "\n{\"query\": \n", TaskFormat::MC).find("json.jsonl:2: not valid JSON") != std::string::npos);
  CHECK(err("arr.jsonl", "[1, 2]\n", TaskFormat::MC).find("arr.jsonl:1: expected a JSON object") != std::string::npos);
  CHECK(err("miss.jsonl", ok + "\n" + R"({"query": "q", "gold": 0})", TaskFormat::MC) ==
        dir + "/miss.jsonl:2: missing field \"choices\"");
  CHECK(err("gold.jsonl", R"({"query": "q", "choices": ["a", "b"], "gold": 2})", TaskFormat::MC).find("gold.jsonl:1: \"gold\" 2 is out of range") !=
        std::string::npos);
  CHECK(err("neg.jsonl", R"({"query": "q", "choices": ["a", "b"], "gold": -1})", TaskFormat::MC).find("out of range") != std::string::npos);
  CHECK(err("goldstr.jsonl", R"({"query": "q", "choices": ["a", "b"], "gold": "1"})", TaskFormat::MC).find("must be an integer") !=
        std::string::npos);
  CHECK(err("one.jsonl", R"({"query": "q", "choices": ["a"], "gold": 0})", TaskFormat::MC).find("at least 2 strings") != std::string::npos);
  CHECK(err("num.jsonl", R"({"query": "q", "choices": ["a", 3], "gold": 0})", TaskFormat::MC).find("strings only") != std::string::npos);
  CHECK(err("emptyc.jsonl", R"({"query": "q", "choices": ["a", ""], "gold": 0})", TaskFormat::MC).find("empty choice") != std::string::npos);
  CHECK(err("empty.jsonl", "\n\n", TaskFormat::MC).find("no items") != std::string::npos);
  CHECK(err("qnum.jsonl", R"({"query": 5, "choices": ["a", "b"], "gold": 0})", TaskFormat::MC).find("must be a string") != std::string::npos);

  std::string hs6 = "ctx\n1\na\nb\nc\nd\n";
  CHECK(err("hs7.txt", hs6 + "ctx2\n", TaskFormat::Hellaswag).find("hs7.txt:7: incomplete item") != std::string::npos);
  CHECK(err("hsgold.txt", hs6 + "ctx\n4\na\nb\nc\nd\n", TaskFormat::Hellaswag).find("hsgold.txt:8: the gold index must be 0-3") !=
        std::string::npos);
  CHECK(err("hsend.txt", "ctx\n1\na\n\nc\nd\n", TaskFormat::Hellaswag).find("hsend.txt:4: empty choice") != std::string::npos);

  std::string pq = R"({"goal": "g", "sol1": "a", "sol2": "b"})";
  CHECK(err("nolabels.jsonl", pq + "\n", TaskFormat::Piqa).find("nolabels-labels.lst is missing") != std::string::npos);
  write(dir, "count-labels.lst", "0\n1\n");
  CHECK(err("count.jsonl", pq + "\n", TaskFormat::Piqa).find("2 labels for the 1 items") != std::string::npos);
  write(dir, "lab-labels.lst", "2\n");
  CHECK(err("lab.jsonl", pq + "\n", TaskFormat::Piqa).find("lab-labels.lst:1: a label must be 0 or 1") != std::string::npos);
  CHECK(err("nosol.jsonl", R"({"goal": "g", "sol1": "a"})", TaskFormat::Piqa, write(dir, "l.lst", "0\n")).find("missing field \"sol2\"") !=
        std::string::npos);

  CHECK(err("blank.jsonl", R"({"sentence": "no blank here", "option1": "a", "option2": "b", "answer": "1"})", TaskFormat::Partial)
            .find("blank.jsonl:1: the sentence has no blank") != std::string::npos);
  CHECK(err("answer.jsonl", R"({"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "3"})", TaskFormat::Partial)
            .find("\"answer\" must be") != std::string::npos);
  CHECK(err("rest.jsonl", R"({"context_options": ["a", "b"], "continuation": "  ", "gold": 0})", TaskFormat::Partial)
            .find("nothing follows the blank") != std::string::npos);
  CHECK(err("word.jsonl", R"({"text": "nospace"})", TaskFormat::Lambada).find("word.jsonl:1: the text has no space") != std::string::npos);
  CHECK(err("lbmiss.jsonl", R"({"context": "a b"})", TaskFormat::Lambada).find("missing field \"continuation\"") != std::string::npos);
  CHECK_THROWS_AS(parse_task_format("nope"), UsageError);
  CHECK(!task_default_format("nope"));
  CHECK(task_default_format("openbookqa") == TaskFormat::MCStem);
  CHECK(task_default_format("winogrande") == TaskFormat::Partial);
}

TEST_CASE("tasks: bad input - a continuation longer than the context is refused") {
  auto be = make_cpu_backend(1);
  InferenceContext ic(stories(), *be, 4);
  Tokenizer tok(stories().tokenizer);
  TaskItem item{{{"Once", " upon a time there was a girl named Lily", 1}, {"Once", " a", 1}}, 0, "x:1"};
  CHECK(error_of([&] { score_item(ic, tok, item); }).find("x:1: candidate 0 has") != std::string::npos);
}

namespace {
std::string q(const std::string& s) {  // shell single-quoting
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
const std::string& stories_zlm() {
  static std::string path = [] {
    std::string p = ztest::temp_dir() + "/s.zlm";
    auto r = ztest::run_zip("convert " + q(ztest::shared("models/stories260K/stories260K.bin")) + " -o " + q(p));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return p;
  }();
  return path;
}
}  // namespace

TEST_CASE("tasks: cli eval --task agrees with the library and reports every metric") {
  std::string d = ztest::shared("data/tasks/");
  auto r = ztest::run_zip("eval " + q(stories_zlm()) + " --task arc_easy " + q(d + "arc_easy.jsonl") + " --limit 5 --json -t 1");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["task"] == "arc_easy");
  CHECK(j["format"] == "mc");
  CHECK(j["n"] == 5);
  auto items = load_task_items(d + "arc_easy.jsonl", TaskFormat::MC);
  items.resize(5);
  auto be = make_cpu_backend(1);
  InferenceContext ic(stories(), *be);
  Tokenizer tok(stories().tokenizer);
  TaskResult lib = eval_task(ic, tok, items, TaskFormat::MC);
  CHECK(j["acc"].get<double>() == doctest::Approx(lib.acc));
  CHECK(j["acc_norm"].get<double>() == doctest::Approx(lib.acc_norm));

  r = ztest::run_zip("eval " + q(stories_zlm()) + " --task lambada " + q(d + "lambada_openai.jsonl") + " --limit 3 --json -t 1");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  j = nlohmann::json::parse(r.out);
  CHECK(j["format"] == "lambada");
  CHECK(j["ppl"].get<double>() > 1);
  CHECK(!j.contains("acc_norm"));
  r = ztest::run_zip("eval " + q(stories_zlm()) + " --task piqa " + q(d + "piqa/valid.jsonl") + " --limit 2 -t 1");
  CHECK(r.status == 0);
  CHECK(r.out.rfind("piqa (piqa): 2 items, acc ", 0) == 0);
  r = ztest::run_zip("eval " + q(stories_zlm()) + " --task mine --format partial " + q(d + "winogrande.jsonl") + " --limit 2 -t 1");
  CHECK(r.status == 0);
  CHECK(r.out.rfind("mine (partial): 2 items", 0) == 0);
}

TEST_CASE("tasks: cli bad input - usage errors exit 2, bad files exit 1, one line each") {
  std::string d = ztest::shared("data/tasks/"), m = q(stories_zlm()), arc = q(d + "arc_easy.jsonl");
  auto fails = [](const ztest::CmdResult& r, int code) {
    CHECK(r.status == code);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  };
  fails(ztest::run_zip("eval " + m + " --task nope " + arc), 2);
  fails(ztest::run_zip("eval " + m + " --task arc_easy " + arc + " --format zzz"), 2);
  fails(ztest::run_zip("eval " + m + " --task arc_easy " + arc + " --labels " + arc), 2);
  fails(ztest::run_zip("eval " + m + " --ppl " + arc + " --format mc"), 2);
  fails(ztest::run_zip("eval " + m + " --task hellaswag " + arc), 1);  // not the 6-line layout
  fails(ztest::run_zip("eval " + m + " --task piqa " + arc), 1);       // no labels beside it
}
