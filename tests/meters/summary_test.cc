#include "meters/summary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace infermark {
namespace {

const std::vector<double> kTextbook = {2, 4, 4, 4, 5, 5, 7, 9};

TEST(Summary, MeanAndSampleStddevOfKnownValues) {
  EXPECT_DOUBLE_EQ(mean(kTextbook), 5.0);
  EXPECT_DOUBLE_EQ(sample_stddev(kTextbook), std::sqrt(32.0 / 7.0));
  EXPECT_DOUBLE_EQ(sample_stddev({3.0}), 0.0);
  EXPECT_DOUBLE_EQ(sample_stddev({}), 0.0);
  EXPECT_DOUBLE_EQ(sample_stddev({1.5, 1.5, 1.5}), 0.0);
}

TEST(Summary, PercentilesMatchNumpyLinear) {
  // Expected values from numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], q) (numpy 'linear').
  const std::vector<double> sorted = {1, 1, 2, 3, 3, 4, 5, 5, 6, 9};
  const std::pair<double, double> cases[] = {{0.0, 1.0},
                                             {0.10, 1.0},
                                             {0.25, 2.25},
                                             {0.50, 3.5},
                                             {0.90, 6.299999999999999},
                                             {0.95, 7.649999999999997},
                                             {0.99, 8.73},
                                             {0.999, 8.973000000000004},
                                             {1.0, 9.0}};
  for (const auto& [q, expected] : cases) EXPECT_NEAR(percentile(sorted, q), expected, 1e-12) << q;

  // numpy.percentile(numpy.arange(1, 101), [50, 90, 95, 99, 99.9])
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  EXPECT_NEAR(percentile(hundred, 0.50), 50.5, 1e-12);
  EXPECT_NEAR(percentile(hundred, 0.90), 90.10000000000001, 1e-12);
  EXPECT_NEAR(percentile(hundred, 0.95), 95.05, 1e-12);
  EXPECT_NEAR(percentile(hundred, 0.99), 99.01, 1e-12);
  EXPECT_NEAR(percentile(hundred, 0.999), 99.90100000000001, 1e-12);

  EXPECT_DOUBLE_EQ(percentile({7.0}, 0.99), 7.0);
  EXPECT_THROW(percentile({}, 0.5), Error);
  EXPECT_THROW(percentile(sorted, 1.5), Error);
  EXPECT_THROW(percentile(sorted, -0.1), Error);
}

TEST(Summary, StudentTQuantiles) {
  // scipy.stats.t.ppf(0.975, dof)
  EXPECT_NEAR(t_quantile_95(1), 12.706204736174698, 1e-9);
  EXPECT_NEAR(t_quantile_95(5), 2.570581835636314, 1e-9);
  EXPECT_NEAR(t_quantile_95(30), 2.0422724563012373, 1e-9);
  EXPECT_NEAR(t_quantile_95(31), 2.0395134463963740, 1e-7);
  EXPECT_NEAR(t_quantile_95(40), 2.0210753903062730, 1e-7);
  EXPECT_NEAR(t_quantile_95(60), 2.0002978220142276, 1e-7);
  EXPECT_NEAR(t_quantile_95(120), 1.9799304050824322, 1e-8);
  EXPECT_NEAR(t_quantile_95(1000), 1.9623390808257810, 1e-9);
  EXPECT_NEAR(t_quantile_95(100000000), 1.959963984540054, 1e-7);
  // Monotone decreasing over the table's edge and beyond.
  for (int64_t d = 1; d < 500; ++d) EXPECT_GT(t_quantile_95(d), t_quantile_95(d + 1)) << d;
  EXPECT_THROW(t_quantile_95(0), Error);
}

TEST(Summary, SummarizeKnownSample) {
  const Summary s = summarize({9, 2, 5, 4, 4, 7, 4, 5});  // kTextbook, shuffled
  EXPECT_EQ(s.count, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(32.0 / 7.0));
  EXPECT_DOUBLE_EQ(s.min, 2.0);
  EXPECT_DOUBLE_EQ(s.max, 9.0);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.p50, 4.5);
  // numpy.percentile([2, 4, 4, 4, 5, 5, 7, 9], [90, 95, 99, 99.9])
  EXPECT_NEAR(s.p90, 7.6, 1e-12);
  EXPECT_NEAR(s.p95, 8.3, 1e-12);
  EXPECT_NEAR(s.p99, 8.86, 1e-12);
  EXPECT_NEAR(s.p999, 8.986, 1e-12);
  EXPECT_DOUBLE_EQ(s.cv, std::sqrt(32.0 / 7.0) / 5.0);
  // mean -/+ t(7) * s / sqrt(8), computed with numpy
  EXPECT_NEAR(s.ci95_low, 3.2125120817637898, 1e-12);
  EXPECT_NEAR(s.ci95_high, 6.78748791823621, 1e-12);
  EXPECT_FALSE(s.stable);  // cv 42.8%
}

TEST(Summary, QuietSampleIsStable) {
  std::vector<double> x;
  for (int i = 0; i < 100; ++i) x.push_back(10.0 + (i % 5) * 0.1);
  const Summary s = summarize(x);
  EXPECT_TRUE(s.stable);
  EXPECT_TRUE(s.warning.empty());
  EXPECT_LT(s.cv, 0.02);
  EXPECT_LT(s.ci95_low, s.mean);
  EXPECT_GT(s.ci95_high, s.mean);
  const nlohmann::json j = to_json(s);
  EXPECT_TRUE(j["stable"].get<bool>());
  EXPECT_FALSE(j.contains("warning"));
  for (const char* key : {"count", "mean", "median", "std", "min", "max", "p50", "p90", "p95",
                          "p99", "p999", "cv", "ci95_low", "ci95_high", "stable"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.size(), 15u);
  EXPECT_EQ(j["count"].get<int64_t>(), 100);
  EXPECT_DOUBLE_EQ(j["std"].get<double>(), s.stddev);
}

TEST(Summary, NoisySampleIsUnstableWithAdvice) {
  std::vector<double> x;  // 10, 15, 10, ... over 57 iterations: cv 20.2% (numpy)
  for (int i = 0; i < 57; ++i) x.push_back(i % 2 == 0 ? 10.0 : 15.0);
  const Summary s = summarize(x);
  EXPECT_NEAR(s.cv, 0.2024571339642965, 1e-12);
  EXPECT_FALSE(s.stable);
  EXPECT_EQ(s.warning,
            "unstable: coefficient of variation 20.2% over 57 iterations (threshold 10%): the "
            "machine was busy or the cell too short; close other programs, pin threads, or raise "
            "--min-duration");
  const nlohmann::json j = to_json(s);
  EXPECT_FALSE(j["stable"].get<bool>());
  EXPECT_EQ(j["warning"].get<std::string>(), s.warning);

  // The threshold is the caller's.
  const Summary lax = summarize(x, 0.25);
  EXPECT_TRUE(lax.stable);
  EXPECT_TRUE(lax.warning.empty());
}

TEST(Summary, EdgeCases) {
  EXPECT_THROW(summarize({}), Error);
  EXPECT_THROW(summarize({1.0, NAN}), Error);
  EXPECT_THROW(summarize({1.0, 2.0}, -0.1), Error);

  const Summary one = summarize({3.0});
  EXPECT_EQ(one.count, 1);
  EXPECT_DOUBLE_EQ(one.mean, 3.0);
  EXPECT_DOUBLE_EQ(one.p999, 3.0);
  EXPECT_FALSE(one.stable);  // a single iteration says nothing about spread
  EXPECT_NE(one.warning.find("only 1 iteration"), std::string::npos);

  const Summary same = summarize({2.0, 2.0, 2.0});
  EXPECT_TRUE(same.stable);
  EXPECT_DOUBLE_EQ(same.cv, 0.0);
  EXPECT_DOUBLE_EQ(same.ci95_low, 2.0);
  EXPECT_DOUBLE_EQ(same.ci95_high, 2.0);
}

}  // namespace
}  // namespace infermark
