// How much the scenario harness itself costs, on the real clock: run_offline and run_server
// with an engine that does nothing, ~2 s each. Prints per-iteration harness overhead (time
// outside engine.run and outside sleeps) and the most iterations per second the loop allows.

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/backend.h"
#include "scenarios/scenario.h"

namespace {

using namespace infermark;

class NoopEngine final : public Engine {
 public:
  void run(const TensorView& input, Tensor& output) override {
    if (output.shape.empty() || output.shape[0] != input.shape[0])
      output.resize({input.shape[0], 1});
  }
  nlohmann::json settings_in_effect() const override { return {{"engine", "noop"}}; }
};

double num(const nlohmann::json& m, const char* key) { return m.at(key).get<double>(); }

}  // namespace

int main() {
  SteadyClock clock;
  NoopEngine engine;
  Tensor images;
  images.resize({8, 3, 8, 8});

  RunLimits limits;
  limits.warmup_s = 0.1;
  limits.min_duration_s = 2;
  limits.max_duration_s = 2;
  limits.min_iterations = 1;
  const ScenarioResult off = run_offline(engine, images, limits, clock);
  std::printf(
      "offline (no-op engine, batch 8): %.0f iterations in %.3f s = %.3g iterations/s max; "
      "harness overhead %.4f us/iteration; engine.run incl. 2 clock reads p50 %.4f us\n",
      num(off.metrics, "iterations"), num(off.metrics, "timed_s"),
      num(off.metrics, "iterations") / num(off.metrics, "timed_s"),
      num(off.metrics, "harness_overhead_us_per_iteration"), off.latency_ms.p50 * 1e3);

  for (const auto& [rate, max_batch, delay_ms] :
       {std::tuple{1000.0, 8L, 1.0}, std::tuple{100000.0, 1L, 0.0}, std::tuple{5e6, 1L, 0.0}}) {
    ServerConfig c;
    c.rate_qps = rate;
    c.max_batch = max_batch;
    c.max_queue_delay_ms = delay_ms;
    c.duration_s = 2;
    const ScenarioResult s = run_server(engine, images, c, clock);
    std::printf(
        "server (no-op engine, offered %.3g qps, max_batch %ld, delay %g ms): %.0f queries in "
        "%.0f batches, achieved %.4g qps = %.3g batches/s; harness overhead %.4f us/batch; "
        "wake late mean %.3f us, max %.1f us; p50 latency %.4f ms, p99 %.4f ms\n",
        rate, max_batch, delay_ms, num(s.metrics, "queries"), num(s.metrics, "batches"),
        num(s.metrics, "achieved_qps"), num(s.metrics, "batches") / num(s.metrics, "timed_s"),
        num(s.metrics, "harness_overhead_us_per_iteration"), num(s.metrics, "wake_late_us_mean"),
        num(s.metrics, "wake_late_us_max"), s.latency_ms.p50, s.latency_ms.p99);
  }
  return 0;
}
