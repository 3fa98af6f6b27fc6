#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/result.h"

namespace infermark {

// Small named statistics, each a pure function (unit-tested against known values).
double mean(const std::vector<double>& x);
double sample_stddev(const std::vector<double>& x);  // n - 1 in the denominator; 0 for n < 2
// Linear interpolation between order statistics (numpy's default, "linear"); q in [0, 1].
// `sorted` must be sorted ascending and non-empty.
double percentile(const std::vector<double>& sorted, double q);
// Two-sided Student t quantile for a 95% interval with `dof` degrees of freedom.
double t_quantile_95(int64_t dof);

// Raw samples (one per timed iteration, e.g. milliseconds) summarized, with the summary's
// own validity: a cell is unstable when its coefficient of variation exceeds the threshold,
// and the warning says what to do.
struct Summary {
  int64_t count = 0;
  double mean = 0, median = 0, stddev = 0, min = 0, max = 0;
  double p50 = 0, p90 = 0, p95 = 0, p99 = 0, p999 = 0;
  double cv = 0;                       // stddev / mean
  double ci95_low = 0, ci95_high = 0;  // of the mean
  bool stable = true;
  std::string warning;  // empty when stable
};

Summary summarize(std::vector<double> samples, double cv_threshold = kDefaultCvThreshold);
nlohmann::json to_json(const Summary& s);

}  // namespace infermark
