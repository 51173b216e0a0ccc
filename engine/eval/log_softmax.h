// Log-softmax of one row of logits in double precision: the log-sum-exp, and optionally every
// log-probability. Shared by perplexity/KL evaluation and the pruning search's held-out loss.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace zip {

// Returns lse = log Σ exp(row[v]); fills logp[v] = row[v] − lse when logp is given.
inline double log_softmax(const float* row, int V, std::vector<double>* logp) {
  double mx = row[0];
  for (int v = 1; v < V; v++) mx = std::max(mx, double(row[v]));
  double sum = 0;
  for (int v = 0; v < V; v++) sum += std::exp(double(row[v]) - mx);
  double lse = mx + std::log(sum);
  if (logp) {
    logp->resize(size_t(V));
    for (int v = 0; v < V; v++) (*logp)[size_t(v)] = double(row[v]) - lse;
  }
  return lse;
}

}  // namespace zip
