#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <numeric>

#include "core/error.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

ServerConfig config(double rate_qps, int64_t max_batch, double delay_ms, int64_t queries,
                    uint64_t seed = 1) {
  ServerConfig c;
  c.rate_qps = rate_qps;
  c.max_batch = max_batch;
  c.max_queue_delay_ms = delay_ms;
  c.duration_s = 0;  // exactly `queries` arrivals
  c.min_queries = queries;
  c.seed = seed;
  return c;
}

// M/D/1: Poisson arrivals, deterministic service D, one server, no batching. Mean wait in
// queue Wq = rho D / (2 (1 - rho)) (Pollaczek-Khinchine).
void check_md1(double rho) {
  VirtualClock clock;
  const double d_s = 0.01;
  FakeEngine engine(&clock, d_s, 0);
  const ScenarioResult r =
      run_server(engine, make_images(1), config(rho / d_s, 1, 0, 200000, 42), clock);
  ASSERT_EQ(r.latencies_ms.size(), 200000u);
  const double wq_theory_ms = rho * d_s / (2 * (1 - rho)) * 1e3;
  const double mean_ms = r.latency_ms.mean;
  const double wq_ms = mean_ms - d_s * 1e3;
  std::cout << "M/D/1 rho " << rho << ": mean wait " << wq_ms << " ms (theory " << wq_theory_ms
            << "), mean latency " << mean_ms << " ms (theory " << wq_theory_ms + d_s * 1e3 << ")\n";
  EXPECT_NEAR(wq_ms, wq_theory_ms, 0.03 * wq_theory_ms);
  EXPECT_NEAR(mean_ms, wq_theory_ms + d_s * 1e3, 0.03 * (wq_theory_ms + d_s * 1e3));
  // No request is faster than the service time; every batch is a single.
  EXPECT_GE(r.latency_ms.min, d_s * 1e3 - 1e-9);
  EXPECT_EQ(r.metrics["batch_histogram"], (nlohmann::json{{"1", 200000}}));
  EXPECT_EQ(r.metrics["mean_batch"].get<double>(), 1.0);
  EXPECT_EQ(r.metrics["dropped"], 0);
  // rho < 1: the engine keeps up.
  EXPECT_NEAR(r.metrics["achieved_qps"].get<double>(), rho / d_s, 0.03 * rho / d_s);
}

TEST(ServerMD1, MeanWaitMatchesTheoryAtRho05) { check_md1(0.5); }
TEST(ServerMD1, MeanWaitMatchesTheoryAtRho08) { check_md1(0.8); }

TEST(Server, HighLoadFillsBatches) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.010, 0.001);  // capacity at batch 8: 444 qps
  const ScenarioResult r = run_server(engine, make_images(8), config(2000, 8, 5, 4000), clock);
  const int64_t batches = r.metrics["batches"];
  EXPECT_GE(r.metrics["batch_histogram"]["8"].get<int64_t>(), batches - 2);
  EXPECT_GT(r.metrics["mean_batch"].get<double>(), 7.9);
  // Overloaded: achieved is the engine's capacity, not the offered rate.
  EXPECT_NEAR(r.metrics["achieved_qps"].get<double>(), 8 / engine.service_s(8), 5);
  // Engine saw warm-up (8, then 1), then the batches.
  EXPECT_EQ(engine.batch_sizes[0], 8);
  EXPECT_EQ(engine.batch_sizes[1], 1);
  EXPECT_EQ(engine.calls, batches + 2);
}

TEST(Server, LowLoadWithoutDelayDispatchesSingles) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0.0005);
  const ScenarioResult r = run_server(engine, make_images(8), config(1, 8, 0, 1000), clock);
  EXPECT_EQ(r.metrics["batch_histogram"], (nlohmann::json{{"1", 1000}}));
  EXPECT_NEAR(r.latency_ms.p50, engine.service_s(1) * 1e3, 1e-9);
}

TEST(Server, LowLoadLatencyBoundedByQueueDelayPlusService) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0.0005);
  const double delay_ms = 5;
  const ScenarioResult r =
      run_server(engine, make_images(8), config(0.05, 8, delay_ms, 300, 7), clock);
  // So low that no two requests meet (which would make a batch of 2, or a wait behind a run).
  EXPECT_EQ(r.metrics["batch_histogram"], (nlohmann::json{{"1", 300}}));
  const double bound_ms = delay_ms + engine.service_s(1) * 1e3;
  for (double ms : r.latencies_ms) EXPECT_LE(ms, bound_ms + 1e-6);
  // A lone request waits out the whole delay: the typical latency is the bound itself.
  EXPECT_NEAR(r.latency_ms.p50, bound_ms, 1e-6);
  EXPECT_EQ(r.metrics["max_queue_delay_ms"].get<double>(), delay_ms);
}

TEST(Server, DelayBoundHoldsWithBatchingAtModerateLoad) {
  // Service independent of batch and delay >= service: no request waits more than the delay
  // plus one service (admitted during a run, it still leaves at its own deadline).
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0);
  const ScenarioResult r = run_server(engine, make_images(4), config(300, 4, 3, 20000), clock);
  for (double ms : r.latencies_ms) ASSERT_LE(ms, 3 + 2 + 1e-6);
  EXPECT_GT(r.metrics["mean_batch"].get<double>(), 1.0);
}

TEST(Server, ScheduleReproducibleForEqualSeedsAndDiffersOtherwise) {
  using scenarios_internal::poisson_arrivals;
  const auto a = poisson_arrivals(100, 10, 1, 5), b = poisson_arrivals(100, 10, 1, 5),
             c = poisson_arrivals(100, 10, 1, 6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Pinned: mt19937_64 and our inverse CDF are the same on every standard library.
  const auto p = poisson_arrivals(1, 0, 3, 1);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0], 2.0108364700839654, 1e-12);
  EXPECT_NEAR(p[1], 4.0029484187248219, 1e-12);
  EXPECT_NEAR(p[2], 4.7987599664982987, 1e-12);

  // Through the driver: equal seeds, equal latencies; other seed, other latencies.
  auto latencies = [](uint64_t seed) {
    VirtualClock clock;
    FakeEngine engine(&clock, 0.002, 0.001);
    return run_server(engine, make_images(4), config(400, 4, 2, 2000, seed), clock).latencies_ms;
  };
  EXPECT_EQ(latencies(3), latencies(3));
  EXPECT_NE(latencies(3), latencies(4));
}

TEST(Server, ScheduleIsPoissonOfTheRate) {
  const auto a = scenarios_internal::poisson_arrivals(250, 400, 10, 9);
  // 100000 expected; the count is Poisson (sd 316).
  EXPECT_NEAR(static_cast<double>(a.size()), 100000, 1500);
  EXPECT_LE(a.back(), 400);
  std::vector<double> gaps(a.size());
  std::adjacent_difference(a.begin(), a.end(), gaps.begin());
  double sum = 0, sum2 = 0;
  for (double g : gaps) {
    ASSERT_GT(g, 0);
    sum += g;
    sum2 += g * g;
  }
  const double n = static_cast<double>(gaps.size()), m = sum / n;
  EXPECT_NEAR(m, 1 / 250.0, 0.02 / 250);
  // Exponential: standard deviation equals the mean.
  EXPECT_NEAR(std::sqrt(sum2 / n - m * m), m, 0.02 * m);
  // duration_s shorter than min_queries needs: extended to min_queries.
  EXPECT_EQ(scenarios_internal::poisson_arrivals(10, 1, 500, 1).size(), 500u);
}

TEST(Server, AchievedMatchesOfferedBelowSaturation) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);  // capacity at batch 8: 800 qps
  ServerConfig c = config(300, 8, 2, 1);
  c.duration_s = 60;
  const ScenarioResult r = run_server(engine, make_images(8), c, clock);
  EXPECT_NEAR(r.metrics["achieved_qps"].get<double>(), 300, 0.03 * 300);
  EXPECT_EQ(r.metrics["offered_qps"].get<double>(), 300);
  EXPECT_EQ(r.metrics["queries"].get<int64_t>(), static_cast<int64_t>(r.latencies_ms.size()));
}

// The arrival window (as long as the arrivals, shifted by the median latency, the drain beyond
// it excluded) and the share of the schedule answered within it: what the peak rule reads.
TEST(Server, AchievedFractionCountsTheArrivalWindowOnly) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.010, 0);  // one request per 10 ms: 100 qps at most
  // Half the engine's capacity: nearly all answered within it (those in flight at its two
  // edges balance).
  const ScenarioResult low = run_server(engine, make_images(1), config(50, 1, 0, 2000), clock);
  const auto& m = low.metrics;
  EXPECT_DOUBLE_EQ(m["window_s"].get<double>(), m["schedule_s"].get<double>());
  EXPECT_DOUBLE_EQ(m["window_shift_s"].get<double>(), low.latency_ms.p50 * 1e-3);
  EXPECT_EQ(m["achieved_fraction"].get<double>(),
            m["window_answered"].get<double>() / m["queries"].get<double>());
  EXPECT_DOUBLE_EQ(m["window_offered_qps"].get<double>(), 2000 / m["window_s"].get<double>());
  EXPECT_GT(m["achieved_fraction"].get<double>(), 0.99);

  // Twice the engine's capacity: within the window it answers half of what arrived, however far
  // the window is shifted (its median latency is seconds); the drain after it (every request is
  // still answered, dropped 0) does not count.
  const ScenarioResult high = run_server(engine, make_images(1), config(200, 1, 0, 2000), clock);
  const auto& h = high.metrics;
  std::cout << "200 qps offered to 100 qps: achieved fraction " << h["achieved_fraction"]
            << ", window " << h["window_achieved_qps"] << " of " << h["window_offered_qps"]
            << " qps\n";
  EXPECT_EQ(h["dropped"], 0);
  EXPECT_NEAR(h["achieved_fraction"].get<double>(), 0.5, 0.03);
  EXPECT_NEAR(h["window_achieved_qps"].get<double>(), 100, 3);
}

}  // namespace
}  // namespace infermark
