#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "meters/summary.h"
#include "scenarios/clock.h"

namespace infermark {

// How long to measure: an untimed warm-up (at least warmup_iterations and warmup_s), then
// timed iterations until both min_duration_s and min_iterations are met, or max_duration_s.
struct RunLimits {
  double warmup_s = 0.5;
  int64_t warmup_iterations = 1;
  double min_duration_s = 2.0;
  int64_t min_iterations = 10;
  double max_duration_s = 60.0;
  double cv_threshold = kDefaultCvThreshold;
};

// Raw samples and their summary, kept apart (the summary carries its own validity).
struct ScenarioResult {
  std::vector<double> latencies_ms;  // per iteration (offline, single-stream) or per request
  Summary latency_ms;
  nlohmann::json metrics;            // throughput_ips, iterations, timed_s, ... (units in names)
};

// Offline (batch applications): the same batch again and again; throughput = images / timed
// wall time. input: [batch, C, H, W], prepared before the call.
ScenarioResult run_offline(Engine& engine, const Tensor& input, const RunLimits& limits,
                           Clock& clock);

// Single-stream (data-flow applications): one image, one query after another.
ScenarioResult run_single_stream(Engine& engine, const Tensor& image, const RunLimits& limits,
                                 Clock& clock);

// Server (web services): open-loop Poisson arrivals at rate_qps from a seeded schedule, a
// dynamic batcher in front of the engine (a batch leaves when max_batch requests wait or the
// oldest has waited max_queue_delay_ms), latency from each request's scheduled arrival to
// its batch's completion (no coordinated omission). max_batch 1 = no batching.
struct ServerConfig {
  double rate_qps = 10;
  int64_t max_batch = 8;
  double max_queue_delay_ms = 5;
  double duration_s = 10;      // length of the arrival schedule
  int64_t min_queries = 100;   // the schedule is extended to at least this many
  uint64_t seed = 1;
};
// images: [max_batch, C, H, W]; batches are views of its first N images. The engine must
// accept any batch size up to max_batch. metrics: achieved_qps, offered_qps, queries,
// batch_histogram {size: count}, mean_batch, p50/p99 latency, dropped (0: none are).
ScenarioResult run_server(Engine& engine, const Tensor& images, const ServerConfig& config,
                          Clock& clock);

// The highest offered rate whose p99 latency meets slo_p99_ms, by bisection between lo_qps
// and hi_qps (hi is doubled first until it fails), each probe a run_server of probe_s.
struct PeakSearch {
  double slo_p99_ms = 100;
  double lo_qps = 1;
  double hi_qps = 0;           // 0: start from 2x the single-request throughput measured first
  int max_probes = 12;
  double tolerance = 0.05;     // stop when (hi - lo) / lo < tolerance
};
struct PeakResult {
  double peak_qps = 0;         // 0 when even lo_qps misses the target
  nlohmann::json probes;       // [{rate_qps, p99_ms, meets}]
};
PeakResult find_peak(Engine& engine, const Tensor& images, ServerConfig config,
                     const PeakSearch& search, Clock& clock);

// Ensemble: several models loaded in one process, each batch through all of them, outputs
// averaged (all models must give the same output shape). Throughput as offline.
// averaged_output, when given, receives the averaged output of the last iteration.
ScenarioResult run_ensemble(const std::vector<Engine*>& engines, const Tensor& input,
                            const RunLimits& limits, Clock& clock,
                            Tensor* averaged_output = nullptr);

}  // namespace infermark
