#include "sweep/paper.h"

#include <algorithm>

#include "backends/registry.h"
#include "core/error.h"

namespace infermark {

// The paper's study on every available framework: Table 1 models and the ensemble, the
// batch sweep and single-stream in rounds, server with peak search, load time, memory;
// energy where measurable. Each part is a study appending to one result file, so rerunning
// continues.
std::vector<Study> paper_studies(bool quick, const std::vector<std::string>& backends,
                                 const std::filesystem::path& results) {
  Study base;
  base.backends = backends;
  base.out = results;
  base.resume = true;
  base.cell_timeout_s = quick ? 300 : 1800;
  base.limits.warmup_s = quick ? 0.2 : 1.0;
  base.limits.min_duration_s = quick ? 0.7 : 5.0;
  base.limits.min_iterations = quick ? 2 : 10;
  base.limits.max_duration_s = quick ? 30.0 : 120.0;
  // The frameworks are compared in rounds (docs/results.md): every round visits every cell
  // in a new order, and the best-framework table pairs them round by round. Load time and
  // the server's peak search run once: they are figures without a per-round comparison.
  Study models = base;
  models.models = {"vgg19", "resnet50", "densenet201", "efficientnet_b0"};
  models.scenarios = {"offline", "single-stream"};
  models.rounds = quick ? 3 : 5;
  Study loading = base;
  loading.models = models.models;
  loading.scenarios = {"load"};
  models.batches =
      quick ? std::vector<int64_t>{1, 8} : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64};
  // The paper's throughput is each framework's best: with two requests in flight too (the
  // offline table takes the best over batch and concurrency and says which).
  if (!quick) models.concurrencies = {1, 2};
  Study ensemble = base;
  ensemble.models = {"ensemble3"};
  ensemble.scenarios = {"ensemble"};
  ensemble.batches = quick ? std::vector<int64_t>{1, 4} : std::vector<int64_t>{1, 2, 4, 8, 16};
  Study server = base;
  server.models = {"resnet50"};
  server.scenarios = {"server"};
  server.find_peak = true;
  server.slo_p99_ms = 500;
  server.max_batch = 8;
  server.max_queue_delay_ms = 20;
  server.server_duration_s = quick ? 3 : 10;
  server.server_min_queries = quick ? 20 : 100;
  return {models, loading, ensemble, server};
}

std::vector<std::string> paper_backends(BackendRegistry& registry,
                                        const std::vector<std::string>& only, std::FILE* skipped) {
  std::vector<std::string> backends;
  const auto known = registry.known();
  for (const auto& name : only)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw Error("--backends: unknown framework '" + name + "' (see infermark backends)");
  for (const auto& b : registry.list()) {
    const bool asked = only.empty() || std::find(only.begin(), only.end(), b.name) != only.end();
    if (!asked) continue;
    if (b.available)
      backends.push_back(b.name);
    else
      std::fprintf(skipped, "skipping %s: %s\n", b.name.c_str(), b.reason.c_str());
  }
  if (backends.empty())
    throw Error("no framework is available in this build (see infermark backends)");
  return backends;
}

}  // namespace infermark
