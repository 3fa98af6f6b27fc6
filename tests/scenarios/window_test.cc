// Energy is metered over exactly the window whose images are counted: window meters start
// after the warm-up and stop with the timed region, and each find-peak probe (and each run
// confirming its peak) is metered on its own (item 4 of the trustworthy-numbers issue).
#include <gtest/gtest.h>

#include "meters/energy.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

// A meter at constant power on the virtual clock: energy_j = watts x the time it ran.
class ConstantPowerMeter final : public Meter {
 public:
  ConstantPowerMeter(Clock& clock, double watts) : clock_(clock), watts_(watts) {}
  std::string name() const override { return "constant"; }
  void start() override {
    ++starts;
    t0_ = clock_.now();
  }
  void stop(nlohmann::json& metrics) override {
    ++stops;
    metrics["energy_j"] = watts_ * (clock_.now() - t0_);
  }
  int starts = 0, stops = 0;

 private:
  Clock& clock_;
  double watts_, t0_ = 0;
};

TEST(EnergyWindow, OfflineMetersTheTimedIterationsOnly) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0x1.0p-8, 0x1.0p-10);  // batch 4: 2^-7 s per iteration
  ConstantPowerMeter meter(clock, 100);
  RunLimits l;
  l.warmup_iterations = 50;  // a long warm-up: counted, it would inflate the energy by 39%
  l.warmup_s = 0;
  l.min_duration_s = 1.0;
  l.min_iterations = 10;
  l.max_duration_s = 10;
  ScenarioResult r = run_offline(engine, make_images(4), l, clock, {&meter});
  EXPECT_EQ(meter.starts, 1);
  EXPECT_EQ(meter.stops, 1);
  EXPECT_EQ(r.metrics["energy_j"].get<double>(), 100.0 * r.metrics["timed_s"].get<double>());
  add_energy_per_image(r.metrics);
  // 100 W x 2^-7 s per batch of 4 images.
  EXPECT_DOUBLE_EQ(r.metrics["energy_per_image_j"].get<double>(), 100.0 * 0x1.0p-7 / 4);
}

TEST(EnergyWindow, ServerMetersItsArrivalsNotItsWarmUp) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.25, 0);  // warm-up runs cost 0.25 s each, outside the window
  ConstantPowerMeter meter(clock, 10);
  ServerConfig c;
  c.rate_qps = 2;
  c.max_batch = 1;
  c.max_queue_delay_ms = 0;
  c.duration_s = 5;
  c.min_queries = 5;
  ScenarioResult r = run_server(engine, make_images(1), c, clock, {&meter});
  EXPECT_EQ(meter.starts, 1);
  EXPECT_NEAR(r.metrics["energy_j"].get<double>(), 10.0 * r.metrics["timed_s"].get<double>(), 1e-9);
}

TEST(EnergyWindow, EachPeakProbeHasItsOwnEnergy) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.01, 0);
  ConstantPowerMeter meter(clock, 50);
  ServerConfig c;
  c.max_batch = 1;
  c.max_queue_delay_ms = 0;
  c.duration_s = 2;
  c.min_queries = 20;
  PeakSearch s;
  s.slo_p99_ms = 30;
  s.lo_qps = 10;
  s.hi_qps = 200;
  const PeakResult p = find_peak(engine, make_images(1), c, s, clock, {&meter});
  ASSERT_GE(p.probes.size(), 2u);
  // Each probe and each run confirming the peak is metered on its own.
  EXPECT_EQ(meter.starts, static_cast<int>(p.probes.size() + p.confirmations.size()));
  EXPECT_EQ(meter.stops, meter.starts);
  EXPECT_NEAR(p.run.metrics["energy_j"].get<double>(),
              50.0 * p.run.metrics["timed_s"].get<double>(), 1e-9);
  for (const auto& probe : p.probes) {
    ASSERT_TRUE(probe.contains("energy_per_image_j")) << probe.dump();
    EXPECT_DOUBLE_EQ(probe["energy_per_image_j"].get<double>(),
                     probe["energy_j"].get<double>() / probe["images"].get<double>());
  }
}

}  // namespace
}  // namespace infermark
