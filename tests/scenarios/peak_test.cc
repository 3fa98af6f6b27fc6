#include <gtest/gtest.h>

#include <iostream>

#include "core/error.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

ServerConfig probe_config() {
  ServerConfig c;
  c.max_batch = 8;
  c.max_queue_delay_ms = 0;
  c.duration_s = 20;
  c.min_queries = 200;
  c.seed = 11;
  return c;
}

double p99_at(double rate_qps, const Tensor& images, ServerConfig c) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);
  c.rate_qps = rate_qps;
  return run_server(engine, images, c, clock).latency_ms.p99;
}

TEST(FindPeak, PeakMeetsSloAndTenPercentMoreMisses) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);  // 3 ms single; capacity at batch 8: 800 qps
  const Tensor images = make_images(8);
  PeakSearch search;
  search.slo_p99_ms = 50;
  search.lo_qps = 10;
  search.hi_qps = 0;  // automatic: 2x single-request throughput = 667 qps
  search.max_probes = 16;
  search.tolerance = 0.05;
  const PeakResult peak = find_peak(engine, images, probe_config(), search, clock);
  std::cout << "peak " << peak.peak_qps << " qps, probes " << peak.probes.dump() << "\n";

  ASSERT_GT(peak.peak_qps, 10);
  EXPECT_LT(peak.peak_qps, 800);  // cannot exceed the engine's capacity
  ASSERT_LE(peak.probes.size(), 16u);
  EXPECT_EQ(peak.probes[0]["rate_qps"].get<double>(), 10);
  EXPECT_NEAR(peak.probes[1]["rate_qps"].get<double>(), 2 / engine.service_s(1), 1e-6);
  // The search's closest failing probe lies within the tolerance above the peak.
  double lowest_failing = 1e300;
  for (const auto& p : peak.probes) {
    if (!p["meets"].get<bool>())
      lowest_failing = std::min(lowest_failing, p["rate_qps"].get<double>());
    if (p["rate_qps"].get<double>() == peak.peak_qps) {
      EXPECT_TRUE(p["meets"].get<bool>());
    }
  }
  EXPECT_GT(lowest_failing, peak.peak_qps);
  EXPECT_LE(lowest_failing, peak.peak_qps * (1 + search.tolerance));
  // Independent probes: at the peak the SLO holds, 10% above it does not.
  EXPECT_LE(p99_at(peak.peak_qps, images, probe_config()), search.slo_p99_ms);
  EXPECT_GT(p99_at(1.1 * peak.peak_qps, images, probe_config()), search.slo_p99_ms);
}

TEST(FindPeak, ExplicitHiDoublesUntilItFails) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);
  PeakSearch search;
  search.slo_p99_ms = 50;
  search.lo_qps = 10;
  search.hi_qps = 100;  // meets: doubled to 200, 400, ... until a failure
  search.max_probes = 20;
  const PeakResult peak = find_peak(engine, make_images(8), probe_config(), search, clock);
  EXPECT_EQ(peak.probes[1]["rate_qps"].get<double>(), 100);
  EXPECT_EQ(peak.probes[2]["rate_qps"].get<double>(), 200);
  EXPECT_TRUE(peak.probes[1]["meets"].get<bool>());
  EXPECT_GT(peak.peak_qps, 400);
  EXPECT_LT(peak.peak_qps, 800);
}

TEST(FindPeak, ZeroWhenEvenLoMisses) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);
  PeakSearch search;
  search.slo_p99_ms = 1;  // below the 3 ms service time
  search.lo_qps = 1;
  const PeakResult peak = find_peak(engine, make_images(8), probe_config(), search, clock);
  EXPECT_EQ(peak.peak_qps, 0);
  ASSERT_EQ(peak.probes.size(), 1u);
  EXPECT_FALSE(peak.probes[0]["meets"].get<bool>());
}

TEST(FindPeak, StopsAtMaxProbes) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);
  PeakSearch search;
  search.slo_p99_ms = 50;
  search.lo_qps = 10;
  search.hi_qps = 20;
  search.max_probes = 3;  // lo, 20, 40: all meet, so the peak is the last good one
  const PeakResult peak = find_peak(engine, make_images(8), probe_config(), search, clock);
  EXPECT_EQ(peak.probes.size(), 3u);
  EXPECT_EQ(peak.peak_qps, 40);
}

}  // namespace
}  // namespace infermark
