#include "compress/calibration.h"
#include "compress/host_backend.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <random>

#include "engine/backend.h"
#include "engine/checksum.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/forward.h"
#include "base/thread_pool.h"
#include "kernels/cpu/cpu_kernels.h"

namespace zip {

namespace fs = std::filesystem;

std::vector<std::string> calibration_files(const std::vector<std::string>& paths) {
  ZIP_CHECK(!paths.empty(), "no calibration text given (--calib FILE_OR_DIR)");
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      size_t before = out.size();
      for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".txt") out.push_back(e.path().string());
      ZIP_CHECK(!ec, "{}: {}", p, ec.message());
      ZIP_CHECK(out.size() > before, "{}: no *.txt files in this directory", p);
    } else {
      require_regular_file(p);
      out.push_back(p);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

constexpr size_t kMinSentenceTokens = 8;  // with [CLS] and [SEP]

// Where a sentence ends: after . ! or ? (and any closing quote or bracket) before white space, or
// at a blank line.
size_t sentence_end(const std::string& text, size_t i, size_t end) {
  for (; i < end; i++) {
    char c = text[i];
    if (c == '\n' && i + 1 < end && text[i + 1] == '\n') return i;
    if (c != '.' && c != '!' && c != '?') continue;
    size_t j = i + 1;
    while (j < end && (text[j] == '"' || text[j] == '\'' || text[j] == ')' || text[j] == ']')) j++;
    if (j < end && (text[j] == ' ' || text[j] == '\n')) return j;
  }
  return end;
}

// The sentences that start in text[begin, end): the first one that starts there (after the end of
// the sentence `begin` falls in), extended by the next while under kMinSentenceTokens tokens;
// tokenized with [CLS] and [SEP]. Empty when no sentence starts in the range.
std::vector<int> sentence_window(const Tokenizer& tok, const std::string& text, size_t begin, size_t end) {
  size_t s = sentence_end(text, begin, end);
  while (s < end && std::isspace(static_cast<unsigned char>(text[s]))) s++;
  std::vector<int> ids;
  if (s >= end) return ids;
  size_t e = s;
  std::string sentence;
  // A sentence may run past the slot: read on to the end of the text, a few hundred bytes at most.
  const size_t limit = std::min(text.size(), end + 2048);
  while (ids.size() < kMinSentenceTokens && e < limit) {
    e = sentence_end(text, e + 1, limit);
    sentence.assign(text, s, e - s);
    std::replace(sentence.begin(), sentence.end(), '\n', ' ');
    ids = tok.encode(sentence, true);
  }
  return ids;
}

// The calibration files' text, concatenated (a blank line after each), with which folder each
// byte comes from.
struct CalibText {
  std::string text;
  uint32_t crc = 0;
  std::vector<size_t> file_end;  // byte after each file's text in `text`
  std::vector<int> file_folder;  // index into folders
  std::vector<std::string> folders;
  int folder_of(size_t byte) const {
    return file_folder[size_t(std::upper_bound(file_end.begin(), file_end.end(), byte) - file_end.begin())];
  }
};

CalibText read_calibration_text(const std::vector<std::string>& files) {
  CalibText c;
  for (const std::string& f : files) {
    std::string t = read_file(f);
    c.crc = crc32c(t.data(), t.size(), c.crc);
    c.text += t;
    c.text += "\n\n";
    c.file_end.push_back(c.text.size());
    const std::string dir = fs::path(f).parent_path().string();
    auto it = std::find(c.folders.begin(), c.folders.end(), dir);
    c.file_folder.push_back(int(it - c.folders.begin()));
    if (it == c.folders.end()) c.folders.push_back(dir);
  }
  return c;
}

// The window of the slot text[begin, end) into `ids`: its sentences (opt.sentences), else its
// tokens from the first word boundary. False when the slot cannot fill a window (no sentence
// starts in it; fewer than opt.len tokens, e.g. a slot of blank lines).
bool slot_window(const Tokenizer& tok, const std::string& text, size_t begin, size_t end, const CalibOptions& opt,
                 std::vector<int>& ids) {
  if (opt.sentences) {
    ids = sentence_window(tok, text, begin, end);
    return ids.size() >= kMinSentenceTokens;
  }
  while (begin < end && text[begin] != ' ' && text[begin] != '\n') begin++;  // start at a word
  ids = tok.encode(std::string_view(text).substr(begin, end - begin), true);
  return int(ids.size()) >= opt.len;
}

// Cuts a window to `len` tokens; an encoder's keeps its closing [SEP].
void cut_window(std::vector<int>& ids, size_t len, bool encoder) {
  len = std::min(ids.size(), len);
  if (encoder) {
    int last = ids.back();  // [SEP]
    ids.resize(len);
    ids.back() = last;
  } else {
    ids.resize(len);
  }
}

}  // namespace

bool sentence_windows_by_default(const ModelConfig& c) { return !c.info().causal && !c.pooling.empty(); }

int default_window_len(bool sentences) { return sentences ? 64 : 256; }

int expected_window_tokens(int len, bool sentences) { return std::max(1, sentences ? len / 2 : len); }

CalibSet sample_calibration(const Model& m, const std::vector<std::string>& files, const CalibOptions& opt) {
  ZIP_CHECK(m.tokenizer, "the model has no tokenizer: calibration needs one to read text");
  ZIP_CHECK(opt.samples > 0 && opt.heldout > 0, "calibration needs at least one window and one held-out window");
  ZIP_CHECK(opt.len >= 8 && opt.len <= m.config.max_seq_len, "--calib-len {} must be in [8, {}] (the model's context)",
            opt.len, m.config.max_seq_len);
  CalibSet set;
  set.files = files;
  const CalibText ct = read_calibration_text(files);
  const std::string& text = ct.text;
  const uint32_t crc = ct.crc;
  const std::vector<std::string>& folders = ct.folders;
  set.text_bytes = text.size();
  set.key = fmt::format("{:08x}{:08x}-n{}-l{}-h{}-s{}{}", crc, uint32_t(text.size()), opt.samples, opt.len, opt.heldout,
                        opt.seed, opt.sentences ? "-sent" : "");

  // Non-overlapping byte slots, shuffled by the seed; each window is the first tokens of its slot
  // (from a word boundary). Slots are generous (10 bytes per token) so one slot fills a window.
  const int search_len = opt.search_len > 0 ? opt.search_len : opt.len;
  ZIP_CHECK(opt.search == 0 || (search_len >= 8 && search_len <= opt.len),
            "search window length {} must be in [8, --calib-len {}]", search_len, opt.len);
  const int n_windows = opt.samples + opt.heldout + opt.search;
  const size_t slot = size_t(opt.len) * 10;
  const size_t n_slots = text.size() / slot;
  ZIP_CHECK(n_slots >= size_t(n_windows),
            "calibration text too short: {} bytes hold {} windows of {} tokens, {} asked (--calib-samples + held-out + search)",
            text.size(), n_slots, opt.len, n_windows);
  std::vector<size_t> order(n_slots);
  for (size_t i = 0; i < n_slots; i++) order[i] = i;
  std::mt19937_64 rng(opt.seed);
  for (size_t i = n_slots - 1; i > 0; i--) std::swap(order[i], order[rng() % (i + 1)]);

  Tokenizer tok(m.tokenizer);
  const bool encoder = !m.config.info().causal;
  ZIP_CHECK(encoder || !opt.sentences, "sentence windows (--calib-sentences) are for encoders; this model is a decoder");
  const bool by_folder = opt.search > 0 && opt.search_by_folder;
  if (by_folder) set.search_folders = folders;
  // Train and held-out windows take the shuffled slots in turn; search windows by folder scan the
  // rest of the order once per folder (a slot belongs to the folder its first byte is in).
  size_t next = 0;
  std::vector<size_t> folder_next(folders.size(), 0);
  for (int w = 0; w < n_windows; w++) {
    const bool search = w >= opt.samples + opt.heldout;
    const int folder = by_folder && search ? (w - opt.samples - opt.heldout) % int(folders.size()) : -1;
    size_t& cursor = folder < 0 ? next : folder_next[size_t(folder)];
    if (folder >= 0) cursor = std::max(cursor, next);
    std::vector<int> ids;
    while (true) {
      if (folder >= 0)
        while (cursor < n_slots && ct.folder_of(order[cursor] * slot) != folder) cursor++;
      ZIP_CHECK(cursor < n_slots, "calibration text too short: not enough slots with {} tokens{}", opt.len,
                folder >= 0 ? fmt::format(" in {}", folders[size_t(folder)]) : std::string());
      const size_t begin = order[cursor++] * slot;
      if (slot_window(tok, text, begin, begin + slot, opt, ids)) break;
    }
    cut_window(ids, size_t(search ? search_len : opt.len), encoder);
    (w < opt.samples ? set.train : search ? set.search : set.heldout).push_back(std::move(ids));
  }
  return set;
}

namespace {

// Accumulates XᵀX of the observed W_O and W_2 inputs. The product of one call's rows is taken in
// f32 on the SIMD matmul (a few hundred terms per entry) and summed in f64 across calls; only the
// upper triangle is computed (in row panels), the lower one is mirrored at the end.
class StatsObserver : public ForwardObserver {
 public:
  StatsObserver(const Model& m, std::vector<LayerStats>& stats, ThreadPool& pool) : m_(m), stats_(stats), pool_(pool) {}
  bool heldout = false;

  void on_linear_input(int layer, LinearKind kind, const float* x, int rows, int cols) override {
    if (layer < 0 || (kind != LinearKind::O && kind != LinearKind::Down)) return;
    LayerStats& s = stats_[size_t(layer)];
    bool attn = kind == LinearKind::O;
    std::vector<double>& acc = attn ? (heldout ? s.g_attn : s.h_attn) : (heldout ? s.g_ffn : s.h_ffn);
    ZIP_CHECK(cols == (attn ? s.attn_cols : s.ffn_cols), "layer {}: unexpected input width {}", layer, cols);
    accumulate(acc, x, rows, cols);
    if (!heldout) return;
    // Token-normalised Gram: each row scaled by 1/‖Wx‖ of the dense module's output.
    const Tensor& w = m_.get(layer_tensor(layer, attn ? "attn_output" : "ffn_down"));
    const int out = int(w.shape[0]);
    y_.resize(size_t(rows) * size_t(out));
    cpu::matmul(pool_, y_.data(), x, w, nullptr, rows);
    xs_.assign(x, x + size_t(rows) * size_t(cols));
    for (int r = 0; r < rows; r++) {
      double n2 = 0;
      for (int o = 0; o < out; o++) n2 += double(y_[size_t(r) * size_t(out) + size_t(o)]) * y_[size_t(r) * size_t(out) + size_t(o)];
      float scale = n2 > 1e-30 ? float(1.0 / std::sqrt(n2)) : 0.0f;
      for (int c = 0; c < cols; c++) xs_[size_t(r) * size_t(cols) + size_t(c)] *= scale;
    }
    accumulate(attn ? s.gt_attn : s.gt_ffn, xs_.data(), rows, cols);
  }

  static void mirror(std::vector<double>& a, int n) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < i; j++) a[size_t(i) * size_t(n) + size_t(j)] = a[size_t(j) * size_t(n) + size_t(i)];
  }

 private:
  void accumulate(std::vector<double>& acc, const float* x, int rows, int cols) {
    xt_.resize(size_t(rows) * size_t(cols));
    for (int r = 0; r < rows; r++)
      for (int c = 0; c < cols; c++) xt_[size_t(c) * size_t(rows) + size_t(r)] = x[size_t(r) * size_t(cols) + size_t(c)];
    const int panels = std::min(8, cols);
    for (int p = 0; p < panels; p++) {
      int a = int(int64_t(cols) * p / panels), b = int(int64_t(cols) * (p + 1) / panels);
      if (a == b) continue;
      int width = cols - a;
      y_.resize(size_t(b - a) * size_t(width));
      Tensor w = Tensor::view(DType::F32, {width, rows}, xt_.data() + size_t(a) * size_t(rows), nullptr);
      cpu::matmul(pool_, y_.data(), xt_.data() + size_t(a) * size_t(rows), w, nullptr, b - a);
      for (int i = a; i < b; i++) {
        double* dst = acc.data() + size_t(i) * size_t(cols) + size_t(a);
        const float* src = y_.data() + size_t(i - a) * size_t(width);
        for (int j = 0; j < width; j++) dst[j] += src[j];
      }
    }
  }

  const Model& m_;
  std::vector<LayerStats>& stats_;
  ThreadPool& pool_;
  std::vector<float> xt_, y_, xs_;
};

}  // namespace

std::vector<LayerStats> collect_layer_stats(const Model& m, const CalibSet& calib, int threads,
                                            const std::function<void(int, int)>& progress) {
  const ModelConfig& c = m.config;
  std::vector<LayerStats> stats(size_t(c.n_layers()));
  for (int l = 0; l < c.n_layers(); l++) {
    LayerStats& s = stats[size_t(l)];
    const LayerShape& sh = c.layers[size_t(l)];
    s.attn_cols = sh.n_heads() * c.head_dim;
    s.ffn_cols = sh.ffn_dim;
    for (auto* v : {&s.h_attn, &s.g_attn, &s.gt_attn}) v->assign(size_t(s.attn_cols) * size_t(s.attn_cols), 0.0);
    for (auto* v : {&s.h_ffn, &s.g_ffn, &s.gt_ffn}) v->assign(size_t(s.ffn_cols) * size_t(s.ffn_cols), 0.0);
  }
  ZIP_CHECK(!calib.train.empty() && !calib.heldout.empty(), "calibration set is empty");
  int len = 0;
  for (const auto* set : {&calib.train, &calib.heldout})
    for (const auto& w : *set) len = std::max(len, int(w.size()));

  auto backend = make_host_backend(threads);
  ThreadPool pool(threads);
  StatsObserver obs(m, stats, pool);
  InferenceContext ctx(m, *backend, len, len);
  ctx.set_observer(&obs);
  const bool encoder = !c.info().causal;
  int done = 0, total = int(calib.train.size() + calib.heldout.size());
  int64_t train_tokens = 0;
  for (int pass = 0; pass < 2; pass++) {
    obs.heldout = pass == 1;
    for (const auto& w : pass == 0 ? calib.train : calib.heldout) {
      if (encoder) {
        ctx.encode(w.data(), nullptr, int(w.size()));
      } else {
        ctx.reset();
        ctx.eval(w);
      }
      if (pass == 0) train_tokens += int64_t(w.size());
      if (progress) progress(++done, total);
    }
  }
  const double scale = 2.0 / double(train_tokens);
  for (LayerStats& s : stats) {
    for (auto* v : {&s.h_attn, &s.h_ffn})
      for (double& x : *v) x *= scale;
    StatsObserver::mirror(s.h_attn, s.attn_cols);
    StatsObserver::mirror(s.g_attn, s.attn_cols);
    StatsObserver::mirror(s.h_ffn, s.ffn_cols);
    StatsObserver::mirror(s.g_ffn, s.ffn_cols);
    StatsObserver::mirror(s.gt_attn, s.attn_cols);
    StatsObserver::mirror(s.gt_ffn, s.ffn_cols);
  }
  return stats;
}

}  // namespace zip
