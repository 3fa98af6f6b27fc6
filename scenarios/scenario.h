#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/peak_rule.h"
#include "core/result.h"
#include "core/tensor.h"
#include "meters/meter.h"
#include "meters/summary.h"
#include "scenarios/clock.h"

namespace infermark {

// Raw samples and their summary, kept apart (the summary carries its own validity).
// Its implicit default constructor does not throw: clang-tidy 14 follows nlohmann::json's
// noexcept default constructor to a throw that a null value never reaches (json.hpp silences
// the same finding on that constructor).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct ScenarioResult {
  std::vector<double> latencies_ms;  // per iteration (offline, single-stream) or per request
  Summary latency_ms;
  nlohmann::json metrics;  // throughput_ips, iterations, timed_s, ... (units in names)
};

// Meters started where a scenario's timed region begins (after its warm-up) and stopped where
// it ends, so that what they measure (energy) covers exactly the images the scenario counts.
// Their figures land in the scenario's metrics; a find-peak probe's land in its probe.
using WindowMeters = std::vector<Meter*>;

// Offline (batch applications): the same batch again and again; throughput = images / timed
// wall time. input: [batch, C, H, W], prepared before the call.
ScenarioResult run_offline(Engine& engine, const Tensor& input, const RunLimits& limits,
                           Clock& clock, const WindowMeters& window = {});

// Offline with several requests in flight (bench --concurrency): one thread per request
// (requests on one loaded model, Engine::new_request, or engines loaded apart), each running
// the same batch again and again, all warmed up at once and timed from one start; throughput =
// every request's images / wall time of the whole window; latency per request. Stops when
// min_iterations (counted over all requests) and min_duration_s are met, or at
// max_duration_s. The clock is read from every thread (SteadyClock). metrics add concurrency
// and iterations_per_request. One request is run_offline.
ScenarioResult run_offline_concurrent(const std::vector<Engine*>& requests, const Tensor& input,
                                      const RunLimits& limits, Clock& clock,
                                      const WindowMeters& window = {});

// Single-stream (data-flow applications): one image, one query after another.
ScenarioResult run_single_stream(Engine& engine, const Tensor& image, const RunLimits& limits,
                                 Clock& clock, const WindowMeters& window = {});

// Server (web services): open-loop Poisson arrivals at rate_qps from a seeded schedule, a
// dynamic batcher in front of the engine (a batch leaves when max_batch requests wait or the
// oldest has waited max_queue_delay_ms), latency from each request's scheduled arrival to
// its batch's completion (no coordinated omission). ServerConfig: core/result.h.
// images: [max_batch, C, H, W]; batches are views of its first N images. The engine must
// accept any batch size up to max_batch. metrics: achieved_qps, offered_qps, queries,
// batch_histogram {size: count}, mean_batch, p50/p99 latency, dropped (0: none are), and the
// arrival window (scenarios/internal.h set_arrival_window: as long as the arrivals, window_s,
// shifted by the median latency, window_shift_s; the drain beyond it excluded):
// window_answered (queries answered within it), window_offered_qps and window_achieved_qps
// (queries scheduled and answered / window_s), achieved_fraction (window_answered / queries).
ScenarioResult run_server(Engine& engine, const Tensor& images, const ServerConfig& config,
                          Clock& clock, const WindowMeters& window = {});

// The rule of core/peak_rule.h applied to a server run (run_server, load::run_load):
// its p99, queries, answered queries (those with a latency) and achieved_fraction.
RateVerdict meets_target(const ScenarioResult& run, double slo_p99_ms);

// A run's record as the peak search and its confirmation keep it: rate_qps, p99_ms, meets
// (meets_target), reason (where it does not), queries, answered, achieved_qps,
// achieved_fraction.
nlohmann::json rate_record(double rate_qps, const ScenarioResult& run, double slo_p99_ms);

// The highest offered rate that meets slo_p99_ms by the rule of core/peak_rule.h, by
// bisection between lo_qps and hi_qps (hi is doubled first until it fails), each probe a
// run_server of the configuration's length; then confirmed by full-length runs
// (confirm_peak). With start_qps the first probe is there instead of at lo_qps: from a rate
// near the capacity (what one request after another achieves) the bracket is found in two
// probes, and no probe crawls at lo_qps, where serving the queries a p99 needs takes longest.
struct PeakSearch {
  double slo_p99_ms = 100;
  double lo_qps = 1;
  double hi_qps = 0;  // 0: start from 2x the single-request throughput measured first
  // 0: the first probe at lo_qps. Otherwise the first probe here (within [lo_qps, hi_qps]):
  // when it meets, the search doubles upwards from it (hi_qps first) until a probe fails; when
  // it fails, it halves downwards (lo_qps the last) until a probe meets; then bisection.
  double start_qps = 0;
  int max_probes = 12;
  double tolerance = 0.05;  // stop when (hi - lo) / lo < tolerance
};
// Its implicit default constructor does not throw (a json member, as ScenarioResult).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct PeakResult {
  // search_peak: the highest rate whose probe met the rule. confirm_peak: the highest rate
  // whose full-length run met it (confirmed), or 0 when none down to lo_qps did.
  double peak_qps = 0;
  nlohmann::json probes;  // the search's records (rate_record and the prober's own figures)
  bool confirmed = false;
  nlohmann::json confirmations = nlohmann::json::array();  // the confirming runs' records
  std::string reason;  // why no peak was confirmed; empty when one was
  ScenarioResult run;  // the last confirming run: the one at peak_qps when confirmed
};

// find_peak's search over any probe (the in-process server, or a load generator against a
// server over the network): probe(rate) runs one probe at rate and returns its record, which
// must hold "meets" (bool); it is kept in PeakResult::probes. hi_qps: where doubling starts
// (search.hi_qps when not 0). Throws Error on an invalid search.
PeakResult search_peak(const std::function<nlohmann::json(double rate_qps)>& probe,
                       const PeakSearch& search, double hi_qps);

// The peak must hold when measured again: run(rate) runs at rate with the full measurement's
// length and returns the run. The first run is at the search's peak (at lo_qps where it found
// none). A run that fails the rule steps the rate down by search.tolerance, the step doubling
// after each failure (5%, 10%, 20%, ... of the rate, never below lo_qps), until a run meets
// the rule: peak_qps is its rate, confirmed. When the run at lo_qps fails too, peak_qps is 0,
// not confirmed, with the reason. Every run's rate_record lands in confirmations; `run` is the
// last run (the row's figures: a peak never stands next to figures that fail it).
void confirm_peak(PeakResult& peak, const std::function<ScenarioResult(double rate_qps)>& run,
                  const PeakSearch& search);

// What a find-peak row records of it: peak_qps, slo_p99_ms, probes, peak_confirmations,
// peak_confirmed, and peak_reason where no peak was confirmed.
void add_peak_metrics(const PeakResult& peak, double slo_p99_ms, nlohmann::json& metrics);

// search_peak over run_server probes (each replays the same seeded schedule scaled to its
// rate, with at least kMinQueriesForP99 queries), then confirm_peak with run_server runs of
// the same configuration.
PeakResult find_peak(Engine& engine, const Tensor& images, ServerConfig config,
                     const PeakSearch& search, Clock& clock, const WindowMeters& window = {});

// Ensemble: several models loaded in one process, each batch through all of them, outputs
// averaged (all models must give the same output shape). Throughput as offline.
// averaged_output, when given, receives the averaged output of the last iteration.
ScenarioResult run_ensemble(const std::vector<Engine*>& engines, const Tensor& input,
                            const RunLimits& limits, Clock& clock,
                            Tensor* averaged_output = nullptr, const WindowMeters& window = {});

}  // namespace infermark
