#include "engine/eval/similarity.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "engine/encoder.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/progress.h"

namespace zip {

static std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return out;
    start = tab + 1;
  }
}

std::vector<SentencePair> load_sentence_pairs(const std::string& path) {
  std::string text = read_file(path);
  std::istringstream in(text);
  std::string line;
  ZIP_CHECK(std::getline(in, line), "{}: empty file", path);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto header = split_tabs(line);
  auto col = [&](const char* name) {
    auto it = std::find(header.begin(), header.end(), name);
    ZIP_CHECK(it != header.end(), "{}: the header has no '{}' column", path, name);
    return size_t(it - header.begin());
  };
  size_t ca = col("sentence1"), cb = col("sentence2"), cs = col("score");
  std::vector<SentencePair> pairs;
  for (int lineno = 2; std::getline(in, line); lineno++) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto f = split_tabs(line);
    ZIP_CHECK(f.size() == header.size(), "{}:{}: expected {} tab-separated fields, got {}", path, lineno, header.size(),
              f.size());
    char* end = nullptr;
    double score = std::strtod(f[cs].c_str(), &end);
    ZIP_CHECK(!f[cs].empty() && *end == '\0' && std::isfinite(score), "{}:{}: bad score '{}'", path, lineno, f[cs]);
    pairs.push_back({f[ca], f[cb], score});
  }
  ZIP_CHECK(!pairs.empty(), "{}: no sentence pairs", path);
  return pairs;
}

static std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) j++;
    double avg = (double(i) + double(j)) / 2.0 + 1.0;  // ties share the mean rank
    for (size_t k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  ZIP_CHECK(x.size() == y.size() && x.size() >= 2, "pearson: need two equal series of at least 2 values");
  double n = double(x.size()), mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); i++) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) { return pearson(ranks(x), ranks(y)); }

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); i++) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

std::vector<float> embed_sentence(InferenceContext& ctx, const Tokenizer& tok, const std::string& text) {
  std::vector<int> ids = tok.encode(text, true);
  ZIP_CHECK(!ids.empty(), "empty tokenization");
  if (int(ids.size()) > ctx.ctx_len()) {
    int last = ids.back();  // keep the closing [SEP]
    ids.resize(size_t(ctx.ctx_len()));
    ids.back() = last;
  }
  return run_encoder(ctx, ids, {}).embedding;
}

SimilarityResult eval_similarity(InferenceContext& ctx, const Tokenizer& tok, const std::vector<SentencePair>& pairs) {
  std::vector<double> sims, gold;
  Progress progress("stsb", int64_t(pairs.size()));
  for (size_t i = 0; i < pairs.size(); i++) {
    sims.push_back(cosine(embed_sentence(ctx, tok, pairs[i].a), embed_sentence(ctx, tok, pairs[i].b)));
    gold.push_back(pairs[i].score);
    progress.update(int64_t(i + 1));
  }
  progress.finish();
  SimilarityResult r;
  r.pairs = int(pairs.size());
  r.spearman = spearman(sims, gold);
  r.pearson = pearson(sims, gold);
  return r;
}

}  // namespace zip
