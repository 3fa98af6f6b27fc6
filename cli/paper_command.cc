#include <algorithm>
#include <cstdio>

#include "backends/registry.h"
#include "cli/commands.h"
#include "report/report.h"
#include "sweep/study.h"

namespace infermark::cli {
namespace {

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

}  // namespace

void add_paper_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "paper", "Run the paper's study on every available framework and write the report");
  auto quick = std::make_shared<bool>(false);
  auto out = std::make_shared<std::string>("paper");
  auto only = std::make_shared<std::vector<std::string>>();
  cmd->add_flag("--quick", *quick,
                "Short durations, fewer batch sizes, 3 rounds (about fifteen minutes on 2 cores)");
  cmd->add_option("--out", *out, "Folder for results.jsonl and the report (default ./paper)");
  cmd->add_option("--backends", *only,
                  "Frameworks to study, comma-separated (default: every available one)")
      ->delimiter(',');
  cmd->callback([quick, out, only] {
    std::vector<std::string> backends;
    BackendRegistry registry;
    const auto known = registry.known();
    for (const auto& name : *only)
      if (std::find(known.begin(), known.end(), name) == known.end())
        throw Error("--backends: unknown framework '" + name + "' (see infermark backends)");
    for (const auto& b : registry.list()) {
      const bool asked =
          only->empty() || std::find(only->begin(), only->end(), b.name) != only->end();
      if (!asked) continue;
      if (b.available)
        backends.push_back(b.name);
      else
        std::fprintf(stderr, "skipping %s: %s\n", b.name.c_str(), b.reason.c_str());
    }
    if (backends.empty())
      throw Error("no framework is available in this build (see infermark backends)");
    const std::filesystem::path dir = *out;
    std::filesystem::create_directories(dir);
    const auto studies = paper_studies(*quick, backends, dir / "results.jsonl");
    double seconds = 0;
    for (const auto& s : studies) seconds += estimate_seconds(s);
    std::fprintf(stderr,
                 "%s study on %zu frameworks: expected about %.0f minutes (rerun to continue)\n",
                 *quick ? "quick" : "full", backends.size(), seconds / 60);
    for (const auto& s : studies) {
      const int code = run_study(s);
      if (code != 0) throw ExitCode(code);
    }
    const auto index = write_report(read_results({dir / "results.jsonl"}), dir / "report");
    std::printf("report: %s\n", index.c_str());
  });
}

}  // namespace infermark::cli
