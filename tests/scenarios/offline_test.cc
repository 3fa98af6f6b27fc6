#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

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

// A request that waits `ms` per batch without using a core (what a framework waiting on a
// device or a lock looks like), counting the images it ran and the most calls in progress at
// once over every request sharing `in_progress`; throws when told.
class WaitingEngine final : public Engine {
 public:
  WaitingEngine(int ms, std::atomic<int>& in_progress, std::atomic<int>& most)
      : ms_(ms), in_progress_(in_progress), most_(most) {}
  void run(const TensorView& input, Tensor& output) override {
    const int now = ++in_progress_;
    int seen = most_.load();
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_));
    --in_progress_;
    images += input.shape[0];
    if (output.shape.empty()) output.resize({input.shape[0], 2});
    if (fail_after >= 0 && images > fail_after) throw Error("request failed as asked");
  }
  nlohmann::json settings_in_effect() const override { return nlohmann::json::object(); }
  int64_t images = 0;
  int64_t fail_after = -1;

 private:
  int ms_;
  std::atomic<int>& in_progress_;
  std::atomic<int>& most_;
};

// N requests run at once, every image of every request counts over the one window, latency is
// per request.
TEST(OfflineConcurrent, RequestsRunAtOnceAndEveryImageCounts) {
  SteadyClock clock;
  std::atomic<int> in_progress{0}, most{0};
  std::vector<std::unique_ptr<WaitingEngine>> engines;
  std::vector<Engine*> requests;
  for (int i = 0; i < 3; ++i) {
    engines.push_back(std::make_unique<WaitingEngine>(10, in_progress, most));
    requests.push_back(engines.back().get());
  }
  RunLimits l = limits(0.2, 12, 10);
  l.warmup_iterations = 1;
  const ScenarioResult r = run_offline_concurrent(requests, make_images(2), l, clock);
  EXPECT_EQ(most.load(), 3);
  EXPECT_EQ(r.metrics["concurrency"], 3);
  ASSERT_EQ(r.metrics["iterations_per_request"].size(), 3u);
  int64_t iterations = 0, images_timed = 0;
  for (size_t i = 0; i < 3; ++i) {
    const int64_t n = r.metrics["iterations_per_request"][i].get<int64_t>();
    EXPECT_GE(n, 3) << "request " << i;
    iterations += n;
    images_timed += 2 * n;
    EXPECT_EQ(engines[i]->images, 2 * (n + 1)) << "one warm-up iteration each";
  }
  EXPECT_EQ(r.metrics["iterations"], iterations);
  EXPECT_EQ(r.metrics["images"], images_timed);
  EXPECT_EQ(r.latencies_ms.size(), static_cast<size_t>(iterations));
  const double timed = r.metrics["timed_s"].get<double>();
  EXPECT_GE(timed, 0.2);
  EXPECT_DOUBLE_EQ(r.metrics["throughput_ips"].get<double>(), images_timed / timed);
  // Three requests of 10 ms at once: well over one request's 200 images/s of batch 2.
  EXPECT_GT(r.metrics["throughput_ips"].get<double>(), 1.5 * 200);
  EXPECT_GE(r.latency_ms.min, 10.0);
}

// A request that fails stops the others and the error reaches the caller: no hang.
TEST(OfflineConcurrent, AFailingRequestStopsTheRunWithItsError) {
  SteadyClock clock;
  std::atomic<int> in_progress{0}, most{0};
  WaitingEngine good(1, in_progress, most), bad(1, in_progress, most);
  bad.fail_after = 4;
  try {
    run_offline_concurrent({&good, &bad}, make_images(1), limits(30, 10, 60), clock);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "request failed as asked");
  }
  // One request is the plain offline run.
  const ScenarioResult one =
      run_offline_concurrent({&good}, make_images(1), limits(0, 3, 1), clock);
  EXPECT_EQ(one.metrics["concurrency"], 1);
  EXPECT_THROW(run_offline_concurrent({}, make_images(1), limits(0, 3, 1), clock), Error);
}

}  // namespace
}  // namespace infermark
