#include "verify/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace infermark {

OutputDifference compare_outputs(const Tensor& out, const Tensor& ref) {
  OutputDifference d;
  if (out.shape != ref.shape || ref.shape.empty()) {
    d.same_shape = false;
    d.shape_note = "output shape " + shape_string(out.shape) + " differs from the reference's " +
                   shape_string(ref.shape);
    d.max_abs = d.max_rel = std::numeric_limits<double>::infinity();
    return d;
  }
  double ref_max = 0;
  for (float v : ref.data)
    if (std::isfinite(v)) ref_max = std::max(ref_max, double(std::fabs(v)));
  for (size_t i = 0; i < out.data.size(); ++i) {
    const double o = out.data[i], r = ref.data[i];
    if (!std::isfinite(o) || !std::isfinite(r)) {
      // The same non-finite value on both sides agrees; anything else is as far as can be.
      const bool same = (std::isnan(o) && std::isnan(r)) || o == r;
      if (!same) {
        d.non_finite += std::isfinite(r) ? 1 : 0;
        d.max_abs = std::numeric_limits<double>::infinity();
      }
      continue;
    }
    d.max_abs = std::max(d.max_abs, std::fabs(o - r));
  }
  d.max_rel = ref_max > 0 ? d.max_abs / ref_max : d.max_abs;
  const int64_t n = ref.shape[0];
  int64_t agree = 0;
  for (int64_t i = 0; i < n; ++i) agree += top_k(out, i, 1)[0] == top_k(ref, i, 1)[0];
  d.top1_agreement = n > 0 ? static_cast<double>(agree) / static_cast<double>(n) : 0;
  return d;
}

std::vector<int64_t> top_k(const Tensor& t, int64_t row, int k) {
  const int64_t classes = t.shape.back();
  const float* p = t.data.data() + row * classes;
  std::vector<int64_t> idx(classes);
  std::iota(idx.begin(), idx.end(), 0);
  k = static_cast<int>(std::min<int64_t>(k, classes));
  // NaN sorts last; equal values by index, so that top-1 is the first of top-5 whatever k.
  const auto larger = [p](int64_t a, int64_t b) {
    if (std::isnan(p[a]) || std::isnan(p[b]))
      return !std::isnan(p[a]) || (std::isnan(p[b]) && a < b);
    return p[a] > p[b] || (p[a] == p[b] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), larger);
  idx.resize(k);
  return idx;
}

}  // namespace infermark
