#include <gtest/gtest.h>

#include "core/error.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

RunLimits limits(double min_duration_s, int64_t min_iterations, double max_duration_s) {
  RunLimits l;
  l.warmup_s = 0;
  l.warmup_iterations = 0;
  l.min_duration_s = min_duration_s;
  l.min_iterations = min_iterations;
  l.max_duration_s = max_duration_s;
  return l;
}

TEST(Offline, ThroughputIsBatchOverServiceTimeExactly) {
  VirtualClock clock;
  // Dyadic times: every sum on the virtual clock is exact.
  FakeEngine engine(&clock, 0x1.0p-8, 0x1.0p-10);  // batch 4: 2^-7 s
  const Tensor input = make_images(4);
  RunLimits l = limits(1.0, 10, 10);
  l.warmup_iterations = 2;
  const ScenarioResult r = run_offline(engine, input, l, clock);
  const double service = engine.service_s(4);
  EXPECT_EQ(service, 0x1.0p-7);
  EXPECT_EQ(r.metrics["throughput_ips"].get<double>(), 4 / service);
  EXPECT_EQ(r.metrics["iterations"], 128);
  EXPECT_EQ(r.metrics["images"], 512);
  EXPECT_EQ(r.metrics["batch"], 4);
  EXPECT_EQ(r.metrics["timed_s"].get<double>(), 1.0);
  EXPECT_EQ(r.metrics["warmup_iterations"], 2);
  EXPECT_EQ(r.metrics["harness_overhead_us_per_iteration"].get<double>(), 0.0);
  EXPECT_EQ(r.metrics["stopped_by"], "limits_met");
  EXPECT_EQ(engine.calls, 130);
  EXPECT_EQ(engine.resizes, 1);
  ASSERT_EQ(r.latencies_ms.size(), 128u);
  for (double ms : r.latencies_ms) EXPECT_EQ(ms, service * 1e3);
  EXPECT_EQ(r.latency_ms.count, 128);
  EXPECT_EQ(r.latency_ms.p50, service * 1e3);
  EXPECT_TRUE(r.latency_ms.stable);
}

TEST(Offline, MinIterationsRule) {
  VirtualClock clock;
  FakeEngine engine(&clock, 1.0, 0);
  const ScenarioResult r = run_offline(engine, make_images(2), limits(2.0, 7, 60), clock);
  EXPECT_EQ(r.metrics["iterations"], 7);
  EXPECT_EQ(r.metrics["timed_s"].get<double>(), 7.0);
}

TEST(Offline, MinDurationRule) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.25, 0);
  const ScenarioResult r = run_offline(engine, make_images(2), limits(10.0, 3, 60), clock);
  EXPECT_EQ(r.metrics["iterations"], 40);
  EXPECT_EQ(r.metrics["timed_s"].get<double>(), 10.0);
  EXPECT_EQ(r.metrics["stopped_by"], "limits_met");
}

TEST(Offline, MaxDurationRuleStopsBeforeMinIterations) {
  VirtualClock clock;
  FakeEngine engine(&clock, 1.0, 0);
  const ScenarioResult r = run_offline(engine, make_images(1), limits(0, 1000, 5), clock);
  EXPECT_EQ(r.metrics["iterations"], 5);
  EXPECT_EQ(r.metrics["stopped_by"], "max_duration_s");
}

TEST(Offline, WarmupNeedsBothIterationsAndTimeAndIsNotCounted) {
  {
    VirtualClock clock;
    FakeEngine engine(&clock, 0.25, 0);
    RunLimits l = limits(1.0, 1, 60);
    l.warmup_iterations = 1;
    l.warmup_s = 2.0;  // 8 iterations of 0.25 s
    const ScenarioResult r = run_offline(engine, make_images(1), l, clock);
    EXPECT_EQ(r.metrics["warmup_iterations"], 8);
    EXPECT_EQ(r.metrics["warmup_s"].get<double>(), 2.0);
    EXPECT_EQ(r.metrics["iterations"], 4);
    EXPECT_EQ(r.metrics["timed_s"].get<double>(), 1.0);
    EXPECT_EQ(engine.calls, 12);
    EXPECT_EQ(r.metrics["throughput_ips"].get<double>(), 4.0);
  }
  {
    VirtualClock clock;
    FakeEngine engine(&clock, 0.25, 0);
    RunLimits l = limits(1.0, 1, 60);
    l.warmup_iterations = 5;
    l.warmup_s = 0.5;
    const ScenarioResult r = run_offline(engine, make_images(1), l, clock);
    EXPECT_EQ(r.metrics["warmup_iterations"], 5);
    EXPECT_EQ(engine.calls, 9);
  }
}

TEST(SingleStream, LatencyPercentilesEqualServiceTime) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0x1.0p-7, 0x1.0p-9);
  // Given a batch, single-stream queries its first image only.
  const ScenarioResult r = run_single_stream(engine, make_images(4), limits(1.0, 10, 10), clock);
  const double ms = engine.service_s(1) * 1e3;
  for (double v : {r.latency_ms.min, r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.p99,
                   r.latency_ms.p999, r.latency_ms.max, r.latency_ms.mean})
    EXPECT_EQ(v, ms);
  EXPECT_EQ(r.latency_ms.stddev, 0);
  EXPECT_EQ(r.metrics["batch"], 1);
  EXPECT_EQ(r.metrics["throughput_ips"].get<double>(), 1 / engine.service_s(1));
  for (int64_t b : engine.batch_sizes) EXPECT_EQ(b, 1);
}

}  // namespace
}  // namespace infermark
