// The .zlm format: CRC-32C, round trips, atomic writes, and a reader that rejects truncated,
// mutated and garbage files with a zip::Error (the "corrupt" cases also run under ASan+UBSan).
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>

#include <cstdlib>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "engine/quant/quantize_model.h"
#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/finite_check.h"
#include "engine/zlm.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

struct ModelSize {
  int dim = 16, vocab = 24, head_dim = 4;
};

// Per-layer shapes all differ: uneven GQA groups, a layer without attention, one without FFN.
ModelConfig small_config(const ModelSize& s, bool tied) {
  ModelConfig c;
  c.dim = s.dim;
  c.vocab_size = s.vocab;
  c.max_seq_len = 64;
  c.head_dim = s.head_dim;
  c.norm_eps = 1e-6f;
  c.rope_theta = 500000.0f;
  c.tied_embeddings = tied;
  c.layers = {LayerShape{{2, 1}, 24}, LayerShape{{}, 16}, LayerShape{{1, 1, 3}, 0}, LayerShape{{3}, 8}};
  return c;
}

std::shared_ptr<const TokenizerData> small_tokenizer(int n) {
  auto t = std::make_shared<TokenizerData>();
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < n; i++) {
    if (i < 3) {
      t->pieces.push_back(specials[i]);
      t->types.push_back(i == 0 ? kUnknown : kControl);
    } else {
      t->pieces.push_back((i % 2 ? " " : "") + std::string(1, char('a' + i % 26)) + std::string(size_t(i % 3), 'x'));
      t->types.push_back(kNormal);
    }
    t->scores.push_back(-float(i) * 0.5f);
  }
  t->unk = 0;
  t->bos = 1;
  t->eos = 2;
  return t;
}

// A random model; norms stay f32 as convert_weights leaves them.
Model make_model(uint64_t seed, DType dtype, bool with_tokenizer = true, ModelSize s = {}, bool tied = false) {
  Model m;
  m.config = small_config(s, tied);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  for (auto& spec : expected_tensors(m.config)) {
    std::vector<float> v(size_t(shape_numel(spec.shape)));
    for (auto& x : v) x = nd(rng);
    bool norm = spec.name.find("norm") != std::string::npos;
    m.tensors.emplace(spec.name, Tensor::from_floats(v, spec.shape, norm ? DType::F32 : dtype));
  }
  if (with_tokenizer) m.tokenizer = small_tokenizer(std::min(s.vocab, 20));
  m.provenance = {{"source", "test_zlm"}, {"seed", seed}, {"recipe", {{"method", "none"}, {"levels", {1, 2, 3}}}}};
  return m;
}

void require_same(const Model& a, const Model& b) {
  CHECK(a.config == b.config);
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (auto& [name, t] : a.tensors) {
    const Tensor& u = b.get(name);
    CHECK(u.dtype == t.dtype);
    CHECK(u.shape == t.shape);
    CHECK(std::memcmp(u.data, t.data, t.nbytes()) == 0);
  }
  REQUIRE(bool(a.tokenizer) == bool(b.tokenizer));
  if (a.tokenizer) CHECK(*a.tokenizer == *b.tokenizer);
  CHECK(a.provenance == b.provenance);
}

// A 64-byte aligned copy of a file's bytes, as the memory loader requires.
struct Image {
  std::shared_ptr<uint8_t> buf;
  size_t size = 0;
  explicit Image(const std::string& bytes) : size(bytes.size()) {
    buf.reset(static_cast<uint8_t*>(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64)), std::free);
    std::memcpy(buf.get(), bytes.data(), size);
  }
  uint8_t* data() { return buf.get(); }
  Model load(bool verify = false) {
    return load_zlm_from_memory(buf.get(), size, buf, "image.zlm", ZlmLoadOptions{verify});
  }
};

// The error message of `f`, which must throw zip::Error ("" and a failed check if it didn't).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected a zip::Error");
  return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d);
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  closedir(d);
  return out;
}

// A fresh temp directory, removed with everything in it when the test ends.
struct TempDir {
  std::string path = ztest::temp_dir();
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// A saved reference model and its bytes.
struct Saved {
  TempDir tmp;
  std::string dir = tmp.path, path, bytes;
  ZlmInfo info;
};
void save_reference(Saved& s, DType dtype = DType::F16) {
  s.path = s.dir + "/m.zlm";
  save_zlm(make_model(7, dtype), s.path);
  s.bytes = read_file(s.path);
  s.info = inspect_zlm(s.path, true);
}

}  // namespace

TEST_CASE("checksum: crc32c known vectors") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c_portable("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
  // RFC 3720 (iSCSI) B.4 vectors.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), inc(32);
  for (int i = 0; i < 32; i++) inc[size_t(i)] = uint8_t(i);
  CHECK(crc32c(zeros.data(), 32) == 0x8A9136AAu);
  CHECK(crc32c(ones.data(), 32) == 0x62A8AB43u);
  CHECK(crc32c(inc.data(), 32) == 0x46DD794Eu);
  CHECK(crc32c_portable(inc.data(), 32) == 0x46DD794Eu);
  CHECK(crc32c_zeros(32) == 0x8A9136AAu);
}

TEST_CASE("checksum: hardware and table paths agree, chaining works") {
  MESSAGE("crc32c hardware path: " << std::string(crc32c_hardware() ? "yes" : "no"));
  std::mt19937 rng(1);
  std::vector<uint8_t> buf(60000);
  for (auto& b : buf) b = uint8_t(rng());
  // Lengths past 3 x 4096 take the hardware path's interleaved streams.
  for (size_t off = 0; off < 9; off++)
    for (size_t n : {0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 255, 1000, 4990, 12287, 12288, 12295, 24576 + 13, 59990}) {
      uint32_t a = crc32c(buf.data() + off, n), b = crc32c_portable(buf.data() + off, n);
      REQUIRE(a == b);
      // Split anywhere: continuing from the first part's CRC gives the whole CRC.
      size_t k = n / 3;
      CHECK(crc32c(buf.data() + off + k, n - k, crc32c(buf.data() + off, k)) == a);
      CHECK(crc32c_portable(buf.data() + off + k, n - k, crc32c_portable(buf.data() + off, k)) == a);
    }
  std::vector<uint8_t> z(10000, 0);
  CHECK(crc32c_zeros(10000, 123) == crc32c(z.data(), z.size(), 123));
}

TEST_CASE("zlm: round trip is exact for f32, f16 and bf16") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    CAPTURE(dtype_name(dt));
    Model m = make_model(42, dt);
    std::string path = dir + "/m_" + dtype_name(dt) + ".zlm";
    save_zlm(m, path);
    Model r = load_zlm(path, ZlmLoadOptions{true});
    require_same(m, r);
    // Zero-copy and aligned: every tensor is a view whose storage is the mapping.
    for (auto& [name, t] : r.tensors) {
      CHECK(t.holder != nullptr);
      CHECK(reinterpret_cast<uintptr_t>(t.data) % 64 == 0);
    }
    // Deterministic: saving the loaded model again gives the same bytes, hence the same hash.
    std::string again = dir + "/again.zlm";
    save_zlm(r, again);
    CHECK(read_file(again) == read_file(path));
    CHECK(zlm_content_hash(again) == zlm_content_hash(path));
    CHECK(zlm_content_hash(path).size() == 32);
  }
}

TEST_CASE("zlm: round trip without tokenizer, with tied embeddings, mixed dtypes") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  Model m = make_model(3, DType::BF16, /*tok*/ false, {}, /*tied*/ true);
  m.tensors.at("blk.0.attn_q") = m.tensors.at("blk.0.attn_q").converted(DType::F32);
  m.tensors.at("blk.3.ffn_down") = m.tensors.at("blk.3.ffn_down").converted(DType::F16);
  m.provenance = nlohmann::json::object();
  save_zlm(m, dir + "/t.zlm");
  Model r = load_zlm(dir + "/t.zlm");
  require_same(m, r);
  CHECK(r.find("output") == nullptr);
}

TEST_CASE("zlm: inspect reports the layout and the checksums") {
  Saved s;
  save_reference(s);
  const ZlmInfo& i = s.info;
  CHECK(i.version == 1);
  CHECK(i.file_size == s.bytes.size());
  CHECK(i.data_offset % 64 == 0);
  CHECK(i.data_offset >= 64 + i.header_bytes + i.index_bytes);
  CHECK(i.data_offset + i.data_bytes == i.file_size);
  CHECK(i.data_verified);
  CHECK(i.data_crc_ok);
  CHECK(i.header["format"] == "zlm");
  CHECK(i.header.contains("tokenizer"));
  CHECK(i.header["provenance"]["source"] == "test_zlm");
  // Index order: the config's tensors first, then tokenizer.*.
  auto specs = expected_tensors(config_from_json(i.header["config"]));
  REQUIRE(i.tensors.size() > specs.size());
  for (size_t k = 0; k < specs.size(); k++) CHECK(i.tensors[k].name == specs[k].name);
  for (size_t k = specs.size(); k < i.tensors.size(); k++) CHECK(i.tensors[k].name.rfind("tokenizer.", 0) == 0);
  ZlmInfo quick = inspect_zlm(s.path, false);
  CHECK(!quick.data_verified);
  CHECK(!quick.data_crc_ok);
}

TEST_CASE("zlm: writes are atomic") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  std::string path = dir + "/m.zlm";
  // An invalid model fails before anything appears.
  Model bad = make_model(1, DType::F32);
  bad.tensors.erase("blk.0.attn_k");
  std::string err = error_of([&] { save_zlm(bad, path); });
  CHECK(err.find("blk.0.attn_k") != std::string::npos);
  CHECK(!file_exists(path));
  // A model that cannot be written (provenance that is not UTF-8) keeps the old file intact.
  save_zlm(make_model(1, DType::F32), path);
  std::string before = read_file(path);
  Model m = make_model(2, DType::F32);
  m.provenance["note"] = std::string("\xff\xfe not utf-8");
  CHECK(error_of([&] { save_zlm(m, path); }).find(path) != std::string::npos);
  CHECK(read_file(path) == before);
  // Tensors on the GPU cannot be written from here.
  Model g = make_model(2, DType::F32);
  g.tensors.at("tok_embd").device = Device::CUDA;
  CHECK(error_of([&] { save_zlm(g, path); }).find("not on the CPU") != std::string::npos);
  g.tensors.at("tok_embd").device = Device::CPU;
  CHECK(read_file(path) == before);
  // A write that fails half way (the file-size limit stands in for a full disk) removes the
  // temp file and leaves the old file as it was.
  {
    struct rlimit old_lim;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of a signal
    struct rlimit lim = old_lim;
    lim.rlim_cur = 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::string err = error_of([&] { save_zlm(make_model(3, DType::F32), path); });
    setrlimit(RLIMIT_FSIZE, &old_lim);
    std::signal(SIGXFSZ, old_handler);
    CHECK(err.find("write to") != std::string::npos);
    CHECK(read_file(path) == before);
  }
  // Overwriting a file the model is mapped from is fine (the old mapping stays valid).
  Model loaded = load_zlm(path);
  save_zlm(loaded, path);
  CHECK(read_file(path) == before);
  auto names = list_dir(dir);
  CHECK(names == std::vector<std::string>{"m.zlm"});  // no *.tmp.* left behind
}

TEST_CASE("zlm: corrupt — truncated at 50 random points") {
  Saved s;
  save_reference(s);
  std::mt19937_64 rng(2024);
  std::string path = s.dir + "/trunc.zlm";
  for (int i = 0; i < 50; i++) {
    size_t cut = size_t(rng() % s.bytes.size());  // 0 .. size-1: always loses something
    if (i == 0) cut = 0;
    if (i == 1) cut = 63;
    if (i == 2) cut = 64;
    CAPTURE(cut);
    write_bytes(path, s.bytes.substr(0, cut));
    std::string err = error_of([&] { load_zlm(path); });
    CHECK(err.rfind(path, 0) == 0);  // the message starts with the file name
    CHECK(err.find('\n') == std::string::npos);
    if (cut >= 64) CHECK(err.find("truncated") != std::string::npos);
  }
  // Extra bytes at the end are an error too.
  write_bytes(path, s.bytes + "x");
  CHECK(error_of([&] { load_zlm(path); }).find("unexpected bytes") != std::string::npos);
}

TEST_CASE("zlm: corrupt — header/index bytes mutated with the checksum recomputed") {
  Saved s;
  save_reference(s);
  const size_t begin = kZlmPreambleBytes, end = begin + s.info.header_bytes + s.info.index_bytes;
  std::mt19937_64 rng(77);
  int rejected = 0, accepted = 0, in_index = 0;
  for (int i = 0; i < 50; i++) {
    Image img(s.bytes);
    size_t pos = begin + size_t(rng() % (end - begin));
    uint8_t x = uint8_t(1 + rng() % 255);  // never a no-op
    img.data()[pos] ^= x;
    in_index += pos >= begin + s.info.header_bytes;
    zlm_reseal(img.data(), img.size, false);
    try {
      Model m = img.load();
      m.validate();
      accepted++;
      MESSAGE("harmless mutation at " << pos << " (" << std::string(pos < begin + s.info.header_bytes ? "header" : "index")
                                      << ")");
    } catch (const Error& e) {
      rejected++;
      std::string msg = e.what();
      CHECK(msg.rfind("image.zlm: ", 0) == 0);
      for (char c : msg) CHECK((c >= 0x20 && c <= 0x7e));  // one line of plain text
    }
  }
  MESSAGE("resealed single-byte mutations: " << rejected << " of 50 rejected, " << accepted << " harmless; "
                                             << in_index << " hit the index");
  CHECK(rejected + accepted == 50);
  CHECK(rejected >= 40);
}

TEST_CASE("zlm: corrupt — every preamble field is checked") {
  Saved s;
  save_reference(s);
  // Each byte before meta_crc, mutated and resealed, must be rejected when the data is verified
  // (data_crc is only compared against the data then).
  for (size_t pos = 0; pos < zlm_preamble::kMetaCrc; pos++) {
    CAPTURE(pos);
    Image img(s.bytes);
    img.data()[pos] ^= 0x41;
    zlm_reseal(img.data(), img.size, false);
    error_of([&] { img.load(true); });
  }
  Image v(s.bytes);
  v.data()[zlm_preamble::kVersion] = 4;
  CHECK(error_of([&] { v.load(); }).find("unsupported .zlm version 4") != std::string::npos);
}

TEST_CASE("zlm: corrupt — mutations without resealing fail the header checksum") {
  Saved s;
  save_reference(s);
  const size_t end = s.info.data_offset;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 10; i++) {
    Image img(s.bytes);
    size_t pos = kZlmPreambleBytes + size_t(rng() % (end - kZlmPreambleBytes));
    img.data()[pos] ^= uint8_t(1 + rng() % 255);
    CAPTURE(pos);
    CHECK(error_of([&] { img.load(); }).find("checksum") != std::string::npos);
  }
  // The checksum field itself.
  Image img(s.bytes);
  img.data()[zlm_preamble::kMetaCrc] ^= 1;
  CHECK(error_of([&] { img.load(); }).find("checksum") != std::string::npos);
}

TEST_CASE("zlm: corrupt — tensor data is caught by verify_data") {
  Saved s;
  save_reference(s);
  const ZlmTensorInfo* emb = nullptr;
  for (auto& t : s.info.tensors)
    if (t.name == "tok_embd") emb = &t;
  REQUIRE(emb);
  std::string bytes = s.bytes;
  bytes[size_t(s.info.data_offset + emb->offset + 5)] ^= 0x10;
  std::string path = s.dir + "/data.zlm";
  write_bytes(path, bytes);
  load_zlm(path);  // not verified: loads (the weights are just different)
  std::string err = error_of([&] { load_zlm(path, ZlmLoadOptions{true}); });
  CHECK(err.find("data checksum mismatch") != std::string::npos);
  ZlmInfo info = inspect_zlm(path, true);
  CHECK(info.data_verified);
  CHECK(!info.data_crc_ok);
}

TEST_CASE("zlm: corrupt — structural edits caught after resealing") {
  Saved s;
  save_reference(s);
  const size_t idx = kZlmPreambleBytes + s.info.header_bytes;
  auto rejects = [&](auto edit, const char* expect) {
    Image img(s.bytes);
    edit(img.data());
    zlm_reseal(img.data(), img.size, true);
    std::string err = error_of([&] { img.load(); });
    CAPTURE(err);
    CAPTURE(expect);
    CHECK(err.find(expect) != std::string::npos);
  };
  // Entry 0 is tok_embd: u16 length 8, "tok_embd", dtype, ndim 2, dims, offset, nbytes.
  const size_t e0 = idx + 4, dtype_at = e0 + 2 + 8, ndim_at = dtype_at + 1, dim0 = ndim_at + 1,
               off_at = dim0 + 16, nb_at = off_at + 8;
  rejects([&](uint8_t* d) { d[idx + 3] = 0x7f; }, "more than its");
  rejects([&](uint8_t* d) { d[e0] = 0; }, "name length 0");
  rejects([&](uint8_t* d) { d[e0 + 2] = ' '; }, "printable ASCII");
  rejects([&](uint8_t* d) { d[e0 + 2] = 'X'; }, "unexpected tensor 'Xok_embd'");
  rejects([&](uint8_t* d) { d[dtype_at] = 9; }, "unknown dtype code 9");
  rejects([&](uint8_t* d) { d[dtype_at] = uint8_t(DType::I32); }, "bytes, but shape");
  rejects([&](uint8_t* d) { d[ndim_at] = 5; }, "5 dimensions");
  rejects([&](uint8_t* d) { d[dim0 + 7] = 0x80; }, "out of range");
  rejects([&](uint8_t* d) { d[dim0] ^= 1; }, "bytes, but shape");
  rejects([&](uint8_t* d) { d[off_at] = 1; }, "not 64-byte aligned");
  rejects([&](uint8_t* d) { d[off_at] = 64; }, "overlap");
  rejects([&](uint8_t* d) { d[off_at + 6] = 1; }, "outside the");
  rejects([&](uint8_t* d) { d[nb_at + 7] = 1; }, "bytes, but shape");
  rejects([&](uint8_t* d) { std::memcpy(d + e0 + 2, "output__", 8); }, "unexpected tensor 'output__'");
  rejects(
      [&](uint8_t* d) {  // rename blk.0.attn_v to blk.0.attn_k
        std::string_view ix(reinterpret_cast<const char*>(d) + idx, s.info.index_bytes);
        size_t at = ix.find("blk.0.attn_v");
        REQUIRE(at != std::string_view::npos);
        d[idx + at + 11] = 'k';
      },
      "appears twice");
  rejects([&](uint8_t* d) { d[zlm_preamble::kDataOffset] ^= 64; }, "data offset");
  rejects([&](uint8_t* d) { d[zlm_preamble::kFlags] = 1; }, "flags");
  rejects([&](uint8_t* d) { d[kZlmPreambleBytes] = '['; }, "header");
}

TEST_CASE("zlm: corrupt — bad paths and garbage files") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  CHECK(error_of([&] { load_zlm(dir + "/missing.zlm"); }).find("missing.zlm") != std::string::npos);
  CHECK(error_of([&] { load_zlm(dir); }).find("directory") != std::string::npos);
  write_bytes(dir + "/empty.zlm", "");
  CHECK(error_of([&] { load_zlm(dir + "/empty.zlm"); }).find("too small") != std::string::npos);
  std::mt19937 rng(9);
  std::string junk(3000, '\0');
  for (auto& c : junk) c = char(rng());
  write_bytes(dir + "/junk.zlm", junk);
  CHECK(error_of([&] { load_zlm(dir + "/junk.zlm"); }).find("bad magic") != std::string::npos);
  // Garbage behind a valid magic and version.
  std::memcpy(junk.data(), zlm_preamble::kMagicBytes, 8);
  junk[8] = 1, junk[9] = junk[10] = junk[11] = 0;
  write_bytes(dir + "/junk2.zlm", junk);
  error_of([&] { load_zlm(dir + "/junk2.zlm"); });
  error_of([&] { inspect_zlm(dir + "/junk2.zlm", true); });
  error_of([&] { zlm_content_hash(dir + "/junk2.zlm"); });
  // A header nested absurdly deep is refused before it is parsed.
  Saved s;
  save_reference(s);
  std::string deep = s.bytes;
  Image img(deep);
  std::memset(img.data() + kZlmPreambleBytes, '[', s.info.header_bytes);
  zlm_reseal(img.data(), img.size, false);
  CHECK(error_of([&] { img.load(); }).find("nested deeper") != std::string::npos);
}

// Writes the fuzzing seeds (tests/fuzz/corpus) when ZIP_WRITE_FUZZ_CORPUS names a directory.
// No .zlm extension: the repository ignores *.zlm, and libFuzzer does not care about names.
TEST_CASE("zlm: write fuzz corpus seeds") {
  const char* out = std::getenv("ZIP_WRITE_FUZZ_CORPUS");
  if (!out || !*out) return;
  ModelSize tiny{4, 8, 2};
  save_zlm(make_model(1, DType::F32, false, tiny), std::string(out) + "/seed_f32_notok");
  save_zlm(make_model(2, DType::F16, true, tiny), std::string(out) + "/seed_f16_tok");
  save_zlm(make_model(3, DType::BF16, true, tiny, true), std::string(out) + "/seed_bf16_tied");
  Model flat = make_model(4, DType::F16, true, tiny);
  flat.config.layers = {uniform_layer(2, 1, 4)};
  flat.tensors.clear();
  for (auto& spec : expected_tensors(flat.config))
    flat.tensors.emplace(spec.name, Tensor::zeros(DType::F16, spec.shape));
  flat.provenance = {{"parent", "0123456789abcdef0123456789abcdef"}, {"speedups", {1.5, 2.0}}};
  save_zlm(flat, std::string(out) + "/seed_uniform");
  // Version 2: block types (and their fallbacks to f16 where a row is not whole blocks).
  Model q8 = make_model(5, DType::F32, true, ModelSize{32, 8, 8});
  quant::quantize_model(q8, quant::QuantMix::Q8_0, 1);
  save_zlm(q8, std::string(out) + "/seed_v2_q8_0");
}

TEST_CASE("zlm: non-finite weights are refused at load, named with their first index") {
  // The scan against a plain std::isfinite loop, for each float type and each kind of bad value.
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    std::vector<float> v(10000, 0.25f);
    Tensor ok = Tensor::from_floats(v, {100, 100}, dt);
    CHECK(first_non_finite(ok) == -1);
    for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
      for (size_t at : {size_t(0), size_t(4095), size_t(4096), size_t(9999)}) {
        std::vector<float> w = v;
        w[at] = bad;
        w[9999 - at / 2] = bad;  // a later one too: the first is reported
        Tensor t = Tensor::from_floats(w, {100, 100}, dt);
        std::vector<float> back = t.to_floats();
        int64_t expect = -1;
        for (size_t i = 0; i < back.size() && expect < 0; i++)
          if (!std::isfinite(back[i])) expect = int64_t(i);
        CHECK(first_non_finite(t) == expect);
        CHECK(expect == int64_t(std::min(at, 9999 - at / 2)));
      }
    }
  }
  // A model whose weight holds a NaN, written through the writer API: the checksum is valid.
  TempDir tmp;
  std::string path = tmp.path + "/nan.zlm";
  Model m = make_model(5, DType::F32);
  Tensor& w = m.tensors.at("blk.1.ffn_up");
  w.ptr<float>()[37] = std::nanf("");
  save_zlm(m, path);
  CHECK(inspect_zlm(path, true).data_crc_ok);
  std::string err = error_of([&] { load_zlm(path); });
  CHECK_HAS(err, path + ": tensor 'blk.1.ffn_up' holds a non-finite value (nan) at index 37");
  ZlmLoadOptions no_check;
  no_check.check_finite = false;
  CHECK(std::isnan(load_zlm(path, no_check).get("blk.1.ffn_up").to_floats()[37]));
  // The CLI: run and eval fail with that one line (exit 1); inspect --verify reports it.
  std::string text = tmp.path + "/t.txt";
  write_bytes(text, "a b c d e f g h\n");
  for (std::string cmd : {"run " + path + " -n 2", "eval " + path + " --ppl " + text}) {
    auto r = ztest::run_zip(cmd);
    INFO(cmd);
    CHECK(r.status == 1);
    CHECK(ztest::count_lines(r.err) == 1);
    CHECK_HAS(r.err, "'blk.1.ffn_up' holds a non-finite value (nan) at index 37");
  }
  auto plain = ztest::run_zip("inspect " + path);
  CHECK(plain.status == 0);
  CHECK_HAS(plain.out, "weights:      not verified");
  auto v = ztest::run_zip("inspect --verify " + path);
  CHECK(v.status == 1);
  CHECK_HAS(v.out, "weights:      NON-FINITE (nan in blk.1.ffn_up at index 37)");
  CHECK_HAS(v.err, "'blk.1.ffn_up' holds a non-finite value (nan) at index 37");
  save_zlm(make_model(5, DType::BF16), path);
  auto good = ztest::run_zip("inspect --verify " + path);
  CHECK(good.status == 0);
  CHECK_HAS(good.out, "weights:      all finite");
}

TEST_CASE("zlm: a writer removes the temp files that killed writers of the same output left") {
  TempDir tmp;
  std::string path = tmp.path + "/m.zlm";
  // A process that has exited: its pid is free (not reused within this test in practice).
  pid_t dead = fork();
  REQUIRE(dead >= 0);
  if (dead == 0) _exit(0);
  REQUIRE(waitpid(dead, nullptr, 0) == dead);
  pid_t alive = getppid();  // runs as long as we do
  std::string stale = path + ".tmp." + std::to_string(dead), live = path + ".tmp." + std::to_string(alive);
  std::string other = tmp.path + "/other.zlm.tmp." + std::to_string(dead), odd = path + ".tmp.12x";
  for (auto& f : {stale, live, other, odd}) write_bytes(f, "half-written");
  save_zlm(make_model(1, DType::F16), path);
  CHECK(!file_exists(stale));   // its writer is dead
  CHECK(file_exists(live));     // its writer may still be writing
  CHECK(file_exists(other));    // another output's
  CHECK(file_exists(odd));      // not a pid
  CHECK(remove_stale_temp_files(path) == 0);
  // The same through the CLI, and an empty output path is a usage error.
  write_bytes(stale, "half-written");
  auto r = ztest::run_zip("convert " + ztest::shell_quote(ztest::shared("models/stories260K/stories260K.bin")) + " -o " +
                          ztest::shell_quote(path));
  CHECK(r.status == 0);
  CHECK(!file_exists(stale));
}
