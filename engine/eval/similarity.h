// Semantic similarity evaluation (STS-B): Spearman correlation between the cosine similarity of
// each pair's sentence embeddings and the gold score, as sentence-transformers reports it.
#pragma once
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

struct SentencePair {
  std::string a, b;
  double score;
};

// A GLUE STS-B style TSV: a header naming the columns sentence1, sentence2 and score.
std::vector<SentencePair> load_sentence_pairs(const std::string& path);

// Ranks with ties averaged (1-based), then the Pearson correlation of the ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double cosine(const std::vector<float>& a, const std::vector<float>& b);

// The sentence embedding of `text` (config.pooling; truncated to the context, keeping [SEP]).
std::vector<float> embed_sentence(InferenceContext& ctx, const Tokenizer& tok, const std::string& text);

struct SimilarityResult {
  int pairs = 0;
  double spearman = 0, pearson = 0;
};
SimilarityResult eval_similarity(InferenceContext& ctx, const Tokenizer& tok, const std::vector<SentencePair>& pairs);

}  // namespace zip
