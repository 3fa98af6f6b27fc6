// infermark tune (sweep/tune.h) and infermark advise (advise/advise.h, its table report/advise.h).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "backends/settings.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "report/advise.h"
#include "report/tune_figure.h"
#include "sweep/study.h"
#include "sweep/tune.h"

namespace infermark::cli {
namespace {

struct TuneArgs {
  TuneOptions o;
  std::vector<std::string> constraints, sets, fixes;
  std::string budget = "20m", memory_limit;
};

}  // namespace

void add_tune_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "tune",
      "Find the best framework and settings for a model and scenario within a time budget, "
      "confirmed against every framework's defaults in interleaved rounds");
  auto a = std::make_shared<TuneArgs>();
  TuneOptions& o = a->o;
  cmd->add_option("--model", o.model, "A zoo name or an ONNX file")->required();
  cmd->add_option("--scenario", o.scenario, "offline (default), single-stream or server");
  cmd->add_option("--backends", o.backends,
                  "Frameworks to search, comma-separated (default: every available one)")
      ->delimiter(',');
  cmd->add_option("--objective", o.objective,
                  "throughput (offline's default), latency-p50 (single-stream's default), "
                  "latency-p99, images-per-joule; server: the peak rate within the p99 target");
  cmd->add_option("--constraint", a->constraints,
                  "A limit every candidate must keep: p50<=MS, p90<=MS, p99<=MS (e.g. "
                  "p99<=50ms; repeatable); server: the p99 target of the peak rate")
      ->allow_extra_args(false);
  cmd->add_option("--memory-limit", a->memory_limit,
                  "Peak resident memory a candidate may use (e.g. 2G); beyond it the cell is "
                  "stopped as oom");
  cmd->add_option("--min-top1-agreement", o.limits.min_top1_agreement,
                  "Reduced precisions must give the fp32 reference's top-1 class on at least "
                  "this share of --images (0 to 1; default 0: not checked)");
  cmd->add_option("--images", o.images,
                  "A folder of photos for the agreement check (infermark accuracy)");
  cmd->add_option("--budget", a->budget, "Time for the whole search (default 20m)");
  cmd->add_option("--out", o.out, "Result file of the tuning run (default tune.jsonl)");
  cmd->add_option("--set", a->sets,
                  "BACKEND.KEY=V1,V2: the values tried for that setting, instead of those the "
                  "framework declares (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--fix", a->fixes, "BACKEND.KEY=V: every candidate uses this value (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--batches", o.batches,
                  "Offline: batch sizes tried, comma-separated (default 1,2,4,8,16,32)")
      ->delimiter(',');
  cmd->add_option("--precision", o.precisions,
                  "Precisions tried, comma-separated (default fp32,bf16,int8; each framework "
                  "where it offers them)")
      ->delimiter(',');
  cmd->add_option("--concurrency", o.concurrencies,
                  "Offline: requests in flight tried (default 1 to the cores, at most 4)")
      ->delimiter(',');
  cmd->add_option("--max-batch", o.max_batches,
                  "Server: the batcher's largest batches tried (default 1,2,4,8,16)")
      ->delimiter(',');
  cmd->add_option("--threads", o.threads, "Threads for every framework (default 0: all cores)");
  cmd->add_option("--confirm-rounds", o.confirm_rounds,
                  "Interleaved rounds confirming the finalists and the defaults (default 5)");
  cmd->add_option("--cell-seconds", o.cell_seconds,
                  "Timed seconds of a confirmation cell (default 2); screening cells take 0.4 "
                  "of it");
  cmd->add_option("--finalists", o.finalists,
                  "Frameworks explored and configurations confirmed (default 3)");
  cmd->add_option("--baseline", o.baseline,
                  "Whose defaults the winner is measured against (default onnxruntime)");
  cmd->add_option("--study-file", o.study_file,
                  "The study (TOML) that reruns the winner and the baseline (default: --out "
                  "with .toml)");
  cmd->add_option("--cell-timeout", o.cell_timeout_s, "Seconds before a cell is stopped");
  cmd->add_option("--input-size", o.zoo.input_size, "Image side of zoo models (default 224)");
  cmd->add_option("--width", o.zoo.width, "Channel width multiplier of zoo models (default 1.0)");
  cmd->add_option("--seed", o.zoo.seed, "Seed of zoo weights, inputs and arrivals (default 1)");
  cmd->callback([a] {
    TuneOptions& o = a->o;
    o.budget_s = parse_duration(a->budget, "--budget");
    if (!a->memory_limit.empty()) o.limits.memory_bytes = parse_memory_limit(a->memory_limit);
    for (const auto& c : a->constraints) o.limits.latency.push_back(parse_constraint(c));
    for (const auto& text : a->sets) {
      const SettingAssignment s = parse_assignment(text);
      auto& values = o.search[s.backend][s.key];
      values = split_list(s.value);
      if (values.empty()) throw Error("--set '" + text + "' gives no value");
    }
    for (const auto& text : a->fixes) {
      const SettingAssignment s = parse_assignment(text);
      o.fixed[s.backend][s.key] = s.value;
    }
    o.pareto_figure = write_tune_figure;
    const int code = run_tune(o);
    if (code != 0) throw ExitCode(code);
  });

  auto* adv = app.add_subcommand(
      "advise",
      "Which framework and settings for each model and scenario, from result files, with the "
      "evidence (ratio and interval against the runner-up)");
  auto files = std::make_shared<std::vector<std::string>>();
  auto objective = std::make_shared<std::string>();
  auto constraints = std::make_shared<std::vector<std::string>>();
  auto memory = std::make_shared<std::string>();
  auto md = std::make_shared<std::string>();
  adv->add_option("results", *files, "Result files (.jsonl)")->required();
  adv->add_option("--objective", *objective,
                  "Judge every scenario by this (default: each scenario's own)");
  adv->add_option("--constraint", *constraints, "p50<=MS, p90<=MS, p99<=MS (repeatable)")
      ->allow_extra_args(false);
  adv->add_option("--memory-limit", *memory, "Peak resident memory allowed (e.g. 2G)");
  adv->add_option("--markdown", *md, "Also write the table as Markdown to this file");
  adv->callback([files, objective, constraints, memory, md] {
    Limits limits;
    for (const auto& c : *constraints) limits.latency.push_back(parse_constraint(c));
    if (!memory->empty()) limits.memory_bytes = parse_memory_limit(*memory);
    std::vector<std::filesystem::path> paths(files->begin(), files->end());
    const auto rows = read_results(paths);
    const auto recs = advise(rows, limits, *objective);
    if (recs.empty()) {
      std::printf("no recommendation: no cell ran ok within the limits\n");
      throw ExitCode(1);
    }
    for (const auto& r : recs) {
      const ResultRow& w = r.winner.row;
      std::printf("%s%s, %s: %s", r.machine.empty() ? "" : (r.machine + ": ").c_str(),
                  r.model.c_str(), r.scenario.c_str(), w.label().c_str());
      if (w.cell.scenario == scenario::kOffline)
        std::printf(" batch %lld", static_cast<long long>(w.cell.batch));
      std::printf(", %s", value_text(r.winner.value.median, r.objective).c_str());
      if (r.winner.value.has_interval())
        std::printf(" [%.2f, %.2f]", r.winner.value.low, r.winner.value.high);
      if (r.runner_up)
        std::printf("; against the runner-up %s (%s): %s\n", r.runner_up->row.label().c_str(),
                    value_text(r.runner_up->value.median, r.objective).c_str(),
                    ratio_text(r.vs_runner_up).c_str());
      else
        std::printf("; no other framework ran\n");
      for (const auto& e : r.excluded) std::printf("    excluded: %s\n", e.c_str());
    }
    if (!md->empty()) {
      std::ofstream f(*md);
      if (!f) throw Error("cannot write '" + *md + "'");
      f << to_markdown(advice_table(recs));
    }
  });
}

}  // namespace infermark::cli
