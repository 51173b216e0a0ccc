// zip tokenize -o / zip train / zip distill end to end through the real binary: the tokens.bin
// format and document joining, a tiny training run, bit-exact resume after SIGKILL, a
// distillation smoke test, and one-line errors on bad input.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "distill/token_data.h"
#include "engine/checksum.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "tests/cli_fixtures.h"
#include "tests/test_util.h"

using namespace zip;

using ztest::q;

namespace {

const std::string& dir() {
  static std::string d = ztest::temp_dir();
  return d;
}

const std::string& tiny_config() {
  static std::string p = [] {
    std::string path = dir() + "/cfg.json";
    ztest::write_bytes(path,
          R"({"arch": "llama", "dim": 32, "max_seq_len": 64, "head_dim": 8, "n_layers": 2, "n_heads": 4,
              "n_kv_heads": 2, "ffn_dim": 64, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000})");
    return path;
  }();
  return p;
}

using ztest::check_clean_failure;
using ztest::count_lines;

// Whether a process exists and is not a zombie (a container's init may reap late).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

std::string train_args(const std::string& out) {
  return "train --config " + q(tiny_config()) + " --tokenizer " + q(ztest::cli_stories_zlm()) + " --data " + q(ztest::cli_tinystories_tokens()) +
         " -o " + q(out) + " --steps 30 --batch 4 --seq 32 --lr 3e-3 --warmup 3 -t 2";
}

}  // namespace

TEST_CASE("train cli: tokens.bin round trip and BOS document joining (SentencePiece)") {
  Model m = load_zlm(ztest::cli_stories_zlm());
  Tokenizer tok(m.tokenizer);
  std::string a = "Once upon a time there was a cat.", b = "The dog ran home.\nIt was happy.";
  ztest::write_bytes(dir() + "/a.txt", a);
  ztest::write_bytes(dir() + "/b.txt", b);
  auto r = ztest::run_zip("tokenize " + q(ztest::cli_stories_zlm()) + " " + q(dir() + "/a.txt") + " " + q(dir() + "/b.txt") +
                          " -o " + q(dir() + "/ab.bin"));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  CHECK(r.out.empty());
  auto d = distill::load_tokens(dir() + "/ab.bin");
  REQUIRE(d.n_docs() == 2);
  CHECK(d.tokenizer_hash == distill::tokenizer_hash(*m.tokenizer));
  CHECK(d.vocab_size == 512);
  // Every document starts with BOS, then the document's ids.
  std::vector<int> ea = tok.encode(a, true), eb = tok.encode(b, true);
  CHECK(ea.front() == 1);
  CHECK(std::vector<int>(d.ids.begin(), d.ids.begin() + int64_t(d.offsets[1])) == ea);
  CHECK(std::vector<int>(d.ids.begin() + int64_t(d.offsets[1]), d.ids.end()) == eb);
  std::string raw = read_file(dir() + "/ab.bin");
  CHECK(raw.substr(0, 7) == "ZIPTOKS");
  CHECK(uint8_t(raw[12]) == 2);  // u16 ids for a 512-piece vocabulary
  CHECK(raw.size() == 40 + 8 * 3 + 2 * d.ids.size() + 4);

  // --lines: one document per non-empty line; the last ones go to the validation file.
  r = ztest::run_zip("tokenize " + q(ztest::cli_stories_zlm()) + " " + q(dir() + "/b.txt") + " " + q(dir() + "/a.txt") +
                     " --lines --val-fraction 0.34 -o " + q(dir() + "/l.bin"));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto tr = distill::load_tokens(dir() + "/l.bin"), va = distill::load_tokens(dir() + "/l.val.bin");
  CHECK(tr.n_docs() == 2);
  CHECK(va.n_docs() == 1);
  CHECK(va.ids == tok.encode(a, true));

  // Without BOS (GPT-2 style), EOS separates the documents instead.
  TokenizerData nobos = *m.tokenizer;
  nobos.add_bos = false;
  auto g = distill::tokenize_documents(nobos, {a, b});
  std::vector<int> want = tok.encode(a, false);
  want.push_back(nobos.eos);
  std::vector<int> tail = tok.encode(b, false);
  want.insert(want.end(), tail.begin(), tail.end());
  CHECK(g.ids == want);

  // Printing ids (no -o) still works.
  r = ztest::run_zip("tokenize " + q(ztest::cli_stories_zlm()) + " -p " + q(a));
  CHECK(r.status == 0);
  CHECK(r.out.rfind("1 ", 0) == 0);
}

TEST_CASE("train cli: a tiny model trained from scratch, loss decreases") {
  std::string out = dir() + "/t.zlm";
  auto r = ztest::run_zip(train_args(out) + " --val " + q(ztest::cli_tinystories_val_tokens()) + " --eval-every 10");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto log = ztest::read_jsonl(out + ".log.jsonl");
  REQUIRE(log.size() == 30);
  double first = log.front()["loss"], last = log.back()["loss"];
  MESSAGE("train: loss " << first << " -> " << last << ", val " << log.back()["val_loss"]);
  CHECK(std::abs(first - std::log(512.0)) < 0.2);  // random init: about uniform
  CHECK(last < first - 0.5);
  for (const char* k : {"step", "loss", "lr", "grad_norm", "tokens_per_s"}) CHECK(log[5].contains(k));
  CHECK(log[9].contains("val_loss"));
  Model m = load_zlm(out);
  CHECK(m.config.n_layers() == 2);
  CHECK(m.tokenizer);
  CHECK(m.provenance["recipe"]["steps"] == 30);
  CHECK(m.provenance["recipe"]["tokens_seen"] == 30 * 4 * 32);
  CHECK(m.provenance["recipe"].contains("data_hash"));
  // Same seed, same model.
  auto r2 = ztest::run_zip(train_args(dir() + "/t2.zlm"));
  REQUIRE(r2.status == 0);
  CHECK(read_file(out) == read_file(dir() + "/t2.zlm"));
}

TEST_CASE("train cli: SIGKILL then --resume reproduces the uninterrupted per-step losses bit for bit") {
  std::string c1 = dir() + "/c1", c2 = dir() + "/c2";
  auto r1 = ztest::run_zip(train_args(dir() + "/k1.zlm") + " --ckpt-every 5 --ckpt " + q(c1) + " --log " +
                           q(dir() + "/k1.jsonl"));
  REQUIRE_MESSAGE(r1.status == 0, r1.err);
  // Run 2 in the background, slowed down so that it is killed mid-run.
  std::string cmd2 = ztest::zip_bin() + " " + train_args(dir() + "/k2.zlm") + " --ckpt-every 5 --ckpt " + q(c2) +
                     " --log " + q(dir() + "/k2.jsonl");
  auto bg = ztest::run_cmd("(" + cmd2 + " --sleep-ms 40 >/dev/null 2>&1 & echo $!)");
  pid_t pid = std::stoi(bg.out);
  auto t0 = std::chrono::steady_clock::now();
  while (!file_exists(c2 + "/latest") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(file_exists(c2 + "/latest"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  while (alive(pid) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  size_t done = ztest::read_jsonl(dir() + "/k2.jsonl").size();
  MESSAGE("killed after " << done << " logged steps; resuming from " << read_file(c2 + "/latest"));
  CHECK(done < 30);
  // The same command again without --resume is refused (exit 2): the checkpoints stay as they are.
  const std::string latest = read_file(c2 + "/latest");
  auto again = ztest::run_cmd(cmd2);
  CHECK(again.status == 2);
  CHECK(ztest::count_lines(again.err) == 1);
  CHECK_HAS(again.err, "holds the checkpoint of an unfinished run");
  CHECK_HAS(again.err, "--resume " + c2);
  CHECK(read_file(c2 + "/latest") == latest);
  CHECK(ztest::run_cmd(cmd2 + " --resume " + q(c2) + " --overwrite").status == 2);
  // --overwrite starts over in a copy of the killed run's directory.
  std::string c3 = dir() + "/c3";
  REQUIRE(ztest::run_cmd("cp -r " + q(c2) + " " + q(c3)).status == 0);
  auto over = ztest::run_zip(train_args(dir() + "/k3.zlm") + " --ckpt-every 5 --ckpt " + q(c3) + " --overwrite");
  REQUIRE_MESSAGE(over.status == 0, over.err);
  CHECK(read_file(c3 + "/latest") == "ckpt-00000030.bin\n");
  CHECK(read_file(dir() + "/k3.zlm") == read_file(dir() + "/k1.zlm"));
  // A finished run's directory may be reused without either flag.
  auto reuse = ztest::run_zip(train_args(dir() + "/k4.zlm") + " --ckpt-every 5 --ckpt " + q(c1));
  CHECK_MESSAGE(reuse.status == 0, reuse.err);
  auto r3 = ztest::run_cmd(cmd2 + " --resume " + q(c2));
  REQUIRE_MESSAGE(r3.status == 0, r3.err);
  auto a = ztest::read_jsonl(dir() + "/k1.jsonl"), b = ztest::read_jsonl(dir() + "/k2.jsonl");
  REQUIRE(a.size() == 30);
  REQUIRE(b.size() == 30);
  for (size_t i = 0; i < a.size(); i++) {
    CHECK(b[i]["step"] == a[i]["step"]);
    CHECK(b[i]["loss"].dump() == a[i]["loss"].dump());  // shortest round-trip text: equal bits
    CHECK(b[i]["loss"].get<double>() == a[i]["loss"].get<double>());
  }
  CHECK(read_file(dir() + "/k1.zlm") == read_file(dir() + "/k2.zlm"));
}

TEST_CASE("train cli: distill the sliced stories260K from stories260K on synthetic data, KL decreases") {
  std::string sliced = dir() + "/sliced.zlm";
  auto r = ztest::run_zip("slice " + q(ztest::cli_stories_zlm()) + " --spec " +
                          q(ztest::shared("golden/stories260K-sliced/index.json")) + " -o " + q(sliced));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  std::string out = dir() + "/d.zlm";
  r = ztest::run_zip("distill --teacher " + q(ztest::cli_stories_zlm()) + " --student " + q(sliced) +
                     " --synthetic 2000 --steps 20 --batch 4 --seq 32 --lr 3e-3 -t 2 -o " + q(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto log = ztest::read_jsonl(out + ".log.jsonl");
  REQUIRE(log.size() == 20);
  double kl0 = log.front()["kl"], kl1 = log.back()["kl"];
  MESSAGE("distill: KL " << kl0 << " -> " << kl1);
  CHECK(kl1 < 0.8 * kl0);
  Model m = load_zlm(out);
  CHECK(m.config == load_zlm(sliced).config);
  CHECK(m.provenance["recipe"]["method"] == "distill");
  CHECK(m.provenance["recipe"]["lr"] == 3e-3);  // given
  CHECK(m.provenance["recipe"]["warmup"] == 1);  // the default: 5% of 20 steps
  CHECK(log.front()["lr"].get<double>() == doctest::Approx(3e-3));  // a one-step warm-up starts at the peak
}

TEST_CASE("train cli: distill killed then --resume reproduces the uninterrupted per-step losses bit for bit") {
  std::string sliced = dir() + "/rsliced.zlm", c1 = dir() + "/dc1", c2 = dir() + "/dc2";
  auto r = ztest::run_zip("slice " + q(ztest::cli_stories_zlm()) + " --spec " +
                          q(ztest::shared("golden/stories260K-sliced/index.json")) + " -o " + q(sliced));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto args = [&](const std::string& out, const std::string& ckpt) {
    return "distill --teacher " + q(ztest::cli_stories_zlm()) + " --student " + q(sliced) +
           " --synthetic 2000 --steps 20 --batch 4 --seq 32 --lr 3e-3 --ce-weight 0.5 --temperature 2 -t 2" +
           " --ckpt-every 4 --ckpt " + q(ckpt) + " -o " + q(out) + " --log " + q(out + ".jsonl");
  };
  auto r1 = ztest::run_zip(args(dir() + "/dk1.zlm", c1));
  REQUIRE_MESSAGE(r1.status == 0, r1.err);
  std::string cmd2 = ztest::zip_bin() + " " + args(dir() + "/dk2.zlm", c2);
  auto bg = ztest::run_cmd("(" + cmd2 + " --sleep-ms 40 >/dev/null 2>&1 & echo $!)");
  pid_t pid = std::stoi(bg.out);
  auto t0 = std::chrono::steady_clock::now();
  while (!file_exists(c2 + "/latest") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(file_exists(c2 + "/latest"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  while (alive(pid) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(ztest::read_jsonl(dir() + "/dk2.zlm.jsonl").size() < 20);
  auto r3 = ztest::run_cmd(cmd2 + " --resume " + q(c2));
  REQUIRE_MESSAGE(r3.status == 0, r3.err);
  auto a = ztest::read_jsonl(dir() + "/dk1.zlm.jsonl"), b = ztest::read_jsonl(dir() + "/dk2.zlm.jsonl");
  REQUIRE(a.size() == 20);
  REQUIRE(b.size() == 20);
  for (size_t i = 0; i < a.size(); i++) CHECK(b[i]["loss"].dump() == a[i]["loss"].dump());  // equal bits
  CHECK(read_file(dir() + "/dk1.zlm") == read_file(dir() + "/dk2.zlm"));
}

TEST_CASE("train cli: bad input gives a one-line error and exit code 1 or 2") {
  std::string base = "train --tokenizer " + q(ztest::cli_stories_zlm()) + " --data " + q(ztest::cli_tinystories_tokens()) + " -o " +
                     q(dir() + "/bad.zlm") + " --steps 2 --batch 2 --seq 16";
  SUBCASE("bad input: missing config field") {
    ztest::write_bytes(dir() + "/nodim.json", R"({"arch": "llama", "max_seq_len": 64, "head_dim": 8, "n_layers": 2,
         "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 64, "norm_eps": 1e-5})");
    check_clean_failure(ztest::run_zip(base + " --config " + q(dir() + "/nodim.json")));
  }
  SUBCASE("bad input: data made with another tokenizer") {
    std::string t = read_file(ztest::cli_tinystories_tokens());
    t[16] ^= 0x5a;  // tokenizer hash
    // Keep the file's own checksum valid so that the hash check is what fails.
    std::string body = t.substr(0, t.size() - 4);
    uint32_t crc = crc32c(body.data(), body.size());
    std::memcpy(t.data() + t.size() - 4, &crc, 4);
    ztest::write_bytes(dir() + "/other.bin", t);
    auto r = ztest::run_zip("train --config " + q(tiny_config()) + " --tokenizer " + q(ztest::cli_stories_zlm()) + " --data " +
                            q(dir() + "/other.bin") + " -o " + q(dir() + "/bad.zlm") + " --steps 2 --seq 16");
    check_clean_failure(r);
    CHECK(r.err.find("another tokenizer") != std::string::npos);
  }
  SUBCASE("bad input: corrupt tokens.bin") {
    std::string t = read_file(ztest::cli_tinystories_tokens());
    t[100] ^= 0x01;
    ztest::write_bytes(dir() + "/corrupt.bin", t);
    auto r = ztest::run_zip("train --config " + q(tiny_config()) + " --tokenizer " + q(ztest::cli_stories_zlm()) + " --data " +
                            q(dir() + "/corrupt.bin") + " -o " + q(dir() + "/bad.zlm") + " --steps 2 --seq 16");
    check_clean_failure(r);
    ztest::write_bytes(dir() + "/short.bin", t.substr(0, 30));
    check_clean_failure(ztest::run_zip("train --config " + q(tiny_config()) + " --tokenizer " + q(ztest::cli_stories_zlm()) +
                                       " --data " + q(dir() + "/short.bin") + " -o " + q(dir() + "/bad.zlm") +
                                       " --seq 16"));
  }
  SUBCASE("bad input: --resume of an empty directory") {
    std::string empty = dir() + "/empty_ckpt";
    ztest::run_cmd("mkdir -p " + q(empty));
    auto r = ztest::run_zip(base + " --config " + q(tiny_config()) + " --resume " + q(empty));
    check_clean_failure(r);
    CHECK(r.err.find("no checkpoint") != std::string::npos);
  }
  SUBCASE("bad input: distill with different vocabularies, and missing flags") {
    // A student whose vocabulary differs in one piece.
    Model other = load_zlm(ztest::cli_stories_zlm());
    auto td = std::make_shared<TokenizerData>(*other.tokenizer);
    td->pieces[300] += "x";
    other.tokenizer = td;
    std::string other_zlm = dir() + "/other_vocab.zlm";
    save_zlm(other, other_zlm);
    auto r = ztest::run_zip("distill --teacher " + q(ztest::cli_stories_zlm()) + " --student " + q(other_zlm) +
                            " --synthetic 10 --seq 8 -o " +
                            q(dir() + "/bad.zlm"));
    check_clean_failure(r);
    CHECK(r.err.find("vocabular") != std::string::npos);
    check_clean_failure(ztest::run_zip("train --config " + q(tiny_config())));
  }
  SUBCASE("bad input: training refuses any --device but cpu, in one line, before reading a file") {
    for (const char* d : {"cuda", "cuda:1", "ref"}) {
      INFO(d);
      auto r = ztest::run_zip(base + " --config " + q(tiny_config()) + " --device " + d);
      check_clean_failure(r);
      CHECK(r.status == 2);
      CHECK(r.err.find("training runs on the CPU") != std::string::npos);
      auto rd = ztest::run_zip("distill --teacher " + q(ztest::cli_stories_zlm()) + " --student " + q(ztest::cli_stories_zlm()) +
                               " --synthetic 10 --seq 8 -o " + q(dir() + "/bad.zlm") + " --device " + d);
      check_clean_failure(rd);
      CHECK(rd.status == 2);
      CHECK(rd.err.find("training runs on the CPU") != std::string::npos);
    }
    auto r = ztest::run_zip(base + " --config " + q(tiny_config()) + " --device tpu");
    check_clean_failure(r);
    CHECK(r.status == 2);
    CHECK(r.err.find("unknown device 'tpu'") != std::string::npos);
  }
  CHECK(!file_exists(dir() + "/bad.zlm"));
}
