// Calibration for structured pruning: token windows sampled deterministically from text, and
// one pass of the dense model that accumulates, for the input of every attention output
// projection W_O and FFN down projection W_2, the Hessian H = 2XXᵀ/N over the calibration
// windows and the raw Gram G = Σxxᵀ over held-out windows (f64; docs/METHODS.md). H drives the OBS
// ranking and update, G measures each level's output error without storing activations.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/model.h"

namespace zip {

struct CalibOptions {
  int samples = 128;  // windows for the Hessians
  int len = 256;      // tokens per window
  int heldout = 16;   // further windows for errors (and the search loss when search = 0)
  uint64_t seed = 1;
  // Separate search windows: `search` more windows of `search_len` tokens, each from a further
  // slot of the text (many short windows from many places judge a candidate better than a few
  // long ones). They enter no database, so they are not part of the key.
  int search = 0;
  int search_len = 0;  // 0: len
  // Search windows taken in turn from each folder of the calibration files (a folder's windows
  // from its own files), so that every kind of text counts alike in the search loss whatever its
  // size — a hedge for deployments whose text is like none of them in particular.
  bool search_by_folder = false;
  // Encoders: each window whole sentences, [CLS] sentence [SEP] (more sentences while under 8
  // tokens, cut at len), the inputs a sentence-embedding model is used on, instead of len tokens
  // from anywhere in a sentence. Windows then vary in length.
  bool sentences = false;
};

// Whole-sentence windows are the default for encoders that pool their outputs into a sentence
// embedding (they are only ever given sentences); token windows for everything else.
bool sentence_windows_by_default(const ModelConfig& c);
// The window length when none is asked: 64 tokens for sentence windows (a cap; most sentences
// are shorter), 256 otherwise.
int default_window_len(bool sentences);
// Tokens a window holds on average, to turn token budgets into window counts: len, or len / 2
// for sentence windows (31.5–32.5 tokens on average at len 64 on the shared prose).
int expected_window_tokens(int len, bool sentences);

struct CalibSet {
  std::vector<std::vector<int>> train, heldout, search;  // token windows
  std::vector<std::string> files;
  std::vector<std::string> search_folders;  // with search_by_folder: search window i is from folder i mod size
  uint64_t text_bytes = 0;
  std::string key;  // hash of files' contents and options: what the database is keyed by
};

// Files named on the command line, directories walked (recursively) for *.txt; sorted, unique.
// Throws a one-line error when a path is missing or nothing is found.
std::vector<std::string> calibration_files(const std::vector<std::string>& paths);

// Windows of opt.len tokens starting at distinct, non-overlapping random places of the text
// (encoders: [CLS] ... [SEP] windows, or whole sentences with opt.sentences; decoders: BOS first
// when the vocabulary uses one).
// Deterministic for (files, opt). Throws if the text is too short for the windows asked.
CalibSet sample_calibration(const Model& m, const std::vector<std::string>& files, const CalibOptions& opt);

// Statistics of one layer's two pruned inputs (empty vectors where the module is absent).
struct LayerStats {
  int attn_cols = 0, ffn_cols = 0;
  std::vector<double> h_attn, h_ffn;    // 2XXᵀ/N over the calibration windows
  std::vector<double> g_attn, g_ffn;    // Σxxᵀ over the held-out windows
  // Σ x̃x̃ᵀ with x̃ = x/‖Wx‖ (W the module's dense output projection): with it, tr(ΔW G̃ ΔWᵀ)/tr(W G̃ Wᵀ)
  // is the mean over tokens of each token's relative error, which a few tokens with massive
  // activations cannot dominate (docs/COMPRESS.md).
  std::vector<double> gt_attn, gt_ffn;
};

// One pass of the dense model over train then held-out windows. progress(done, total) per window.
std::vector<LayerStats> collect_layer_stats(const Model& m, const CalibSet& calib, int threads,
                                            const std::function<void(int, int)>& progress = {});

}  // namespace zip
