#pragma once

// The load generator of `infermark load`: requests to a KServe v2 server at a schedule
// (open loop: latency from each request's scheduled time, so that a slow answer delays no
// later request's clock, no coordinated omission) or back to back from N clients (closed
// loop), with the statistics of the in-process server scenario (scenarios/server.cc).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "load/client.h"
#include "scenarios/scenario.h"
#include "serve/protocol.h"

namespace infermark::load {

struct LoadConfig {
  double rate_qps = 0;  // open loop at this rate (> 0), or
  int concurrency = 0;  // closed loop: this many clients, each sending when answered
  std::string distribution = "poisson";  // open loop: poisson (seeded) or constant
  double duration_s = 10;
  int64_t min_queries = 100;
  uint64_t seed = 1;
  // Open loop: requests in flight at most (client connections, each on its own thread). A
  // request due while all are busy waits in the client and is sent late; its latency still
  // counts from its scheduled time, and the result says how late requests were sent.
  int connections = 64;
};

// Opens one connection (each client thread gets its own).
using Connect = std::function<std::unique_ptr<Client>()>;

// Sends `request` (the same images every time) at the schedule. Every connection is opened
// first (by a liveness check) and one untimed inference is sent: connection set-up and the
// server's first call are not measured.
// Result: latency of the requests answered with a result; metrics: offered_qps,
// achieved_qps, queries, ok, rejected (HTTP 429 / RESOURCE_EXHAUSTED), failed, the first
// failure's message, send_late_ms_mean and max (how late the client sent), the server's time
// per request where it tells it, and in open loop the arrival window as run_server gives it
// (window_s, window_shift_s, window_answered, window_offered_qps, window_achieved_qps,
// achieved_fraction: requests answered with a result within it).
ScenarioResult run_load(const Connect& connect, const serve::InferRequest& request,
                        const LoadConfig& config);

// The highest rate that meets search.slo_p99_ms by the rule of core/peak_rule.h (every
// request answered with a result, none refused or failed, enough of them for a p99, the
// offered rate achieved), by search_peak over open-loop probes of config's duration (at least
// kMinQueriesForP99 requests), then confirm_peak with runs of the same configuration: the
// result's `run` is the measurement to report. measure: runs each confirming run (run_load
// when empty); a caller wraps it to take figures of its own around the run that becomes the
// row's (the server's counters).
PeakResult find_peak_load(const Connect& connect, const serve::InferRequest& request,
                          LoadConfig config, const PeakSearch& search,
                          const std::function<ScenarioResult(const LoadConfig&)>& measure = {});

}  // namespace infermark::load
