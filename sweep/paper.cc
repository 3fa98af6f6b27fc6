#include "sweep/paper.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "backends/registry.h"
#include "core/error.h"
#include "core/text.h"
#include "sweep/estimate.h"

namespace infermark {

std::vector<PaperPart> paper_parts(const PaperOptions& o) {
  const bool quick = o.quick;
  Study base;
  base.backends = o.backends;
  base.out = o.dir / "results.jsonl";
  base.resume = true;
  base.zoo = o.zoo;
  base.cell_timeout_s = quick ? 300 : 1800;
  base.limits.warmup_s = quick ? 0.2 : 1.0;
  base.limits.min_duration_s = quick ? 0.7 : 5.0;
  base.limits.min_iterations = quick ? 2 : 10;
  base.limits.max_duration_s = quick ? 30.0 : 120.0;
  const int rounds = o.rounds > 0 ? o.rounds : quick ? 3 : 5;
  // The frameworks are compared in rounds (docs/results.md): every round visits every cell
  // in a new order, and the best-framework table pairs them round by round; so is the server's
  // peak, which gets its interval over rounds. Load time runs once: cold and warm are one
  // figure each, without a per-round comparison.
  Study models = base;
  models.models = {"vgg19", "resnet50", "densenet201", "efficientnet_b0"};
  models.scenarios = {"offline", "single-stream"};
  models.rounds = rounds;
  models.batches =
      quick ? std::vector<int64_t>{1, 8} : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64};
  // The paper's throughput is each framework's best: with two requests in flight too (the
  // offline table takes the best over batch and concurrency and says which).
  if (!quick) models.concurrencies = {1, 2};
  Study loading = base;
  loading.models = models.models;
  loading.scenarios = {"load"};
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
  server.rounds = rounds;
  std::vector<PaperPart> parts;
  for (auto& [name, study] : std::vector<std::pair<std::string, Study>>{
           {"models", models}, {"loading", loading}, {"ensemble", ensemble}, {"server", server}})
    if (o.parts.empty() || std::count(o.parts.begin(), o.parts.end(), name))
      parts.push_back({name, std::move(study)});
  return parts;
}

namespace {

PaperPart* part(std::vector<PaperPart>& parts, const std::string& name) {
  for (auto& p : parts)
    if (p.name == name) return &p;
  return nullptr;
}

// The parts without one model (or framework), those left with none dropped.
std::vector<PaperPart> without(std::vector<PaperPart> parts, bool model, const std::string& name) {
  for (auto& p : parts) std::erase(model ? p.study.models : p.study.backends, name);
  std::erase_if(parts, [&](const PaperPart& p) {
    return (model ? p.study.models : p.study.backends).empty();
  });
  return parts;
}

// A step that leaves something out; returns what, or "" where it has nothing left to drop.
using Step = std::function<std::string(std::vector<PaperPart>&)>;

Step rounds_to(std::vector<std::string> names, int rounds) {
  return [names, rounds](std::vector<PaperPart>& parts) -> std::string {
    std::string said;
    for (const auto& n : names)
      if (PaperPart* p = part(parts, n); p && p->study.rounds > rounds) {
        said += (said.empty() ? "" : "; ") + n + ": rounds " + std::to_string(p->study.rounds) +
                " -> " + std::to_string(rounds);
        p->study.rounds = rounds;
      }
    return said;
  };
}

// Drops the largest of a part's batch sizes for which keep() is false.
Step drop_batch(const std::string& name, std::function<bool(int64_t)> keep) {
  return [name, keep](std::vector<PaperPart>& parts) -> std::string {
    PaperPart* p = part(parts, name);
    if (!p) return "";
    auto& b = p->study.batches;
    for (auto it = b.rbegin(); it != b.rend(); ++it)
      if (!keep(*it) && b.size() > 1) {
        const std::string said = name + ": batch " + std::to_string(*it);
        b.erase(std::next(it).base());
        return said;
      }
    return "";
  };
}

Step drop_part(const std::string& name) {
  return [name](std::vector<PaperPart>& parts) -> std::string {
    if (!std::erase_if(parts, [&](const PaperPart& p) { return p.name == name; })) return "";
    return "the " + name + " part";
  };
}

Step drop_scenario(const std::string& name, const std::string& scenario) {
  return [name, scenario](std::vector<PaperPart>& parts) -> std::string {
    PaperPart* p = part(parts, name);
    if (!p || p->study.scenarios.size() < 2) return "";
    auto& s = p->study.scenarios;
    const auto it = std::find(s.begin(), s.end(), scenario);
    if (it == s.end()) return "";
    s.erase(it);
    return name + ": " + scenario;
  };
}

}  // namespace

PaperPlan fit_to_budget(std::vector<PaperPart> parts, double budget_s,
                        const PartsEstimate& estimate) {
  PaperPlan plan;
  plan.full_s = estimate(parts);
  plan.planned_s = plan.full_s;
  const std::vector<Step> steps = {
      rounds_to({"models", "server"}, 2),
      drop_batch("models", [](int64_t b) { return b <= 8; }),
      [](std::vector<PaperPart>& parts) -> std::string {
        PaperPart* p = part(parts, "models");
        if (!p || p->study.concurrencies.size() < 2) return "";
        p->study.concurrencies = {1};
        return "models: two requests in flight";
      },
      drop_batch("models", [](int64_t b) { return b == 1 || b == 8; }),
      drop_batch("ensemble", [](int64_t b) { return b == 1; }),
      drop_part("ensemble"),
      rounds_to({"server"}, 1),
      drop_part("server"),
      drop_part("loading"),
      drop_batch("models", [](int64_t b) { return b == 1; }),
      drop_scenario("models", "single-stream"),
      rounds_to({"models"}, 1),
  };
  auto fits = [&] { return (plan.planned_s = estimate(parts)) <= budget_s; };
  for (const auto& step : steps) {
    while (!fits()) {
      const std::string said = step(parts);
      if (said.empty()) break;
      plan.left_out.push_back(said);
    }
  }
  // Then whole models and frameworks, the costliest first (what leaving it out saves).
  for (const bool models : {true, false}) {
    while (!fits()) {
      std::set<std::string> names;
      for (const auto& p : parts)
        for (const auto& n : models ? p.study.models : p.study.backends) names.insert(n);
      if (names.size() < 2) break;
      std::string costliest;
      double lowest = INFINITY;
      for (const auto& n : names) {
        const double s = estimate(without(parts, models, n));
        if (s < lowest) {
          lowest = s;
          costliest = n;
        }
      }
      parts = without(std::move(parts), models, costliest);
      plan.left_out.push_back((models ? "model " : "framework ") + costliest);
    }
  }
  if (!fits())
    throw Error("--budget " + fixed(budget_s / 60, 1) +
                " min is below the smallest study (one model on one framework, offline at batch "
                "1, one round), estimated at " +
                fixed(plan.planned_s / 60, 1) + " min");
  plan.parts = std::move(parts);
  return plan;
}

namespace {

// The cells of a part that a plan keeps: those of the full part's expansion whose values the
// plan's study still has (a plan only leaves values out, so its cells are among them).
bool keeps(const Study& s, const CellSpec& c) {
  auto has = [](const auto& list, const auto& v) {
    return std::find(list.begin(), list.end(), v) != list.end();
  };
  if (!has(s.models, c.model.name) || !has(s.backends, c.backend) ||
      !has(s.scenarios, c.scenario) || c.round >= s.rounds)
    return false;
  if (c.scenario == scenario::kOffline)
    return has(s.batches, c.batch) && has(s.concurrencies, c.concurrency);
  if (c.scenario == scenario::kEnsemble) return has(s.batches, c.batch);
  return true;
}

struct Planned {
  PaperPlan plan;
  std::vector<CellSpec> cells;  // the plan's cells without results yet, part by part
  CellRunner runner;
};

Planned plan_paper(const PaperOptions& o, BackendRegistry& registry) {
  std::vector<PaperPart> full = paper_parts(o);
  if (full.empty()) throw Error("--parts names no part of the paper's study");
  std::fprintf(stderr, "preparing models...\n");
  // part -> its full expansion without the cells that have results (the plan's estimates
  // filter these, many times over, so the keys are compared once here)
  const std::set<std::string> done = finished_keys(full.front().study.out);
  std::map<std::string, std::vector<CellSpec>> cells;
  for (const auto& p : full) {
    p.study.validate();
    for (auto& c : expand(p.study))
      if (!done.count(cell_key(c))) cells[p.name].push_back(std::move(c));
  }
  std::map<std::string, CompileCost> compile;
  for (const auto& b : o.backends) {
    const Capabilities& c = registry.info(b).capabilities;
    if (c.compile_s > 0 || c.compile_s_per_gflop > 0)
      compile[b] = {c.compile_s, c.compile_s_per_gflop};
  }
  const CellEstimator estimator(read_machine(), compile);
  auto todo = [&](const std::vector<PaperPart>& parts) {
    std::vector<CellSpec> out;
    for (const auto& p : parts)
      for (const auto& c : cells[p.name])
        if (keeps(p.study, c)) out.push_back(c);
    return out;
  };
  const PartsEstimate estimate = [&](const std::vector<PaperPart>& parts) {
    return estimator.estimate(todo(parts)).seconds;
  };
  Planned r;
  if (o.budget_s > 0) {
    r.plan = fit_to_budget(full, o.budget_s, estimate);
  } else {
    r.plan.parts = full;
    r.plan.full_s = r.plan.planned_s = estimate(full);
  }
  r.cells = todo(r.plan.parts);
  const Estimate e = estimator.estimate(r.cells);
  std::fprintf(stderr,
               "%s study on %zu frameworks: %zu cells to run, expected about %.0f minutes (%.0f "
               "of them compiling; rerun to continue)\n",
               o.quick ? "quick" : "full", o.backends.size(), e.cells, e.seconds / 60,
               e.compile_seconds / 60);
  if (!r.plan.left_out.empty()) {
    std::fprintf(stderr, "to fit --budget %s min (the whole study: about %s min), left out:\n",
                 fixed(o.budget_s / 60, 1).c_str(), fixed(r.plan.full_s / 60, 1).c_str());
    for (const auto& s : r.plan.left_out) std::fprintf(stderr, "  - %s\n", s.c_str());
  }
  r.runner = runner_of(r.plan.parts.front().study);
  for (const auto& p : r.plan.parts) r.runner.rounds = std::max(r.runner.rounds, p.study.rounds);
  return r;
}

}  // namespace

int run_paper(const PaperOptions& o, BackendRegistry& registry) {
  std::filesystem::create_directories(o.dir);
  Planned planned = plan_paper(o, registry);
  if (o.slurm) {
    SlurmSubmission s;
    s.cells = planned.cells;
    s.runner = planned.runner;
    s.out = o.dir / "results.jsonl";
    s.resume = true;
    s.report = o.dir / "report";
    return submit_cells(s, o.slurm_options);
  }
  CellRunner runner = planned.runner;
  const auto t0 = std::chrono::steady_clock::now();
  bool stopped = false;
  if (o.budget_s > 0)
    runner.keep_going = [&] {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      // The report takes seconds (a tenth of the budget, at most 30 s, is kept for it); a cell
      // that starts before the end may overrun it by its length.
      stopped = elapsed >= o.budget_s - std::min(30.0, 0.1 * o.budget_s);
      return !stopped;
    };
  const int code = run_cells(planned.cells, runner);
  if (stopped) {
    const std::set<std::string> done = finished_keys(runner.out);
    size_t left = 0;
    for (const auto& c : planned.cells) left += !done.count(cell_key(c));
    std::fprintf(stderr,
                 "the budget ran out with %zu planned cells not run: a rerun continues them\n",
                 left);
  }
  return code;
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
