// Sample statistics, each a pure function: the summary of a cell's samples (meters/summary.h),
// the figures over rounds and the comparisons of the report (report/report.h), the intervals
// the sweep measures inside a cell. docs/statistics.md says why each is the one used.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace infermark {

// The arithmetic mean; 0 for no values.
double mean(const std::vector<double>& x);

// The sample standard deviation (n - 1 in the denominator); 0 for fewer than 2 values.
double sample_stddev(const std::vector<double>& x);

// Linear interpolation between order statistics (numpy's default, "linear"), q in [0, 1];
// `sorted` ascending and non-empty, else Error.
double percentile(const std::vector<double>& sorted, double q);

// The two-sided 95% (one-sided 0.975) Student t quantile for `dof` >= 1 degrees of freedom.
double t_quantile_95(int64_t dof);

// The mean with its 95% Student t interval; low == high == mean for fewer than 2 values.
struct MeanInterval {
  double mean = 0, low = 0, high = 0;
};
MeanInterval mean_interval_95(const std::vector<double>& x);

// The median of the finite values (the mean of the middle two for an even count); NaN if none.
double median(const std::vector<double>& values);

// The median of the finite values with a 95% distribution-free interval of the median (order
// statistics; needs at least 6 values, docs/statistics.md); none without a finite value.
struct Aggregate {
  double median = 0, low = 0, high = 0;  // low == high == median: no interval
  int n = 0;
  bool has_interval() const { return high > low; }
};
std::optional<Aggregate> aggregate(const std::vector<double>& values);

// A ratio b/a with its 95% interval (low == high == ratio: none), and the pairs it came from.
struct Ratio {
  double ratio = 0, low = 0, high = 0;
  int pairs = 0;  // 0 when unpaired
};

// The geometric mean of b/a over paired values (a, b), Student's t on the per-pair log ratios;
// fewer than 2 pairs: no interval, none: all 0.
Ratio paired_ratio(const std::vector<std::pair<double, double>>& a_b);

// The ratio of the geometric means of b and a, Welch's t on the log values; fewer than 2 values
// on a side: no interval, none: all 0.
Ratio unpaired_ratio(const std::vector<double>& a, const std::vector<double>& b);

// b/a from one value each with its relative 95% half-width, combined on the log ratio (delta
// method); no interval unless both half-widths are above 0.
Ratio within_cell_ratio(double a, double a_rel_half_ci, double b, double b_rel_half_ci);

}  // namespace infermark
