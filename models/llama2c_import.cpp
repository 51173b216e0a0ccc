// llama2.c legacy v0 checkpoints: 7 int32 header fields, then float32 tensors in a fixed order
// (see import_llama2c below). The layout already matches the engine's (rows = output features,
// RoPE on adjacent pairs, query heads grouped by KV head), so tensors are zero-copy views.
#include <cstdio>
#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/import.h"

namespace zip {

namespace {

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len;
};
constexpr uint64_t kHeaderBytes = 7 * 4;
// llama2.c's versioned exports (v1 f32, v2 int8) start with this uint32 magic ("ak42").
constexpr uint32_t kVersionedMagic = 0x616b3432;

// Running element count with overflow detection (a hostile header must not wrap the size check).
struct Counter {
  uint64_t n = 0;
  bool overflow = false;
  void add(std::initializer_list<uint64_t> factors) {
    uint64_t p = 1;
    for (uint64_t f : factors) overflow |= __builtin_mul_overflow(p, f, &p);
    overflow |= __builtin_add_overflow(n, p, &n);
  }
};

std::string header_str(const Header& h) {
  return fmt::format("dim={} hidden_dim={} n_layers={} n_heads={} n_kv_heads={} vocab_size={} max_seq_len={}", h.dim,
                     h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.max_seq_len);
}

void check_header(const std::string& path, const Header& h) {
  auto bad = [&](const char* why) {
    fail("{}: not a valid llama2.c checkpoint: {} (header: {})", path, why, header_str(h));
  };
  if (h.dim <= 0 || h.dim > (1 << 16)) bad("dim out of range 1..65536");
  if (h.hidden_dim <= 0 || h.hidden_dim > (1 << 20)) bad("hidden_dim out of range");
  if (h.n_layers <= 0 || h.n_layers > 4096) bad("n_layers out of range 1..4096");
  if (h.n_heads <= 0 || h.n_heads > 4096) bad("n_heads out of range 1..4096");
  if (h.n_kv_heads <= 0 || h.n_kv_heads > h.n_heads) bad("n_kv_heads must be in 1..n_heads");
  if (h.n_heads % h.n_kv_heads != 0) bad("n_heads is not a multiple of n_kv_heads");
  if (h.dim % h.n_heads != 0) bad("n_heads does not divide dim");
  if ((h.dim / h.n_heads) % 2 != 0) bad("head_dim (dim / n_heads) must be even for RoPE");
  if (h.vocab_size == 0 || h.vocab_size < -(1 << 22) || h.vocab_size > (1 << 22)) bad("vocab_size out of range");
  if (h.max_seq_len <= 0 || h.max_seq_len > (1 << 22)) bad("max_seq_len out of range");
}

// Looks beside the checkpoint for its tokenizer: llama2.c names custom vocabularies
// tok<vocab>.bin (stories260K ships tok512.bin), the default one tokenizer.bin.
// A candidate with more pieces than the model's vocabulary belongs to another model: skipped.
std::shared_ptr<const TokenizerData> find_tokenizer(const std::string& path, int vocab) {
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = path.substr(0, slash == 0 ? 1 : slash);
  const std::string candidates[] = {fmt::format("tok{}.bin", vocab), "tokenizer.bin", "tokenizer.model"};
  for (const std::string& name : candidates) {
    std::string p = dir + "/" + name;
    if (!file_exists(p)) continue;
    TokenizerData t = name.ends_with(".model") ? load_sentencepiece_model(p) : load_llama2c_tokenizer(p);
    if (int(t.pieces.size()) > vocab) {
      std::fprintf(stderr, "warning: %s has %zu pieces, more than the model's vocabulary %d: not used\n", p.c_str(),
                   t.pieces.size(), vocab);
      continue;
    }
    return std::make_shared<const TokenizerData>(std::move(t));
  }
  std::fprintf(stderr,
               "warning: no tokenizer found beside %s (looked for %s, tokenizer.bin, tokenizer.model); importing "
               "without one (pass --tokenizer FILE)\n",
               path.c_str(), candidates[0].c_str());
  return nullptr;
}

}  // namespace

Model import_llama2c(const std::string& path, const ImportOptions& opt) {
  auto file = MappedFile::open(path);
  const uint64_t size = file->size();
  ZIP_CHECK(size >= kHeaderBytes, "{}: not a llama2.c checkpoint ({} bytes, shorter than its 28-byte header)", path,
            size);
  uint32_t magic;
  std::memcpy(&magic, file->data(), 4);
  if (magic == kVersionedMagic) {
    int32_t version;
    std::memcpy(&version, file->data() + 4, 4);
    fail("{}: llama2.c export version {} is not supported; export with --version 0 (legacy)", path, version);
  }
  Header h;
  std::memcpy(&h, file->data(), kHeaderBytes);
  check_header(path, h);

  const bool tied = h.vocab_size > 0;  // llama2.c writes a negative vocab for an untied classifier
  const uint64_t dim = uint64_t(h.dim), hid = uint64_t(h.hidden_dim), L = uint64_t(h.n_layers);
  const uint64_t vocab = uint64_t(tied ? h.vocab_size : -int64_t(h.vocab_size));
  const uint64_t hd = dim / uint64_t(h.n_heads), kv_dim = uint64_t(h.n_kv_heads) * hd, seq = uint64_t(h.max_seq_len);

  // Exact file size implied by the header, computed before any tensor is read.
  Counter c;
  c.add({vocab, dim});                     // token embedding
  c.add({L, dim});                         // rms_att
  c.add({L, dim, dim});                    // wq
  c.add({2, L, kv_dim, dim});              // wk, wv
  c.add({L, dim, dim});                    // wo
  c.add({L, dim});                         // rms_ffn
  c.add({3, L, hid, dim});                 // w1, w2, w3
  c.add({dim});                            // rms_final
  c.add({seq, hd});                        // freq_cis_real + freq_cis_imag (seq × hd/2 each)
  if (!tied) c.add({vocab, dim});          // wcls
  uint64_t expect = 0;
  bool overflow = c.overflow || __builtin_mul_overflow(c.n, uint64_t(4), &expect) ||
                  __builtin_add_overflow(expect, kHeaderBytes, &expect);
  ZIP_CHECK(!overflow && size == expect,
            "{}: llama2.c checkpoint is {} bytes but its header ({}) implies {} bytes ({})", path, size,
            header_str(h), overflow ? std::string("overflow") : std::to_string(expect),
            size < expect ? "truncated?" : "not a legacy v0 llama2.c file?");

  Model m;
  ModelConfig& cfg = m.config;
  cfg.arch = Arch::Llama;
  cfg.dim = h.dim;
  cfg.vocab_size = int(vocab);
  cfg.max_seq_len = h.max_seq_len;
  cfg.head_dim = int(hd);
  cfg.norm_eps = 1e-5f;
  cfg.rope_theta = 10000.0f;
  cfg.tied_embeddings = tied;
  cfg.layers.assign(size_t(L), uniform_layer(h.n_heads, h.n_kv_heads, h.hidden_dim));

  // Sequential views into the mapping; the size check above guarantees every one is in bounds.
  const float* p = reinterpret_cast<const float*>(file->data() + kHeaderBytes);
  auto take = [&](std::vector<int64_t> shape) {
    Tensor t = Tensor::view(DType::F32, shape, p, file);
    p += shape_numel(shape);
    return t;
  };
  auto per_layer = [&](const char* what, std::vector<int64_t> shape) {
    for (uint64_t l = 0; l < L; l++) m.tensors[layer_tensor(int(l), what)] = take(shape);
  };
  const int64_t D = int64_t(dim), H = int64_t(hid), KV = int64_t(kv_dim), V = int64_t(vocab);
  m.tensors["tok_embd"] = take({V, D});
  per_layer("attn_norm", {D});
  per_layer("attn_q", {D, D});
  per_layer("attn_k", {KV, D});
  per_layer("attn_v", {KV, D});
  per_layer("attn_output", {D, D});
  per_layer("ffn_norm", {D});
  per_layer("ffn_gate", {H, D});  // w1
  per_layer("ffn_down", {D, H});  // w2
  per_layer("ffn_up", {H, D});    // w3
  m.tensors["output_norm"] = take({D});
  p += seq * hd;  // legacy RoPE tables: recomputed by the engine
  if (!tied) m.tensors["output"] = take({V, D});

  if (!opt.tokenizer_path.empty()) {
    auto t = given_tokenizer(opt);
    ZIP_CHECK(int64_t(t->pieces.size()) <= V, "tokenizer {} has {} pieces, more than the model's vocabulary {}",
              opt.tokenizer_path, t->pieces.size(), V);
    m.tokenizer = std::move(t);
  } else {
    m.tokenizer = find_tokenizer(path, int(vocab));
  }

  m.provenance = {{"source", path}, {"source_format", "llama2.c legacy v0"}, {"source_dtype", "f32"},
                  {"importer", "llama2c"}};
  return m;
}

}  // namespace zip
