#include "sweep/estimate.h"

#include <algorithm>
#include <set>

#include "core/peak_rule.h"

namespace infermark {

CellEstimator::CellEstimator(const Machine& machine, std::map<std::string, CompileCost> compile)
    : machine_(machine), compile_(std::move(compile)) {}

namespace {

// A cell process's start, the framework's start and a warm load.
constexpr double kStartS = 2.0;

// The engine a cell compiles: the same for every round, repeat and scenario of one model on
// one framework with the same settings, precision, preparation and batch.
std::string engine_key(const CellSpec& c) {
  return identity(c, {"scenario", "threads", "concurrency", "arm", "server", "peak", "transport"});
}

}  // namespace

double CellEstimator::compile_seconds(const CellSpec& c) const {
  const auto it = compile_.find(c.backend);
  if (it == compile_.end()) return 0;
  return it->second.fixed_s + it->second.per_gflop_s * c.model.total_flops_per_image() / 1e9;
}

double CellEstimator::run_seconds(const CellSpec& c) const {
  const int cores = std::max(1, machine_.cores_used);
  const int threads = c.threads > 0 ? std::min(c.threads, cores) : cores;
  // Without a measured peak, 10 GFLOP/s a core: slow, so that a plan errs on the short side.
  const double peak = machine_.peak_fp32_flops > 0 ? machine_.peak_fp32_flops : 10e9 * cores;
  const double effective = 0.5 * peak * threads / cores;
  const double image = c.model.total_flops_per_image() / effective;  // one image, seconds
  const double iteration = static_cast<double>(c.batch) * image;
  const RunLimits& l = c.limits;
  if (c.scenario == scenario::kLoad) return 2 * (kStartS + iteration);  // cold, then warm
  if (c.scenario == scenario::kServer) {
    const ServerConfig s = c.server.value_or(ServerConfig{});
    // A peak search's runs serve at least the queries a p99 needs (scenarios/server.cc).
    const double queries = static_cast<double>(
        c.peak_slo_p99_ms ? std::max(s.min_queries, kMinQueriesForP99) : s.min_queries);
    auto run = [&](double rate) { return std::max(s.duration_s, queries / rate); };
    if (!c.peak_slo_p99_ms) return kStartS + run(s.rate_qps);
    // sweep/cell.cc: one request after another for about 0.5 s, then probes from that rate
    // and twice it, halving the bracket down to 5% (5 more), then two full-length runs near
    // it to confirm (scenarios/server.cc); each counted at the one-after-another rate.
    const double single = 1 / image;
    return kStartS + std::max(0.5, 3 * image) + (7 + 2) * run(single);
  }
  // offline, single-stream, ensemble: warm-up, then the timed part.
  const double warmup = std::max(l.warmup_s, static_cast<double>(l.warmup_iterations) * iteration);
  const double timed =
      std::min(std::max(l.max_duration_s, iteration),
               std::max(l.min_duration_s, static_cast<double>(l.min_iterations) * iteration));
  return kStartS + warmup + timed;
}

double CellEstimator::cell_seconds(const CellSpec& c) const {
  return run_seconds(c) + compile_seconds(c);
}

Estimate CellEstimator::estimate(const std::vector<CellSpec>& cells) const {
  Estimate e;
  std::set<std::string> compiled;
  for (const auto& c : cells) {
    ++e.cells;
    e.seconds += run_seconds(c);
    const double compile = compile_seconds(c);
    if (compile <= 0) continue;
    // A load cell's cold phase compiles into an empty cache of its own.
    if (c.scenario == scenario::kLoad || compiled.insert(engine_key(c)).second) {
      e.seconds += compile;
      e.compile_seconds += compile;
      ++e.compiles;
    }
  }
  return e;
}

}  // namespace infermark
