#pragma once

// When a server run at an offered rate meets a p99 latency target: the one rule of the
// find-peak search's probes, of the full-length runs that confirm its peak (bench and sweep
// cells, in process and through a transport) and of `infermark load --find-peak`; the report
// applies it to the rows of files written before runs recorded their verdict, and
// confirmed_peak_qps (core/result.h) reads a row's peak by it. Header only.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace infermark {

// A p99 needs queries above it: at least kP99TailQueries of the answered queries must lie
// above the 99th percentile, so at least kP99TailQueries / (1 - 0.99) answered queries. With n
// = 100 k answered queries exactly k lie above the sample p99 (linear interpolation between
// order statistics, core/statistics.cc); with fewer than 100 the sample p99 lies between the
// two largest latencies: the maximum in all but name. A find-peak run serves at least
// kMinQueriesForP99 queries (its schedule extended as min_queries extends it).
inline constexpr int64_t kP99TailQueries = 1;
inline constexpr int64_t kMinQueriesForP99 = kP99TailQueries * 100;

// The run must achieve the rate it was offered: the queries answered within the arrival window
// over the queries the schedule offered in it, at least this share. The window is as long as
// the arrivals (from the run's start to the last scheduled arrival) and shifted by the run's
// median latency, so that the queries in flight at its two edges balance (a server that keeps
// up is not charged for its latency) and the drain beyond it is excluded (a server that falls
// behind is charged for its backlog): scenarios/internal.h, set_arrival_window. Over the
// schedule's own arrivals, not the nominal rate, from which a seeded Poisson schedule of n
// queries differs by about 1 / sqrt(n) (10% at 100 queries).
inline constexpr double kMinAchievedFraction = 0.95;

// What the rule reads of a run.
struct RateFigures {
  double p99_ms = NAN;           // of the answered queries
  int64_t queries = 0;           // scheduled (sent)
  int64_t answered = 0;          // answered with a result
  double achieved_fraction = 0;  // answered within the arrival window / queries scheduled
};

struct RateVerdict {
  bool meets = false;
  std::string reason;  // why not ("; " between several); empty when it meets
};

// Meets when every query was answered (none refused or failed), at least kMinQueriesForP99 of
// them, achieved_fraction >= kMinAchievedFraction, and p99 <= slo_p99_ms.
inline RateVerdict meets_rate_rule(const RateFigures& run, double slo_p99_ms) {
  auto g = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return std::string(buf);
  };
  std::string why;
  auto add = [&](const std::string& s) { why += (why.empty() ? "" : "; ") + s; };
  if (run.answered < run.queries)
    add(std::to_string(run.queries - run.answered) + " of " + std::to_string(run.queries) +
        " queries got no result (refused or failed)");
  if (run.answered < kMinQueriesForP99)
    add(std::to_string(run.answered) + " queries answered; a p99 needs at least " +
        std::to_string(kMinQueriesForP99));
  if (!(run.achieved_fraction >= kMinAchievedFraction))
    add("achieved " + g(100 * run.achieved_fraction) +
        "% of the offered rate within the arrival window (needs " + g(100 * kMinAchievedFraction) +
        "%)");
  if (!(run.p99_ms <= slo_p99_ms))
    add("p99 " + g(run.p99_ms) + " ms over the " + g(slo_p99_ms) + " ms target");
  return {why.empty(), why};
}

}  // namespace infermark
