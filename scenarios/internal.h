#pragma once

// Shared pieces of the scenario drivers: input and limit checks, the warm-up + timed loop,
// the seeded arrival schedule, and the summary of request latencies. Internal to scenarios/
// (its tests, and load/, whose generator reports as the server scenario does).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/metrics.h"
#include "core/statistics.h"
#include "core/tensor.h"
#include "scenarios/clock.h"
#include "scenarios/scenario.h"

namespace infermark::scenarios_internal {

// "%g" of a value, for error messages.
inline std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Throws Error unless t is [N >= 1, C, H, W] with data for every element. what: "offline
// input", "server images", ...
inline void check_images(const Tensor& t, const std::string& what) {
  if (t.shape.size() != 4)
    throw Error(what + " must be rank 4 [N, C, H, W], got shape " + shape_string(t.shape));
  if (t.shape[0] < 1) throw Error(what + " batch must be >= 1, got " + std::to_string(t.shape[0]));
  for (size_t i = 1; i < 4; ++i)
    if (t.shape[i] < 1)
      throw Error(what + " dimension " + std::to_string(i) + " must be >= 1, got shape " +
                  shape_string(t.shape));
  if (static_cast<int64_t>(t.data.size()) != t.numel())
    throw Error(what + " holds " + std::to_string(t.data.size()) + " floats but shape " +
                shape_string(t.shape) + " needs " + std::to_string(t.numel()));
}

// Throws Error naming the first insane field of limits.
inline void check_limits(const RunLimits& l) {
  if (!(l.warmup_s >= 0) || !std::isfinite(l.warmup_s))
    throw Error("limits warmup_s must be finite and >= 0, got " + num(l.warmup_s));
  if (l.warmup_iterations < 0)
    throw Error("limits warmup_iterations must be >= 0, got " +
                std::to_string(l.warmup_iterations));
  if (!(l.min_duration_s >= 0) || !std::isfinite(l.min_duration_s))
    throw Error("limits min_duration_s must be finite and >= 0, got " + num(l.min_duration_s));
  if (!(l.max_duration_s >= l.min_duration_s) || !std::isfinite(l.max_duration_s))
    throw Error("limits max_duration_s must be finite and >= min_duration_s (" +
                num(l.min_duration_s) + "), got " + num(l.max_duration_s));
  if (l.min_iterations < 1)
    throw Error("limits min_iterations must be >= 1, got " + std::to_string(l.min_iterations));
  if (!(l.cv_threshold >= 0))
    throw Error("limits cv_threshold must be >= 0, got " + num(l.cv_threshold));
}

// What the warm-up + timed loop saw.
struct LoopResult {
  std::vector<double> latencies_ms;  // one per timed iteration, engine work only
  int64_t warmup_iterations = 0;
  double warmup_s = 0;
  double timed_s = 0;             // first timed iteration's start to last one's end
  double busy_s = 0;              // sum of per-iteration times
  bool hit_max_duration = false;  // stopped by max_duration_s before min_iterations/min_duration
  nlohmann::json window_metrics = nlohmann::json::object();  // the window meters' figures
};

inline void start_window(const WindowMeters& window) {
  for (Meter* m : window) m->start();
}
inline void stop_window(const WindowMeters& window, nlohmann::json& metrics) {
  for (Meter* m : window) m->stop(metrics);
}

// Untimed warm-up (at least warmup_iterations and warmup_s), then timed iterations until
// min_duration_s and min_iterations are both met, or max_duration_s has passed. Each
// iteration is timed by two clock reads around `iteration()`; everything between them is the
// work, everything else the harness's bookkeeping (timed_s - busy_s).
template <class F>
LoopResult timed_loop(Clock& clock, const RunLimits& limits, F&& iteration,
                      const WindowMeters& window = {}) {
  LoopResult r;
  const double w0 = clock.now();
  double t = w0;
  while (r.warmup_iterations < limits.warmup_iterations || t - w0 < limits.warmup_s) {
    iteration();
    ++r.warmup_iterations;
    t = clock.now();
  }
  r.warmup_s = t - w0;

  r.latencies_ms.reserve(
      static_cast<size_t>(std::clamp<int64_t>(limits.min_iterations, 4096, int64_t{1} << 22)));
  double busy = 0;
  int64_t n = 0;
  start_window(window);
  double t0 = clock.now();
  const double start = t0;
  double t1 = t0;
  for (;;) {
    iteration();
    t1 = clock.now();
    busy += t1 - t0;
    r.latencies_ms.push_back((t1 - t0) * 1e3);
    ++n;
    const double elapsed = t1 - start;
    if (n >= limits.min_iterations && elapsed >= limits.min_duration_s) break;
    if (elapsed >= limits.max_duration_s) {
      r.hit_max_duration = true;
      break;
    }
    t0 = clock.now();
  }
  stop_window(window, r.window_metrics);
  r.timed_s = t1 - start;
  r.busy_s = busy;
  return r;
}

// The metrics every looped scenario reports. images_per_iteration: the batch.
inline ScenarioResult loop_result(LoopResult&& loop, int64_t images_per_iteration,
                                  const RunLimits& limits) {
  ScenarioResult r;
  const auto n = static_cast<int64_t>(loop.latencies_ms.size());
  const double overhead_s = std::max(0.0, loop.timed_s - loop.busy_s);
  nlohmann::json& m = r.metrics;
  m = std::move(loop.window_metrics);
  m["iterations"] = n;
  m["batch"] = images_per_iteration;
  m["images"] = n * images_per_iteration;
  m["timed_s"] = loop.timed_s;
  m["warmup_iterations"] = loop.warmup_iterations;
  m["warmup_s"] = loop.warmup_s;
  m[metric::kThroughputIps] =
      loop.timed_s > 0 ? static_cast<double>(n * images_per_iteration) / loop.timed_s : 0.0;
  // Time between one iteration's end and the next one's start (clock reads, sample
  // bookkeeping, the stopping test): what the harness itself costs per iteration.
  m["harness_overhead_us_per_iteration"] =
      n > 1 ? overhead_s / static_cast<double>(n - 1) * 1e6 : 0.0;
  m["harness_overhead_fraction"] = loop.timed_s > 0 ? overhead_s / loop.timed_s : 0.0;
  m["stopped_by"] = loop.hit_max_duration ? "max_duration_s" : "limits_met";
  r.latency_ms = summarize(loop.latencies_ms, limits.cv_threshold);
  r.latencies_ms = std::move(loop.latencies_ms);
  return r;
}

// The latency of requests (server, load): their summary and its figures in the metrics.
// Request latencies spread by design (queueing), so the repeat-stability test of summarize()
// does not apply: no coefficient-of-variation threshold.
inline void set_request_latencies(ScenarioResult& r, std::vector<double> latencies_ms) {
  r.latency_ms = summarize(latencies_ms, std::numeric_limits<double>::infinity());
  r.metrics["latency_mean_ms"] = r.latency_ms.mean;
  r.metrics["latency_p50_ms"] = r.latency_ms.p50;
  r.metrics["latency_p99_ms"] = r.latency_ms.p99;
  r.latencies_ms = std::move(latencies_ms);
}

// The arrival window of an open-loop run and the share of its schedule answered within it:
// achieved_fraction, what the peak rule reads (core/peak_rule.h). The window is as long as
// the arrivals (from the start to the last scheduled arrival: window_s) and shifted by the
// answered queries' median latency (window_shift_s), so that the queries in flight at its start
// balance those in flight at its end: a server that keeps up answers nearly all of its
// schedule within it, whatever its latency; one that does not answers what it can in that
// time, and its drain beyond the window does not count. answered: each answered query's
// scheduled arrival and its latency, in seconds.
inline void set_arrival_window(nlohmann::json& m, double window_s, int64_t queries,
                               const std::vector<std::pair<double, double>>& answered) {
  std::vector<double> latencies;
  latencies.reserve(answered.size());
  for (const auto& [arrival, latency] : answered) latencies.push_back(latency);
  std::sort(latencies.begin(), latencies.end());
  const double shift = latencies.empty() ? 0.0 : percentile(latencies, 0.5);
  int64_t answered_in_window = 0;
  for (const auto& [arrival, latency] : answered)
    if (arrival + latency >= shift && arrival + latency <= window_s + shift) ++answered_in_window;
  m["window_s"] = window_s;
  m["window_shift_s"] = shift;
  m["window_answered"] = answered_in_window;
  m["window_offered_qps"] = window_s > 0 ? static_cast<double>(queries) / window_s : 0.0;
  m["window_achieved_qps"] =
      window_s > 0 ? static_cast<double>(answered_in_window) / window_s : 0.0;
  m["achieved_fraction"] =
      queries > 0 ? static_cast<double>(answered_in_window) / static_cast<double>(queries) : 0.0;
}

// A double uniform in (0, 1] from the top 53 bits of one mt19937_64 draw (the same on every
// standard library, unlike std::uniform_real_distribution).
inline double uniform_open0(std::mt19937_64& rng) {
  return static_cast<double>((rng() >> 11) + 1) * 0x1.0p-53;
}

// Arrival times (seconds from 0, ascending) of a Poisson process of rate_qps: exponential
// inter-arrival times by inverse CDF, -ln(u) / rate, until duration_s has passed and at least
// min_queries have arrived.
inline std::vector<double> poisson_arrivals(double rate_qps, double duration_s, int64_t min_queries,
                                            uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> arrivals;
  arrivals.reserve(static_cast<size_t>(
      std::max<double>(static_cast<double>(min_queries), rate_qps * duration_s * 1.01 + 16)));
  double t = 0;
  for (;;) {
    t += -std::log(uniform_open0(rng)) / rate_qps;
    if (t > duration_s && static_cast<int64_t>(arrivals.size()) >= min_queries) break;
    arrivals.push_back(t);
  }
  return arrivals;
}

}  // namespace infermark::scenarios_internal
