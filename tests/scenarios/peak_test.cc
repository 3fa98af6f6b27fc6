#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "core/error.h"
#include "meters/meter.h"
#include "meters/summary.h"
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

// From a start near the capacity the search finds the same peak (within its tolerance) as from
// lo, with no probe at lo; from a start above the capacity it halves down first.
TEST(FindPeak, AStartNearTheCapacityBracketsItWithoutProbingLo) {
  const Tensor images = make_images(8);
  auto search_from = [&](double start) {
    VirtualClock clock;
    FakeEngine engine(&clock, 0.002, 0.001);  // 3 ms single; capacity at batch 8: 800 qps
    PeakSearch search;
    search.slo_p99_ms = 50;
    search.lo_qps = 10;
    search.hi_qps = 4000;
    search.start_qps = start;
    search.max_probes = 16;
    return find_peak(engine, images, probe_config(), search, clock);
  };
  const PeakResult from_lo = search_from(0);
  const PeakResult near = search_from(333);
  const PeakResult above = search_from(3000);
  ASSERT_GT(from_lo.peak_qps, 10);
  for (const PeakResult* p : {&near, &above}) {
    ASSERT_TRUE(p->confirmed);
    EXPECT_NEAR(p->peak_qps, from_lo.peak_qps, 0.1 * from_lo.peak_qps) << p->probes.dump();
    for (const auto& probe : p->probes) EXPECT_GT(probe["rate_qps"].get<double>(), 10);
  }
  EXPECT_EQ(near.probes[0]["rate_qps"].get<double>(), 333);
  EXPECT_TRUE(near.probes[0]["meets"].get<bool>());
  EXPECT_EQ(near.probes[1]["rate_qps"].get<double>(), 4000) << "then hi";
  EXPECT_FALSE(above.probes[0]["meets"].get<bool>());
  EXPECT_EQ(above.probes[1]["rate_qps"].get<double>(), 1500) << "halved";
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

// ---------------------------------------------------------------------------------------------
// The rule a rate must meet (core/peak_rule.h).

RateFigures good_run() {
  RateFigures f;
  f.p99_ms = 20;
  f.queries = 200;
  f.answered = 200;
  f.achieved_fraction = 0.99;
  return f;
}

TEST(PeakRule, MeetsOnlyWithEveryPart) {
  EXPECT_TRUE(meets_rate_rule(good_run(), 50).meets);
  EXPECT_TRUE(meets_rate_rule(good_run(), 50).reason.empty());
  RateFigures edge = good_run();
  edge.p99_ms = 50;  // at the target: meets
  edge.queries = edge.answered = kMinQueriesForP99;
  edge.achieved_fraction = kMinAchievedFraction;
  EXPECT_TRUE(meets_rate_rule(edge, 50).meets) << meets_rate_rule(edge, 50).reason;

  RateFigures slow = good_run();
  slow.p99_ms = 50.5;
  EXPECT_FALSE(meets_rate_rule(slow, 50).meets);
  EXPECT_NE(meets_rate_rule(slow, 50).reason.find("p99 50.5 ms over the 50 ms target"),
            std::string::npos);
  slow.p99_ms = NAN;  // no p99 at all
  EXPECT_FALSE(meets_rate_rule(slow, 50).meets);
}

// A run that does not achieve the rate it was offered does not meet, however low its p99: here
// 70% of the schedule answered within the arrival window, the rest after it.
TEST(PeakRule, AchievingSeventyPercentOfTheOfferedRateDoesNotMeet) {
  RateFigures f = good_run();
  f.p99_ms = 1;
  f.achieved_fraction = 0.7;
  const RateVerdict v = meets_rate_rule(f, 50);
  EXPECT_FALSE(v.meets);
  EXPECT_NE(v.reason.find("achieved 70% of the offered rate"), std::string::npos) << v.reason;
  f.achieved_fraction = 0.949;
  EXPECT_FALSE(meets_rate_rule(f, 50).meets);
}

// Too few queries for a p99 (fewer than 100: at least one above the 99th percentile) does not
// meet, nor does a run whose queries were not all answered.
TEST(PeakRule, TooFewQueriesOrUnansweredOnesDoNotMeet) {
  RateFigures few = good_run();
  few.queries = few.answered = kMinQueriesForP99 - 1;
  const RateVerdict v = meets_rate_rule(few, 50);
  EXPECT_FALSE(v.meets);
  EXPECT_NE(v.reason.find("99 queries answered; a p99 needs at least 100"), std::string::npos)
      << v.reason;

  RateFigures refused = good_run();
  refused.answered = refused.queries - 1;
  EXPECT_FALSE(meets_rate_rule(refused, 50).meets);
  EXPECT_NE(meets_rate_rule(refused, 50).reason.find("1 of 200 queries got no result"),
            std::string::npos);
}

// The rule as the drivers apply it to a run (meets_target reads a ScenarioResult).
TEST(PeakRule, AppliedToServerRuns) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.010, 0);  // 100 qps at most
  ServerConfig c;
  c.max_batch = 1;
  c.max_queue_delay_ms = 0;
  c.duration_s = 0;
  c.seed = 3;
  c.rate_qps = 20;
  c.min_queries = kMinQueriesForP99 - 1;  // a p99 of 99 queries: too few
  const ScenarioResult few = run_server(engine, make_images(1), c, clock);
  EXPECT_LT(few.latency_ms.p99, 50);
  EXPECT_FALSE(meets_target(few, 50).meets);
  c.min_queries = 400;
  const ScenarioResult enough = run_server(engine, make_images(1), c, clock);
  EXPECT_TRUE(meets_target(enough, 50).meets) << meets_target(enough, 50).reason;
  const nlohmann::json rec = rate_record(20, enough, 50);
  EXPECT_EQ(rec["meets"], true);
  EXPECT_EQ(rec["queries"], 400);
  EXPECT_EQ(rec["answered"], 400);
  EXPECT_FALSE(rec.contains("reason"));
}

// ---------------------------------------------------------------------------------------------
// The peak must hold when measured again (confirm_peak).

// A run of `queries` queries whose p99 is p99_ms and achieved_fraction `achieved`.
ScenarioResult fake_run(double rate_qps, double p99_ms, double achieved, int64_t queries = 200) {
  ScenarioResult r;
  std::vector<double> lat(static_cast<size_t>(queries), p99_ms);
  r.latency_ms = summarize(lat);
  r.metrics = {{"offered_qps", rate_qps},
               {"queries", queries},
               {"achieved_fraction", achieved},
               {"achieved_qps", achieved * rate_qps}};
  return r;
}

PeakSearch fake_search() {
  PeakSearch s;
  s.slo_p99_ms = 50;
  s.lo_qps = 10;
  s.hi_qps = 20;
  s.max_probes = 20;
  s.tolerance = 0.05;
  return s;
}

// Probes meet up to 100 qps, but a full-length run holds only up to 80: the search's peak is
// not reported; the rate steps down until a full-length run meets the rule, and the result's
// run (the row's figures) is that one.
TEST(ConfirmPeak, AProbeThatMeetsButWhoseConfirmingRunFailsIsNotThePeak) {
  const PeakSearch search = fake_search();
  auto probe = [](double rate) {
    return nlohmann::json{{"rate_qps", rate}, {"meets", rate <= 100}};
  };
  PeakResult peak = search_peak(probe, search, 0);
  const double searched = peak.peak_qps;
  ASSERT_GT(searched, 95);
  ASSERT_LE(searched, 100);
  std::vector<double> ran;
  confirm_peak(
      peak,
      [&](double rate) {
        ran.push_back(rate);
        return fake_run(rate, rate <= 80 ? 10 : 500, 0.99);
      },
      search);
  std::cout << "searched " << searched << " qps, confirmed " << peak.peak_qps << " qps after "
            << peak.confirmations.dump() << "\n";
  EXPECT_TRUE(peak.confirmed);
  EXPECT_TRUE(peak.reason.empty());
  EXPECT_LE(peak.peak_qps, 80);
  EXPECT_GT(peak.peak_qps, 40);
  ASSERT_GE(peak.confirmations.size(), 2u);
  ASSERT_EQ(peak.confirmations.size(), ran.size());
  // The first run at the search's peak, failing; every run above the reported peak failed; the
  // last run is at the reported peak, meets, and is the result's run.
  EXPECT_EQ(peak.confirmations.front()["rate_qps"].get<double>(), searched);
  EXPECT_FALSE(peak.confirmations.front()["meets"].get<bool>());
  EXPECT_NE(peak.confirmations.front()["reason"].get<std::string>().find("p99 500 ms"),
            std::string::npos);
  for (size_t i = 0; i + 1 < ran.size(); ++i) {
    EXPECT_GT(ran[i], ran[i + 1]);  // stepping down
    EXPECT_FALSE(peak.confirmations[i]["meets"].get<bool>());
  }
  EXPECT_EQ(peak.confirmations.back()["rate_qps"].get<double>(), peak.peak_qps);
  EXPECT_TRUE(peak.confirmations.back()["meets"].get<bool>());
  EXPECT_EQ(peak.run.metrics["offered_qps"].get<double>(), peak.peak_qps);
  EXPECT_TRUE(meets_target(peak.run, search.slo_p99_ms).meets);
  // The first step is the search's tolerance: a failure at the margin costs 5%, not more.
  EXPECT_DOUBLE_EQ(ran[1], searched * (1 - search.tolerance));
}

// A full-length run that does not achieve the offered rate fails however low its p99: the
// server here answers 60 qps whatever it is offered, its p99 always 1 ms.
TEST(ConfirmPeak, ARunBelowTheOfferedRateIsNotConfirmed) {
  const PeakSearch search = fake_search();
  auto probe = [](double rate) {
    return nlohmann::json{{"rate_qps", rate}, {"meets", rate <= 100}};
  };
  PeakResult peak = search_peak(probe, search, 0);
  confirm_peak(
      peak, [](double rate) { return fake_run(rate, 1, std::min(1.0, 60 / rate)); }, search);
  EXPECT_TRUE(peak.confirmed);
  EXPECT_LE(peak.peak_qps, 60 / kMinAchievedFraction);
  for (const auto& c : peak.confirmations)
    EXPECT_EQ(c["meets"].get<bool>(), c["achieved_fraction"].get<double>() >= 0.95) << c.dump();
  EXPECT_FALSE(peak.confirmations.front()["meets"].get<bool>());
}

// No full-length run holds down to lo_qps (here: every run too short for a p99): peak 0, not
// confirmed, with the reason; the last run is at lo_qps.
TEST(ConfirmPeak, ZeroWithTheReasonWhenNothingHoldsDownToLo) {
  const PeakSearch search = fake_search();
  auto probe = [](double rate) {
    return nlohmann::json{{"rate_qps", rate}, {"meets", rate <= 100}};
  };
  PeakResult peak = search_peak(probe, search, 0);
  confirm_peak(
      peak, [](double rate) { return fake_run(rate, 1, 1.0, kMinQueriesForP99 - 1); }, search);
  EXPECT_FALSE(peak.confirmed);
  EXPECT_EQ(peak.peak_qps, 0);
  EXPECT_EQ(peak.confirmations.back()["rate_qps"].get<double>(), search.lo_qps);
  EXPECT_LT(peak.confirmations.size(), 12u);  // the step doubles: lo is reached quickly
  EXPECT_NE(peak.reason.find("no rate down to 10 queries/s held"), std::string::npos)
      << peak.reason;
  EXPECT_NE(peak.reason.find("a p99 needs at least 100"), std::string::npos) << peak.reason;
  for (const auto& c : peak.confirmations) EXPECT_FALSE(c["meets"].get<bool>());
}

// An engine that slows down once `slow` is set (a machine that throttles, a neighbour that
// starts): each call costs `factor` times the FakeEngine's time.
class ThrottledEngine final : public Engine {
 public:
  ThrottledEngine(VirtualClock& clock, double a_s, double b_s, double factor)
      : clock_(clock), inner_(&clock, a_s, b_s), factor_(factor) {}
  void run(const TensorView& input, Tensor& output) override {
    inner_.run(input, output);
    if (slow) clock_.advance((factor_ - 1) * inner_.service_s(input.shape[0]));
  }
  nlohmann::json settings_in_effect() const override { return {{"engine", "throttled"}}; }
  bool slow = false;

 private:
  VirtualClock& clock_;
  FakeEngine inner_;
  double factor_;
};

// Counts the runs find_peak starts (a window meter starts with each run) and throttles the
// engine from run `from` on: the search's probes see the fast engine, the runs that confirm its
// peak the slow one.
class ThrottleFrom final : public Meter {
 public:
  ThrottleFrom(ThrottledEngine& engine, int from) : engine_(engine), from_(from) {}
  std::string name() const override { return "throttle"; }
  void start() override { engine_.slow = ++runs >= from_; }
  void stop(nlohmann::json&) override {}
  int runs = 0;

 private:
  ThrottledEngine& engine_;
  int from_;
};

TEST(FindPeak, ThePeakIsTheRateWhoseFullLengthRunHolds) {
  const Tensor images = make_images(8);
  PeakSearch search;
  search.slo_p99_ms = 50;
  search.lo_qps = 10;
  search.hi_qps = 100;
  search.max_probes = 16;
  // The same search on an engine that never slows: its probes, and its peak confirmed at once.
  VirtualClock clock0;
  ThrottledEngine steady(clock0, 0.002, 0.001, 1.6);
  const PeakResult plain = find_peak(steady, images, probe_config(), search, clock0);
  ASSERT_TRUE(plain.confirmed);
  ASSERT_EQ(plain.confirmations.size(), 1u);
  const auto n_probes = static_cast<int>(plain.probes.size());

  VirtualClock clock;
  ThrottledEngine engine(clock, 0.002, 0.001, 1.6);
  ThrottleFrom throttle(engine, n_probes + 1);
  const PeakResult peak = find_peak(engine, images, probe_config(), search, clock, {&throttle});
  std::cout << "probes found " << plain.peak_qps << " qps; throttled, confirmed " << peak.peak_qps
            << " qps after " << peak.confirmations.size() << " runs\n";
  EXPECT_EQ(peak.probes, plain.probes);  // the same search
  ASSERT_TRUE(peak.confirmed) << peak.reason;
  EXPECT_LT(peak.peak_qps, plain.peak_qps);
  EXPECT_GT(peak.peak_qps, 0);
  // The searched peak, measured again on the slowed engine, failed and is not the peak.
  EXPECT_EQ(peak.confirmations.front()["rate_qps"].get<double>(), plain.peak_qps);
  EXPECT_FALSE(peak.confirmations.front()["meets"].get<bool>());
  EXPECT_EQ(throttle.runs, n_probes + static_cast<int>(peak.confirmations.size()));
  // The result's run is at the reported peak and meets the target by its own figures.
  EXPECT_EQ(peak.run.metrics["offered_qps"].get<double>(), peak.peak_qps);
  EXPECT_LE(peak.run.latency_ms.p99, search.slo_p99_ms);
  EXPECT_GE(peak.run.metrics["achieved_fraction"].get<double>(), kMinAchievedFraction);
  // A slowed engine does 1 / 1.6 of the work: the confirmed peak is below its capacity.
  EXPECT_LT(peak.peak_qps, 800 / 1.6);
}

// A short configuration still gives every probe and confirming run enough queries for a p99.
TEST(FindPeak, EveryRunServesEnoughQueriesForAP99) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.002, 0.001);
  ServerConfig c = probe_config();
  c.duration_s = 0.1;
  c.min_queries = 10;
  PeakSearch search;
  search.slo_p99_ms = 50;
  search.lo_qps = 10;
  search.hi_qps = 100;
  const PeakResult peak = find_peak(engine, make_images(8), c, search, clock);
  for (const auto& p : peak.probes) EXPECT_GE(p["queries"].get<int64_t>(), kMinQueriesForP99);
  for (const auto& p : peak.confirmations)
    EXPECT_GE(p["queries"].get<int64_t>(), kMinQueriesForP99);
  EXPECT_TRUE(peak.confirmed);
  EXPECT_GT(peak.peak_qps, 100);
}

}  // namespace
}  // namespace infermark
