#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/statistics.h"  // mean, percentile...: for the files that include this one

namespace infermark {

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
