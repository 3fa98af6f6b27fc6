#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <vector>

#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

TEST(RealClock, SleepUntilIsNeverEarlyAndPrecise) {
  SteadyClock clock;
  std::vector<double> late_us;
  for (int i = 0; i < 100; ++i) {
    const double target = clock.now() + 0.0005 + 0.00001 * (i % 7);
    clock.sleep_until(target);
    const double now = clock.now();
    ASSERT_GE(now, target);
    late_us.push_back((now - target) * 1e6);
  }
  std::sort(late_us.begin(), late_us.end());
  std::cout << "sleep_until lateness us: median " << late_us[50] << ", p90 " << late_us[90]
            << ", max " << late_us.back() << "\n";
  EXPECT_LT(late_us[50], 20);
  // A target in the past returns at once.
  const double t0 = clock.now();
  clock.sleep_until(t0 - 1);
  EXPECT_LT(clock.now() - t0, 0.001);
}

TEST(RealClock, HarnessOverheadIsSmallAgainstA1msEngine) {
  SteadyClock clock;
  FakeEngine engine(nullptr, 0.001, 0);  // busy-waits 1 ms
  RunLimits l;
  l.warmup_s = 0.01;
  l.warmup_iterations = 1;
  l.min_duration_s = 0.3;
  l.min_iterations = 10;
  l.max_duration_s = 5;
  const ScenarioResult r = run_offline(engine, make_images(1), l, clock);
  const double overhead_us = r.metrics["harness_overhead_us_per_iteration"].get<double>();
  std::cout << "offline, 1 ms engine: " << r.metrics["iterations"] << " iterations, overhead "
            << overhead_us << " us/iteration, p50 " << r.latency_ms.p50 << " ms\n";
  EXPECT_LT(overhead_us, 50);
  EXPECT_GE(r.latency_ms.min, 1.0);
  EXPECT_LT(r.latency_ms.p50, 1.2);
  EXPECT_LE(r.metrics["throughput_ips"].get<double>(), 1000.0);

  ServerConfig c;
  c.rate_qps = 300;
  c.max_batch = 1;
  c.max_queue_delay_ms = 0;
  c.duration_s = 0.5;
  const ScenarioResult s = run_server(engine, make_images(1), c, clock);
  const double server_us = s.metrics["harness_overhead_us_per_iteration"].get<double>();
  std::cout << "server 300 qps, 1 ms engine: overhead " << server_us << " us/batch, wake late "
            << s.metrics["wake_late_us_mean"] << " us mean\n";
  EXPECT_LT(server_us, 50);
  EXPECT_GE(s.latency_ms.min, 1.0);
}

}  // namespace
}  // namespace infermark
