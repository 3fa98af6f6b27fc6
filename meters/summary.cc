#include "meters/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/statistics.h"

namespace infermark {
namespace {

std::string format(const char* fmt, double a, long long b, double c) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

Summary summarize(std::vector<double> samples, double cv_threshold) {
  if (samples.empty()) throw Error("summarize: no samples (the cell ran no timed iteration)");
  if (!(cv_threshold >= 0))
    throw Error("summarize: coefficient-of-variation threshold " + std::to_string(cv_threshold) +
                " is not a non-negative number");
  for (size_t i = 0; i < samples.size(); ++i)
    if (!std::isfinite(samples[i]))
      throw Error("summarize: sample " + std::to_string(i) + " is not finite (" +
                  std::to_string(samples[i]) + ")");

  std::sort(samples.begin(), samples.end());
  Summary s;
  s.count = static_cast<int64_t>(samples.size());
  s.mean = mean(samples);
  s.stddev = sample_stddev(samples);
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 0.50);
  s.median = s.p50;
  s.p90 = percentile(samples, 0.90);
  s.p95 = percentile(samples, 0.95);
  s.p99 = percentile(samples, 0.99);
  s.p999 = percentile(samples, 0.999);
  if (s.mean != 0)
    s.cv = s.stddev / std::fabs(s.mean);
  else
    s.cv = s.stddev == 0 ? 0 : INFINITY;

  if (s.count >= 2) {
    const MeanInterval ci = mean_interval_95(samples);
    s.ci95_low = ci.low;
    s.ci95_high = ci.high;
    s.stable = s.cv <= cv_threshold;
    if (!s.stable)
      s.warning = format(
          "unstable: coefficient of variation %.1f%% over %lld iterations (threshold %g%%): the "
          "machine was busy or the cell too short; close other programs, pin threads, or raise "
          "--min-duration",
          s.cv * 100, static_cast<long long>(s.count), cv_threshold * 100);
  } else {
    // One sample: no spread and no interval can be estimated; say so rather than claim 0%.
    s.ci95_low = s.ci95_high = s.mean;
    s.stable = false;
    s.warning =
        "unstable: only 1 iteration, so no spread or confidence interval can be estimated; "
        "raise --min-duration";
  }
  return s;
}

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j = {{"count", s.count},       {"mean", s.mean},
                      {"median", s.median},     {"std", s.stddev},
                      {"min", s.min},           {"max", s.max},
                      {"p50", s.p50},           {"p90", s.p90},
                      {"p95", s.p95},           {"p99", s.p99},
                      {"p999", s.p999},         {"cv", s.cv},
                      {"ci95_low", s.ci95_low}, {"ci95_high", s.ci95_high},
                      {"stable", s.stable}};
  if (!s.stable) j["warning"] = s.warning;
  return j;
}

}  // namespace infermark
