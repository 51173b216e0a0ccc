// Non-finite weights (NaN, ±inf) caught at load time: a file with a valid checksum can still
// hold them (a diverged training run, a bad conversion), and they would otherwise make `run`
// print nothing and `eval` print "perplexity nan". The scan tests the exponent bits only, in
// blocks the compiler vectorises (a max reduction), and reads every weight once (docs/FORMAT.md: cost).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "engine/model.h"

namespace zip {

// Index (row-major, flat) of the first NaN or ±inf in a CPU tensor of a float type, or -1 when
// all are finite or the type is not a float type.
int64_t first_non_finite(const Tensor& t);

struct NonFiniteValue {
  std::string tensor;  // its name
  int64_t index;       // flat index of the first bad element
  std::string what;    // "nan", "inf" or "-inf"
};
// The first non-finite weight of the model (tensors in name order), if any.
std::optional<NonFiniteValue> find_non_finite(const Model& m);
// Throws a one-line zip::Error naming the tensor and the index of the first bad value.
void require_finite_weights(const Model& m);

}  // namespace zip
