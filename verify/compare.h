#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace infermark {

// How far a framework's outputs are from the reference's, the one measure check, accuracy and
// the conformance suite share.
struct OutputDifference {
  bool same_shape = true;
  std::string shape_note;     // when not: "output shape [2, 10] differs from the reference's ..."
  double max_abs = 0;         // max |out - ref|; infinity where an output is NaN or infinite and
                              // the reference's is not (a NaN never looks close)
  double max_rel = 0;         // max_abs / max |ref| (max_abs when the reference is all zero)
  int64_t non_finite = 0;     // outputs that are NaN or infinite where the reference's are finite
  double top1_agreement = 0;  // share of rows whose largest output is the reference's
};

OutputDifference compare_outputs(const Tensor& out, const Tensor& ref);

// Indices of the k largest values of row `row` of a [N, classes] tensor, largest first.
std::vector<int64_t> top_k(const Tensor& t, int64_t row, int k);

}  // namespace infermark
