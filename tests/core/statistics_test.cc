#include "core/statistics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace infermark {
namespace {

TEST(Statistics, Mean) {
  EXPECT_DOUBLE_EQ(mean({1, 2, 3, 4}), 2.5);
  EXPECT_DOUBLE_EQ(mean({-1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(mean({7}), 7.0);
  EXPECT_DOUBLE_EQ(mean({}), 0.0);
}

TEST(Statistics, SampleStddev) {
  // Mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, over n - 1 = 7.
  EXPECT_DOUBLE_EQ(sample_stddev({2, 4, 4, 4, 5, 5, 7, 9}), std::sqrt(32.0 / 7.0));
  EXPECT_NEAR(sample_stddev({2, 4, 4, 4, 5, 5, 7, 9}), 2.138, 5e-4);
  EXPECT_DOUBLE_EQ(sample_stddev({1, 3}), std::sqrt(2.0));  // (1 + 1) / 1
  EXPECT_DOUBLE_EQ(sample_stddev({3}), 0.0);
  EXPECT_DOUBLE_EQ(sample_stddev({}), 0.0);
}

TEST(Statistics, PercentileInterpolatesBetweenOrderStatistics) {
  const std::vector<double> v = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 0.25), 1.75);  // position 3 * 0.25 = 0.75
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 2.5);    // position 1.5
  EXPECT_DOUBLE_EQ(percentile(v, 0.9), 3.7);    // position 2.7
  EXPECT_DOUBLE_EQ(percentile(v, 1), 4.0);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.99), 7.0);
  EXPECT_THROW(percentile({}, 0.5), Error);
  EXPECT_THROW(percentile(v, 1.5), Error);
  EXPECT_THROW(percentile(v, -0.1), Error);
}

TEST(Statistics, TQuantile95FromTheTable) {
  EXPECT_NEAR(t_quantile_95(1), 12.706, 5e-4);
  EXPECT_NEAR(t_quantile_95(4), 2.776, 5e-4);
  EXPECT_NEAR(t_quantile_95(9), 2.262, 5e-4);
  EXPECT_NEAR(t_quantile_95(30), 2.042, 5e-4);
  EXPECT_NEAR(t_quantile_95(60), 2.000, 5e-4);  // beyond the table: Cornish-Fisher
  EXPECT_NEAR(t_quantile_95(120), 1.980, 5e-4);
  EXPECT_NEAR(t_quantile_95(1'000'000), 1.960, 5e-4);  // the normal's 0.975 quantile
  EXPECT_GT(t_quantile_95(30), t_quantile_95(31));     // no step where the table ends
  EXPECT_THROW(t_quantile_95(0), Error);
}

TEST(Statistics, MeanInterval95) {
  // Mean 3, sd sqrt(10 / 4), t(4) = 2.776: half-width 2.776 * 1.5811 / sqrt(5) = 1.963.
  const MeanInterval m = mean_interval_95({1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(m.mean, 3.0);
  EXPECT_NEAR(m.low, 3 - 1.963, 1e-3);
  EXPECT_NEAR(m.high, 3 + 1.963, 1e-3);
  EXPECT_DOUBLE_EQ(m.high - m.mean, m.mean - m.low);
  // One value: no interval.
  const MeanInterval one = mean_interval_95({7});
  EXPECT_EQ(one.mean, 7.0);
  EXPECT_EQ(one.low, 7.0);
  EXPECT_EQ(one.high, 7.0);
  // No spread: the interval is the mean.
  const MeanInterval flat = mean_interval_95({2, 2, 2});
  EXPECT_EQ(flat.low, 2.0);
  EXPECT_EQ(flat.high, 2.0);
}

TEST(Statistics, MedianOfOddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);  // the mean of the middle two
  EXPECT_DOUBLE_EQ(median({10, 1}), 5.5);
  EXPECT_DOUBLE_EQ(median({1, NAN, 3, INFINITY}), 2.0);  // non-finite values left out
  EXPECT_TRUE(std::isnan(median({})));
  EXPECT_TRUE(std::isnan(median({NAN})));
}

TEST(Statistics, AggregateIntervalOfTheMedian) {
  EXPECT_FALSE(aggregate({}).has_value());
  EXPECT_FALSE(aggregate({NAN, INFINITY}).has_value());
  // 5 values: P(Binomial(5, 1/2) = 0) = 1/32 > 2.5%, so no order statistic gives 95%.
  const Aggregate five = *aggregate({5, 1, 4, 2, 3});
  EXPECT_EQ(five.median, 3.0);
  EXPECT_EQ(five.n, 5);
  EXPECT_FALSE(five.has_interval());
  // 6 values: 1/64 <= 2.5% < 1/64 + 6/64, so k = 1: [min, max].
  const Aggregate six = *aggregate({6, 5, 4, 3, 2, 1});
  EXPECT_EQ(six.median, 3.5);
  EXPECT_EQ(six.low, 1.0);
  EXPECT_EQ(six.high, 6.0);
  EXPECT_TRUE(six.has_interval());
  // 10 values: (1 + 10) / 1024 <= 2.5% < (1 + 10 + 45) / 1024, so k = 2: [x_(2), x_(9)].
  const Aggregate ten = *aggregate({10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
  EXPECT_EQ(ten.median, 5.5);
  EXPECT_EQ(ten.low, 2.0);
  EXPECT_EQ(ten.high, 9.0);
  EXPECT_EQ(ten.n, 10);
  // The same median as median().
  EXPECT_EQ(ten.median, median({10, 1, 9, 2, 8, 3, 7, 4, 6, 5}));
}

TEST(Statistics, PairedRatioOfAnAASetContainsOne) {
  // The same configuration twice: per-round ratios scatter around 1.
  const Ratio r = paired_ratio({{10, 10.1}, {10, 9.9}, {20, 20.2}, {20, 19.8}, {15, 15.1}});
  EXPECT_EQ(r.pairs, 5);
  EXPECT_NEAR(r.ratio, 1.0, 0.01);
  EXPECT_LT(r.low, 1.0);
  EXPECT_GT(r.high, 1.0);
}

TEST(Statistics, PairedRatioByHand) {
  // Log ratios 0.1 and 0.3: mean 0.2, sd sqrt(0.02), se 0.1, t(1) = 12.706.
  const Ratio r = paired_ratio({{1, std::exp(0.1)}, {2, 2 * std::exp(0.3)}});
  EXPECT_EQ(r.pairs, 2);
  EXPECT_NEAR(r.ratio, 1.2214, 1e-4);  // exp(0.2)
  EXPECT_NEAR(r.low, 0.3428, 1e-4);    // exp(0.2 - 1.2706)
  EXPECT_NEAR(r.high, 4.3519, 1e-4);   // exp(0.2 + 1.2706)
  // Always twice as fast: no spread, the interval is the ratio.
  const Ratio twice = paired_ratio({{1, 2}, {3, 6}, {5, 10}});
  EXPECT_NEAR(twice.ratio, 2.0, 1e-12);
  EXPECT_NEAR(twice.low, 2.0, 1e-12);
  EXPECT_NEAR(twice.high, 2.0, 1e-12);
  // One pair: its ratio, no interval; none: nothing.
  const Ratio one = paired_ratio({{4, 5}});
  EXPECT_EQ(one.pairs, 1);
  EXPECT_DOUBLE_EQ(one.ratio, 1.25);
  EXPECT_EQ(one.low, one.ratio);
  EXPECT_EQ(one.high, one.ratio);
  const Ratio none = paired_ratio({});
  EXPECT_EQ(none.pairs, 0);
  EXPECT_EQ(none.ratio, 0.0);
}

TEST(Statistics, UnpairedRatioWelch) {
  // Logs {0, 0.2} and {0.3, 0.5}: means 0.1 and 0.4, variances 0.02, squared standard errors
  // 0.01 each, se sqrt(0.02); Welch's dof 0.02^2 / (0.01^2 + 0.01^2) = 2, t(2) = 4.303.
  const Ratio r = unpaired_ratio({1, std::exp(0.2)}, {std::exp(0.3), std::exp(0.5)});
  EXPECT_EQ(r.pairs, 0);
  EXPECT_NEAR(r.ratio, 1.3499, 1e-4);  // exp(0.3)
  EXPECT_NEAR(r.low, 0.7346, 1e-4);    // exp(0.3 - 4.303 * 0.14142)
  EXPECT_NEAR(r.high, 2.4806, 1e-4);   // exp(0.3 + 4.303 * 0.14142)
  // A/A: contains 1.
  const Ratio aa = unpaired_ratio({100, 102, 98, 101}, {99, 101, 100, 103});
  EXPECT_LT(aa.low, 1.0);
  EXPECT_GT(aa.high, 1.0);
  // No spread on either side.
  const Ratio flat = unpaired_ratio({2, 2}, {4, 4});
  EXPECT_NEAR(flat.ratio, 2.0, 1e-12);
  EXPECT_NEAR(flat.low, 2.0, 1e-12);
  EXPECT_NEAR(flat.high, 2.0, 1e-12);
  // A single value on one side: the ratio of the geometric means, no interval.
  const Ratio single = unpaired_ratio({2}, {4, 16});
  EXPECT_NEAR(single.ratio, 4.0, 1e-12);  // sqrt(4 * 16) / 2
  EXPECT_EQ(single.low, single.ratio);
  EXPECT_EQ(single.high, single.ratio);
  EXPECT_EQ(unpaired_ratio({}, {1, 2}).ratio, 0.0);
}

TEST(Statistics, WithinCellRatioDeltaMethod) {
  // 3% and 4% relative half-widths combine to 5%.
  const Ratio r = within_cell_ratio(100, 0.03, 110, 0.04);
  EXPECT_DOUBLE_EQ(r.ratio, 1.1);
  EXPECT_NEAR(r.low, 1.045, 1e-12);
  EXPECT_NEAR(r.high, 1.155, 1e-12);
  EXPECT_EQ(r.pairs, 0);
  // One side without an interval: none.
  const Ratio none = within_cell_ratio(100, 0.03, 110, 0);
  EXPECT_DOUBLE_EQ(none.ratio, 1.1);
  EXPECT_EQ(none.low, none.ratio);
  EXPECT_EQ(none.high, none.ratio);
}

}  // namespace
}  // namespace infermark
