// The zip command line, end to end: golden outputs through the real binary, exit codes, and
// one-line errors on bad input.
#include <fstream>

#include "engine/cuda.h"
#include "engine/file_io.h"
#include "engine/forward.h"
#include "engine/zlm.h"
#include "compress/slice.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::string q(const std::string& s) { return ztest::shell_quote(s); }

const std::string& work_dir() {
  static std::string d = ztest::temp_dir();
  return d;
}

// stories260K converted once through the CLI.
const std::string& stories_zlm() {
  static std::string path = [] {
    std::string p = work_dir() + "/s.zlm";
    auto r = ztest::run_zip("convert " + q(ztest::shared("models/stories260K/stories260K.bin")) + " -o " + q(p));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return p;
  }();
  return path;
}

bool file_exists_for_test(const std::string& p) { return zip::file_exists(p); }

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// A failing command: non-zero exit, one line on stderr, nothing on stdout.
void check_clean_failure(const ztest::CmdResult& r, int code) {
  CHECK(r.status == code);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.out.empty());
  CHECK(r.status < 128);  // not killed by a signal
}

}  // namespace

TEST_CASE("cli: convert then run -n 200 --temp 0 prints exactly the golden text") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  auto r = ztest::run_zip("run " + q(stories_zlm()) + " -n 200 --temp 0 -t 2");
  REQUIRE(r.status == 0);
  CHECK(r.out == g["greedy"][0]["text"].get<std::string>());
  auto r2 = ztest::run_zip("run " + q(stories_zlm()) + " -n 200 --temp 0 -t 1 -p " +
                           q(g["greedy"][2]["prompt"].get<std::string>()));
  REQUIRE(r2.status == 0);
  CHECK(r2.out == g["greedy"][2]["text"].get<std::string>());
}

TEST_CASE("cli: sampling is deterministic for a seed") {
  auto a = ztest::run_zip("run " + q(stories_zlm()) + " -n 40 --temp 0.9 --top-k 20 --top-p 0.9 --seed 42");
  auto b = ztest::run_zip("run " + q(stories_zlm()) + " -n 40 --temp 0.9 --top-k 20 --top-p 0.9 --seed 42");
  auto c = ztest::run_zip("run " + q(stories_zlm()) + " -n 40 --temp 0.9 --top-k 20 --top-p 0.9 --seed 43");
  REQUIRE(a.status == 0);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
}

TEST_CASE("cli: tokenize prints the golden ids, from the model and from the tokenizer file") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  for (auto& c : g["tokenize"]) {
    std::string want;
    for (auto& id : c["ids"]) want += (want.empty() ? "" : " ") + std::to_string(id.get<int>());
    std::string text = c["text"];
    auto r = ztest::run_zip("tokenize " + q(stories_zlm()) + " -p " + q(text));
    CHECK(r.status == 0);
    CHECK(r.out == want + "\n");
    auto r2 = ztest::run_zip("tokenize --tokenizer " + q(ztest::shared("models/stories260K/tok512.bin")) + " -p " + q(text));
    CHECK(r2.out == want + "\n");
    // --raw drops BOS; a FILE is one text read as bytes.
    std::string file = work_dir() + "/text.txt";
    std::ofstream(file, std::ios::binary) << text;
    auto r3 = ztest::run_zip("tokenize " + q(stories_zlm()) + " --raw " + q(file));
    std::string raw = want.size() > 1 ? want.substr(want.find(' ') == std::string::npos ? want.size() : want.find(' ') + 1) : "";
    CHECK(r3.out == raw + "\n");
  }
}

TEST_CASE("cli: slice with the golden spec, save, load, logits agree") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K-sliced/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/stories260K-sliced/logits.f32"));
  std::string spec = work_dir() + "/spec.json", out = work_dir() + "/sliced.zlm";
  std::ofstream(spec) << g["slice"].dump();
  auto r = ztest::run_zip("slice " + q(stories_zlm()) + " --spec " + q(spec) + " -o " + q(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  Model m = load_zlm(out, {.verify_data = true});
  CHECK(m.provenance["recipe"]["method"] == "slice");
  CHECK(m.config.layers[3].q_per_kv == std::vector<int>{1, 1});
  auto be = make_cpu_backend(2);
  InferenceContext ctx(m, *be);
  auto ids = g["input_ids"][0].get<std::vector<int>>();
  const float* p = ctx.eval(ids, true);
  CHECK(ztest::max_rel_err(std::vector<float>(p, p + ref.size()), ref) <= 2e-5);
  // An invalid spec is a one-line error and writes nothing.
  std::ofstream(spec) << R"({"1": {"kv_heads": [0, 2], "q_heads": [0, 2], "ffn_neurons": [1]}})";
  std::string out2 = work_dir() + "/bad.zlm";
  check_clean_failure(ztest::run_zip("slice " + q(stories_zlm()) + " --spec " + q(spec) + " -o " + q(out2)), 1);
  CHECK(!file_exists_for_test(out2));
}

TEST_CASE("cli: tiny-random-llama (HF layout, bf16, GQA, head_dim 24) agrees with the golden logits after convert") {
  auto g = ztest::load_json(ztest::shared("golden/tiny-random-llama/index.json"));
  auto ref = ztest::load_f32(ztest::shared("golden/tiny-random-llama/logits.f32"));
  std::string out = work_dir() + "/tiny-llama.zlm";
  auto r = ztest::run_zip("convert " + q(ztest::shared("models/tiny-random-llama")) + " -o " + q(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  Model m = load_zlm(out);
  auto be = make_cpu_backend(2);
  std::vector<float> got;
  for (auto& seq : g["input_ids"]) {
    InferenceContext ctx(m, *be);
    auto ids = seq.get<std::vector<int>>();
    const float* p = ctx.eval(ids, true);
    got.insert(got.end(), p, p + ids.size() * 512);
  }
  CHECK(ztest::max_rel_err(got, ref) <= 2e-5);
}

TEST_CASE("cli: bad input - usage errors exit 2 with one line") {
  std::string m = q(stories_zlm());
  check_clean_failure(ztest::run_zip("run " + m + " --bogus"), 2);
  check_clean_failure(ztest::run_zip("run " + m + " -n abc"), 2);
  check_clean_failure(ztest::run_zip("run " + m + " -n -5"), 2);
  check_clean_failure(ztest::run_zip("run " + m + " --temp"), 2);
  check_clean_failure(ztest::run_zip("run " + m + " --top-p 1.5"), 2);
  check_clean_failure(ztest::run_zip("run"), 2);
  check_clean_failure(ztest::run_zip("run " + m + " extra"), 2);
  check_clean_failure(ztest::run_zip("convert " + m), 2);
  check_clean_failure(ztest::run_zip("convert " + m + " -o x.zlm --dtype f8"), 2);
  check_clean_failure(ztest::run_zip("tokenize " + m), 2);
  check_clean_failure(ztest::run_zip("slice " + m + " -o x.zlm"), 2);
  check_clean_failure(ztest::run_zip("inspect"), 2);
  check_clean_failure(ztest::run_zip("frobnicate"), 2);
  for (const char* c : {"convert", "inspect", "run", "tokenize", "slice"}) {
    auto r = ztest::run_zip(std::string(c) + " --help");
    CHECK(r.status == 0);
    CHECK(r.out.find("usage: zip ") == 0);
  }
}

TEST_CASE("cli: --device is parsed the same way by run, bench and eval") {
  std::string m = q(stories_zlm()), ppl = q(ztest::shared("data/tinystories/TinyStories-valid-subset.txt"));
  const std::vector<std::string> commands = {"run " + m + " -n 4 --temp 0", "bench " + m + " --prompt 8 --gen 4 --reps 1",
                                             "eval " + m + " --ppl " + ppl + " --ctx 32 --max-tokens 64"};
  for (const std::string& c : commands) {
    INFO(c);
    // Unknown names are usage errors, whatever the build.
    for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "CPU"}) {
      auto r = ztest::run_zip(c + " --device " + q(bad));
      check_clean_failure(r, 2);
      CHECK(r.err.find("unknown device") != std::string::npos);
    }
    // The scalar reference backend runs every command.
    CHECK(ztest::run_zip(c + " --device ref -t 1").status == 0);
    // cuda: one line and exit 1 where there is no usable GPU (in a CPU build: no CUDA backend).
    std::string why;
    if (cuda_available(&why)) {
      MESSAGE("a CUDA GPU is present: --device cuda is checked by bench/gpu_check.sh");
      continue;
    }
    for (const char* dev : {"cuda", "cuda:0", "cuda:1"}) {
      auto r = ztest::run_zip(c + " --device " + dev);
      check_clean_failure(r, 1);
      CHECK(r.err.find(std::string("--device ") + dev + ": " + why) != std::string::npos);
#ifndef ZIP_CUDA
      CHECK(r.err.find("this build of zip has no CUDA backend (build with make CUDA=1)") != std::string::npos);
#endif
    }
  }
}

TEST_CASE("cli: run and bench name the backend that ran") {
  std::string m = q(stories_zlm());
  auto r = ztest::run_zip("run " + m + " -n 4 --temp 0 --device ref");
  REQUIRE(r.status == 0);
  CHECK(r.err.find("| ref\n") != std::string::npos);
  auto c = ztest::run_zip("run " + m + " -n 4 --temp 0 -t 2");
  REQUIRE(c.status == 0);
  CHECK(c.err.find("| cpu, 2 threads\n") != std::string::npos);
  CHECK(c.out == r.out);  // greedy text: the reference and the CPU backend agree on 4 tokens
  auto b = ztest::run_zip("bench " + m + " --prompt 8 --gen 4 --reps 1 --device ref");
  REQUIRE(b.status == 0);
  CHECK(b.out.find("| ref |") != std::string::npos);
  auto j = ztest::run_zip("bench " + m + " --prompt 8 --gen 4 --reps 1 -t 2 --json");
  REQUIRE(j.status == 0);
  auto jj = nlohmann::json::parse(j.out);
  CHECK(jj["device"] == "cpu");
  CHECK(jj["backend"] == "cpu");
  CHECK(jj["threads"] == 2);
  auto e = ztest::run_zip("eval " + m + " --ppl " + q(ztest::shared("data/tinystories/TinyStories-valid-subset.txt")) +
                          " --ctx 32 --max-tokens 64 --device ref -v");
  REQUIRE(e.status == 0);
  CHECK(e.err == "zip eval: ref\n");
}

TEST_CASE("cli: bad input - missing, empty, directory, corrupt and truncated models fail cleanly") {
  std::string dir = work_dir() + "/bad";
  REQUIRE(std::system(("mkdir -p " + q(dir)).c_str()) == 0);
  std::ofstream(dir + "/empty.zlm").close();
  std::string full = zip::read_file(stories_zlm());
  std::ofstream(dir + "/trunc.zlm", std::ios::binary).write(full.data(), std::streamsize(full.size() / 2));
  std::string flipped = full;
  flipped[100] ^= 0x20;  // inside the JSON header: the header checksum catches it
  std::ofstream(dir + "/flip.zlm", std::ios::binary).write(flipped.data(), std::streamsize(flipped.size()));
  std::string data_flip = full;
  data_flip[full.size() / 2] ^= 0x01;  // weight data: caught by inspect --verify
  std::ofstream(dir + "/dataflip.zlm", std::ios::binary).write(data_flip.data(), std::streamsize(data_flip.size()));
  for (std::string f : {dir + "/missing.zlm", dir, dir + "/empty.zlm", dir + "/trunc.zlm", dir + "/flip.zlm"}) {
    INFO(f);
    check_clean_failure(ztest::run_zip("run " + q(f) + " -n 5"), 1);
    check_clean_failure(ztest::run_zip("inspect " + q(f)), 1);
    check_clean_failure(ztest::run_zip("tokenize " + q(f) + " -p hi"), 1);
  }
  auto r = ztest::run_zip("inspect --verify " + q(dir + "/dataflip.zlm"));
  CHECK(r.status == 1);
  CHECK(r.err.find("checksum") != std::string::npos);
  // A prompt longer than the context.
  check_clean_failure(ztest::run_zip("run " + q(stories_zlm()) + " --ctx 4 -p " + q("Once upon a time there was")), 1);
  // Converting garbage writes nothing.
  check_clean_failure(ztest::run_zip("convert " + q(dir + "/trunc.zlm") + " -o " + q(dir + "/out.zlm")), 1);
  CHECK(!file_exists_for_test(dir + "/out.zlm"));
}

TEST_CASE("cli: the embedding example (public API only) generates and scores") {
  const char* bin = std::getenv("ZIP_EMBED_BIN");
  std::string embed = bin && *bin ? bin : "build/embed";
  auto r = ztest::run_cmd(q(embed) + " " + q(stories_zlm()) + " " + q("Once upon a time"));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  // Greedy: the golden continuation of "Once upon a time" starts with ", there was a little girl".
  CHECK(r.out.rfind("Once upon a time, there was a little girl", 0) == 0);
  CHECK(r.out.find("mean NLL:") != std::string::npos);
  // LoadOptions::device: the reference backend gives the same greedy text; an unknown device is
  // a one-line std::runtime_error.
  auto ref = ztest::run_cmd(q(embed) + " " + q(stories_zlm()) + " " + q("Once upon a time") + " ref");
  REQUIRE_MESSAGE(ref.status == 0, ref.err);
  CHECK(ref.out.rfind("Once upon a time, there was a little girl", 0) == 0);
  CHECK(ref.out.find("(device ref)") != std::string::npos);
  auto bad = ztest::run_cmd(q(embed) + " " + q(stories_zlm()) + " " + q("Once upon a time") + " tpu");
  CHECK(bad.status == 1);
  CHECK(count_lines(bad.err) == 1);
  CHECK(bad.err.find("unknown device 'tpu'") != std::string::npos);
}
