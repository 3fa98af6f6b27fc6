#include <gtest/gtest.h>

#include "core/error.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

RunLimits quick() {
  RunLimits l;
  l.warmup_s = 0;
  l.warmup_iterations = 1;
  l.min_duration_s = 1.0;
  l.min_iterations = 10;
  l.max_duration_s = 10;
  return l;
}

TEST(Ensemble, OutputsAveragedAndThroughputIsBatchOverSumOfServiceTimes) {
  VirtualClock clock;
  FakeEngine a(&clock, 0x1.0p-8, 0x1.0p-10), b(&clock, 0x1.0p-7, 0x1.0p-9);
  a.offset = 1;
  b.offset = 5;
  b.scale = 3;
  const Tensor input = make_images(4);
  Tensor averaged;
  const ScenarioResult r = run_ensemble({&a, &b}, input, quick(), clock, &averaged);
  const double per_iteration = a.service_s(4) + b.service_s(4);  // 3 * 2^-7
  EXPECT_DOUBLE_EQ(r.metrics["throughput_ips"].get<double>(), 4 / per_iteration);
  EXPECT_DOUBLE_EQ(r.latency_ms.p50, per_iteration * 1e3);
  EXPECT_EQ(r.metrics["models"], 2);
  ASSERT_EQ(averaged.shape, (std::vector<int64_t>{4, 4}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      const float img = static_cast<float>(i + 1);
      const float expected = ((img + 1 + j) + (3 * img + 5 + j)) / 2;
      EXPECT_EQ(averaged.data[static_cast<size_t>(i * 4 + j)], expected) << i << "," << j;
    }
  EXPECT_EQ(a.calls, b.calls);
  EXPECT_EQ(a.resizes, 1);
}

TEST(Ensemble, ThreeModelsAverage) {
  VirtualClock clock;
  FakeEngine a(&clock, 0.001, 0), b(&clock, 0.002, 0), c(&clock, 0.003, 0);
  a.offset = 0;
  b.offset = 1;
  c.offset = 5;
  Tensor averaged;
  run_ensemble({&a, &b, &c}, make_images(2), quick(), clock, &averaged);
  ASSERT_EQ(averaged.data.size(), 8u);
  EXPECT_FLOAT_EQ(averaged.data[0], 1 + 2.0f);      // image 1, class 0: 1 + (0 + 1 + 5) / 3
  EXPECT_FLOAT_EQ(averaged.data[7], 2 + 2.0f + 3);  // image 2, class 3
}

TEST(Ensemble, DifferentOutputShapesThrow) {
  VirtualClock clock;
  FakeEngine a(&clock, 0.001, 0), b(&clock, 0.001, 0);
  b.classes = 5;
  try {
    run_ensemble({&a, &b}, make_images(2), quick(), clock);
    FAIL() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output shape [2, 5]"), std::string::npos) << e.what();
  }
}

TEST(Ensemble, NoEnginesOrNullThrow) {
  VirtualClock clock;
  FakeEngine a(&clock, 0.001, 0);
  EXPECT_THROW(run_ensemble({}, make_images(2), quick(), clock), Error);
  EXPECT_THROW(run_ensemble({&a, nullptr}, make_images(2), quick(), clock), Error);
}

}  // namespace
}  // namespace infermark
