// Mixed-precision training (--precision bf16): the bf16 training ops against the float64 ops on
// bf16-rounded operands, the packed-weight cache following every write into the weights, the
// fused LM head at bf16, and through the binary: stories260K-shaped training at bf16 tracks f32,
// a killed bf16 run resumes bit for bit, and a resume at another precision is refused.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "base/float16.h"
#include "engine/file_io.h"
#include "engine/train/train_ops.h"
#include "engine/zlm.h"
#include "tests/cli_fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::train;

using ztest::q;

namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
std::vector<double> rounded(const std::vector<float>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = bf16_to_f32(f32_to_bf16(v[i]));
  return r;
}
// max |a - ref| / max |ref|
double rel_err(const std::vector<float>& a, const std::vector<double>& ref) {
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < a.size(); i++)
    num = std::max(num, std::fabs(double(a[i]) - ref[i])), den = std::max(den, std::fabs(ref[i]));
  return num / den;
}

}  // namespace

TEST_CASE("train bf16: linear forward and backward equal float64 on bf16-rounded operands") {
  auto ops = make_cpu_train_ops(2, Precision::bf16);
  auto ref = make_cpu_train_ops_f64(1);
  CHECK(ops->precision() == Precision::bf16);
  CHECK(make_cpu_train_ops(1)->precision() == Precision::f32);
  const int M = 37, K = 70, N = 45;  // not multiples of the 8 × 32 tile; odd K·N sums
  auto x = randn(size_t(M) * K, 1), W = randn(size_t(N) * K, 2, 0.1f), b = randn(size_t(N), 3), dy = randn(size_t(M) * N, 4);
  std::vector<float> y(size_t(M) * N), dx(size_t(M) * K, 0.5f), dW(W.size(), 0.5f), db(b.size(), 0.5f);
  ops->linear_fwd(y.data(), x.data(), W.data(), b.data(), M, K, N);
  ops->linear_bwd(dx.data(), dW.data(), db.data(), dy.data(), x.data(), W.data(), M, K, N);
  // Reference: float64 ops on the rounded operands (the bias and db stay f32 sums).
  std::vector<double> xr = rounded(x), Wr = rounded(W), dyr = rounded(dy), bd(b.begin(), b.end());
  std::vector<double> yr(y.size()), dxr(dx.size(), 0.5), dWr(dW.size(), 0.5), dbr(db.size(), 0.5);
  ref->linear_fwd(yr.data(), xr.data(), Wr.data(), bd.data(), M, K, N);
  std::vector<double> dyf(dy.begin(), dy.end());
  ref->linear_bwd(dxr.data(), dWr.data(), nullptr, dyr.data(), xr.data(), Wr.data(), M, K, N);
  ref->bias_bwd(dbr.data(), dyf.data(), M, N);
  CHECK(rel_err(y, yr) < 1e-6);
  CHECK(rel_err(dx, dxr) < 1e-6);
  CHECK(rel_err(dW, dWr) < 1e-6);
  CHECK(rel_err(db, dbr) < 1e-6);
}

TEST_CASE("train bf16: a weight written through the ops is packed again (AdamW, upload, copy, scale)") {
  const int M = 9, K = 40, N = 33;
  auto x = randn(size_t(M) * K, 5), g = randn(size_t(N) * K, 6);
  auto fwd = [&](TrainOps& ops, const float* W) {
    std::vector<float> y(size_t(M) * N);
    ops.linear_fwd(y.data(), x.data(), W, nullptr, M, K, N);
    return y;
  };
  auto ops = make_cpu_train_ops(2, Precision::bf16);
  float* W = static_cast<float*>(ops->alloc(size_t(N) * K * sizeof(float)));
  float* m = static_cast<float*>(ops->alloc(size_t(N) * K * sizeof(float)));
  float* v = static_cast<float*>(ops->alloc(size_t(N) * K * sizeof(float)));
  auto w0 = randn(size_t(N) * K, 7);
  ops->to_device(W, w0.data(), w0.size() * sizeof(float));
  auto fresh = [&] {  // what ops that never saw W before compute now
    auto other = make_cpu_train_ops(1, Precision::bf16);
    return fwd(*other, W);
  };
  auto y0 = fwd(*ops, W);
  CHECK(y0 == fresh());
  AdamWStep s;
  s.lr = 0.5f;
  ops->adamw_update(W, g.data(), m, v, w0.size(), s);
  auto y1 = fwd(*ops, W);
  CHECK(y1 != y0);
  CHECK(y1 == fresh());
  auto w2 = randn(w0.size(), 8);
  ops->to_device(W + 17, w2.data(), 100 * sizeof(float));  // part of the weight
  CHECK(fwd(*ops, W) == fresh());
  ops->scale(W, 3.0, w0.size());
  CHECK(fwd(*ops, W) == fresh());
  ops->copy(W, w0.data(), w0.size());
  CHECK(fwd(*ops, W) == y0);
  for (float* p : {W, m, v}) ops->release(p);
}

TEST_CASE("train bf16: the fused LM head + KL + CE at bf16 stays close to float64") {
  const int M = 70, D = 24, Dt = 40, V = 301;  // V not a multiple of the panel, M of the block
  auto h = randn(size_t(M) * D, 11), W = randn(size_t(V) * D, 12, 0.3f), ht = randn(size_t(M) * Dt, 13),
       Wt = randn(size_t(V) * Dt, 14, 0.3f);
  std::vector<int> tg(static_cast<size_t>(M));
  for (int i = 0; i < M; i++) tg[size_t(i)] = (i * 37) % V;
  auto run = [&](auto& ops, auto tag) {
    using T = decltype(tag);
    std::vector<T> hv(h.begin(), h.end()), Wv(W.begin(), W.end()), htv(ht.begin(), ht.end()), Wtv(Wt.begin(), Wt.end());
    std::vector<T> kl(static_cast<size_t>(M)), ce(static_cast<size_t>(M)), dh(hv.size()), dW(Wv.size());
    VocabLoss<T> a;
    a.M = M, a.D = D, a.Dt = Dt, a.V = V, a.h = hv.data(), a.W = Wv.data(), a.ht = htv.data(), a.Wt = Wtv.data();
    a.targets = tg.data(), a.tau = 2.0f, a.kl = kl.data(), a.ce = ce.data(), a.dh = dh.data(), a.dW = dW.data();
    a.dkl = 1.0 / M, a.dce = 0.5 / M, a.block_rows = 32;
    ops.vocab_loss(a);
    return std::vector<std::vector<double>>{{kl.begin(), kl.end()}, {ce.begin(), ce.end()}, {dh.begin(), dh.end()},
                                            {dW.begin(), dW.end()}};
  };
  auto ops = make_cpu_train_ops(2, Precision::bf16);
  auto ref = make_cpu_train_ops_f64(1);
  auto got = run(*ops, float{}), want = run(*ref, double{});
  const char* names[] = {"kl", "ce", "dh", "dW"};
  for (size_t i = 0; i < 4; i++) {
    std::vector<float> g(got[i].begin(), got[i].end());
    INFO(names[i] << " rel err " << rel_err(g, want[i]));
    // The operands are rounded to bf16 (2^-9 relative): the values and gradients follow within
    // a few of those roundings.
    CHECK(rel_err(g, want[i]) < 3e-2);
  }
}

namespace {

const std::string& dir() {
  static std::string d = ztest::temp_dir();
  return d;
}
// The stories260K shape.
const std::string& config_260k() {
  static std::string p = [] {
    std::string path = dir() + "/cfg260k.json";
    ztest::write_bytes(path, R"({"arch": "llama", "dim": 64, "max_seq_len": 512, "head_dim": 8, "n_layers": 5, "n_heads": 8,
                    "n_kv_heads": 4, "ffn_dim": 172, "tied_embeddings": true, "norm_eps": 1e-5, "rope_theta": 10000})");
    return path;
  }();
  return p;
}
std::string train_args(const std::string& out, int steps, const std::string& precision) {
  return "train --config " + q(config_260k()) + " --tokenizer " + q(ztest::cli_stories_zlm()) + " --data " + q(ztest::cli_tinystories_tokens()) +
         " -o " + q(out) + " --steps " + std::to_string(steps) + " --batch 4 --seq 32 --lr 3e-3 --warmup 10 " +
         "--precision " + precision;
}

}  // namespace

TEST_CASE("train bf16: stories260K shape trained at bf16 tracks f32 (loss within 2 % after 200 steps)") {
  std::map<std::string, std::vector<nlohmann::json>> logs;
  for (const char* p : {"f32", "bf16"}) {
    std::string out = dir() + "/track-" + p + ".zlm";
    auto r = ztest::run_zip(train_args(out, 200, p) + " -t 1 --val " + q(ztest::cli_tinystories_val_tokens()) +
                            " --eval-every 200 --eval-batches 8");
    REQUIRE_MESSAGE(r.status == 0, r.err);
    logs[p] = ztest::read_jsonl(out + ".log.jsonl");
    REQUIRE(logs[p].size() == 200);
    CHECK(load_zlm(out).provenance["recipe"]["precision"] == p);
  }
  auto tail_mean = [](const std::vector<nlohmann::json>& log) {  // the last 20 steps' training loss
    double s = 0;
    for (size_t i = log.size() - 20; i < log.size(); i++) s += log[i]["loss"].get<double>();
    return s / 20;
  };
  double f32 = tail_mean(logs["f32"]), bf16 = tail_mean(logs["bf16"]);
  double vf = logs["f32"].back()["val_loss"], vb = logs["bf16"].back()["val_loss"];
  MESSAGE("train loss (last 20 steps) f32 " << f32 << " bf16 " << bf16 << "; val loss f32 " << vf << " bf16 " << vb);
  CHECK(logs["f32"].front()["loss"].get<double>() - bf16 > 1.0);  // both actually trained
  CHECK(std::fabs(bf16 - f32) < 0.02 * f32);
  CHECK(std::fabs(vb - vf) < 0.02 * vf);
}

TEST_CASE("train bf16: SIGKILL then --resume reproduces the uninterrupted bf16 run bit for bit") {
  std::string c1 = dir() + "/bc1", c2 = dir() + "/bc2";
  auto args = [&](const std::string& out, const std::string& ckpt) {
    return train_args(out, 30, "bf16") + " -t 2 --ckpt-every 5 --ckpt " + q(ckpt) + " --log " + q(out + ".jsonl");
  };
  auto r1 = ztest::run_zip(args(dir() + "/bk1.zlm", c1));
  REQUIRE_MESSAGE(r1.status == 0, r1.err);
  // Run 2 as a child of this process, slowed down, killed once it has a checkpoint.
  std::string cmd2 = ztest::zip_bin() + " " + args(dir() + "/bk2.zlm", c2);
  std::string slow = cmd2 + " --sleep-ms 40 >/dev/null 2>&1";
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", ("exec " + slow).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto t0 = std::chrono::steady_clock::now();
  while (!file_exists(c2 + "/latest") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(file_exists(c2 + "/latest"));
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(ztest::read_jsonl(dir() + "/bk2.zlm.jsonl").size() < 30);
  // The checkpoint records the precision; another precision is refused with one clear line.
  auto other = ztest::run_cmd(ztest::zip_bin() + " " + train_args(dir() + "/bk3.zlm", 30, "f32") + " -t 2 --resume " +
                              q(c2));
  CHECK(other.status == 1);
  CHECK(ztest::count_lines(other.err) == 1);
  CHECK(other.err.find("precision \"bf16\"") != std::string::npos);
  CHECK(other.err.find("\"f32\"") != std::string::npos);
  auto r3 = ztest::run_cmd(cmd2 + " --resume " + q(c2));
  REQUIRE_MESSAGE(r3.status == 0, r3.err);
  auto a = ztest::read_jsonl(dir() + "/bk1.zlm.jsonl"), b = ztest::read_jsonl(dir() + "/bk2.zlm.jsonl");
  REQUIRE(a.size() == 30);
  REQUIRE(b.size() == 30);
  for (size_t i = 0; i < a.size(); i++) CHECK(b[i]["loss"].dump() == a[i]["loss"].dump());  // equal bits
  CHECK(read_file(dir() + "/bk1.zlm") == read_file(dir() + "/bk2.zlm"));
}

TEST_CASE("train bf16: distillation at bf16 (teacher and student heads packed) lowers the KL") {
  std::string sliced = dir() + "/sliced.zlm", out = dir() + "/dbf.zlm";
  auto r = ztest::run_zip("slice " + q(ztest::cli_stories_zlm()) + " --spec " +
                          q(ztest::shared("golden/stories260K-sliced/index.json")) + " -o " + q(sliced));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  r = ztest::run_zip("distill --teacher " + q(ztest::cli_stories_zlm()) + " --student " + q(sliced) +
                     " --synthetic 2000 --steps 20 --batch 4 --seq 32 --lr 3e-3 -t 2 --precision bf16 -o " + q(out));
  REQUIRE_MESSAGE(r.status == 0, r.err);
  auto log = ztest::read_jsonl(out + ".log.jsonl");
  REQUIRE(log.size() == 20);
  double kl0 = log.front()["kl"], kl1 = log.back()["kl"];
  MESSAGE("distill bf16: KL " << kl0 << " -> " << kl1);
  CHECK(kl1 < 0.8 * kl0);
  CHECK(load_zlm(out).provenance["recipe"]["precision"] == "bf16");
}

TEST_CASE("train bf16: --precision takes f32 or bf16 only (usage error)") {
  auto r = ztest::run_zip(train_args(dir() + "/bad.zlm", 2, "fp8"));
  CHECK(r.status == 2);
  CHECK(ztest::count_lines(r.err) == 1);
  CHECK(r.err.find("--precision") != std::string::npos);
}
