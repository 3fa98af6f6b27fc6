#include <fstream>
#include <iostream>
#include <sstream>

#include "backends/settings.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/slurm_options.h"
#include "core/error.h"
#include "report/report.h"
#include "sweep/cell.h"
#include "sweep/slurm.h"
#include "sweep/study.h"

namespace infermark::cli {
namespace {

struct BenchArgs {
  Study study;
  std::vector<std::string> sets;
  std::string memory_limit;   // "4G", "512M", or bytes
  std::filesystem::path csv;  // also write the whole result file as CSV
  bool slurm = false;         // submit the study to Slurm instead of running it here
  SlurmOptions slurm_options;
};

int bench(BenchArgs& a) {
  Study& s = a.study;
  for (const auto& text : a.sets) {
    const SettingAssignment as = parse_assignment(text);
    std::vector<std::string>& values = s.settings[as.backend][as.key];
    std::stringstream in(as.value);
    std::string v;
    while (std::getline(in, v, ',')) values.push_back(v);
    if (values.empty()) throw Error("--set '" + text + "' gives no value");
  }
  if (!a.memory_limit.empty()) s.memory_limit_bytes = parse_memory_limit(a.memory_limit);
  if (a.slurm) {
    if (!a.csv.empty()) throw Error("--csv needs the results: run report --csv after collect");
    return submit_study(s, a.slurm_options);
  }
  const int code = run_study(s);
  if (!a.csv.empty()) write_csv({s.out}, a.csv);
  return code;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench",
                                 "Run a study: models x backends x settings x batches x scenarios");
  auto a = std::make_shared<BenchArgs>();
  Study& s = a->study;

  cmd->add_option("--models", s.models, "Zoo names or ONNX files, comma-separated")
      ->delimiter(',')
      ->required();
  cmd->add_option("--backends", s.backends, "Frameworks, comma-separated")
      ->delimiter(',')
      ->required();
  cmd->add_option("--scenario,--scenarios", s.scenarios,
                  "offline, single-stream, server, ensemble, load (comma-separated)")
      ->delimiter(',');
  cmd->add_option("--batches", s.batches, "Batch sizes, comma-separated (default 1)")
      ->delimiter(',');
  cmd->add_option("--precision", s.precisions,
                  "Precisions to compute in: fp32 (default), bf16, int8, comma-separated; a "
                  "framework that does not offer one here records the cell as unsupported")
      ->delimiter(',');
  cmd->add_option("--concurrency", s.concurrencies,
                  "Offline: requests in flight at once, each from its own thread with its "
                  "share of the cores, comma-separated (default 1)")
      ->delimiter(',');
  cmd->add_option("--set", a->sets, "BACKEND.KEY=V1,V2: a list sweeps the setting (repeatable)");
  cmd->add_option("--threads", s.threads,
                  "Threads for every framework (default 0: all usable cores)");
  cmd->add_option("--warmup", s.limits.warmup_s, "Untimed warm-up, seconds")->capture_default_str();
  cmd->add_option("--min-duration", s.limits.min_duration_s, "Minimum timed seconds per cell")
      ->capture_default_str();
  cmd->add_option("--min-iterations", s.limits.min_iterations, "Minimum timed iterations")
      ->capture_default_str();
  cmd->add_option("--max-duration", s.limits.max_duration_s, "Cap on timed seconds per cell")
      ->capture_default_str();
  cmd->add_option("--rate", s.rates, "Server: offered rates, queries/s, comma-separated")
      ->delimiter(',');
  cmd->add_option("--max-batch", s.max_batch,
                  "Server: dynamic batcher's largest batch (default 8)");
  cmd->add_option("--max-queue-delay-ms", s.max_queue_delay_ms,
                  "Server: longest wait to fill a batch (default 5)");
  cmd->add_option("--server-duration", s.server_duration_s,
                  "Server: seconds of arrivals per run (default 10)");
  cmd->add_flag("--find-peak", s.find_peak,
                "Server: search the highest rate meeting --slo-p99-ms, then confirm it by a "
                "full-length run (the row's figures; the rule: docs/results.md)");
  cmd->add_option("--slo-p99-ms", s.slo_p99_ms,
                  "Server: p99 latency target for --find-peak (default 100)");
  cmd->add_option("--cell-timeout", s.cell_timeout_s,
                  "Seconds before a cell is stopped as timeout (default 600)");
  cmd->add_option(
      "--memory-limit", a->memory_limit,
      "Stop a cell as oom past this resident memory of its process group, polled every 10 ms "
      "(e.g. 4G)");
  cmd->add_option("--repeat", s.repeat, "Run each cell this many times in a row (default 1)");
  cmd->add_option(
      "--rounds", s.rounds,
      "Visit every cell this many times, each round in a new shuffled order (default 1)");
  cmd->add_option("--shuffle-seed", s.shuffle_seed, "Seed of the rounds' order (default 1)");
  cmd->add_option("--transport", s.transports,
                  "Server and single-stream: in-process (default), http-json, http-binary, grpc "
                  "(through serve's protocol stack over loopback, from load's generator), "
                  "comma-separated: compared in one interleaved run")
      ->delimiter(',');
  cmd->add_option("--arms", s.arms,
                  "Enter every configuration once per label, e.g. a,b for an A/A test")
      ->delimiter(',');
  cmd->add_option("--prepare", s.preparations,
                  "Model preparation: simplify (default: fold what is constant once the "
                  "image size is known, no fusion), none (the file as exported), or both "
                  "(simplify,none) to measure its effect")
      ->delimiter(',');
  cmd->add_option("--input-size", s.zoo.input_size, "Image side of zoo models (default 224)");
  cmd->add_option("--width", s.zoo.width, "Channel width multiplier of zoo models (default 1.0)");
  cmd->add_option("--seed", s.zoo.seed, "Seed of zoo weights, inputs and arrivals (default 1)");
  cmd->add_option("--out", s.out, "Result file, one JSON line per cell (default results.jsonl)");
  cmd->add_flag("--resume", s.resume, "Skip the cells already in --out");
  cmd->add_option("--csv", a->csv, "Also write the whole result file as CSV");
  add_slurm_options(cmd, a->slurm, a->slurm_options);
  cmd->callback([a] {
    const int code = bench(*a);
    if (code != 0) throw ExitCode(code);
  });

  // One array task of a study on Slurm (not for users: the batch script runs it).
  auto* task = app.add_subcommand("_slurm-task", "")->group("");
  auto study_dir = std::make_shared<std::string>();
  auto submission = std::make_shared<int>(0);
  auto task_number = std::make_shared<int>(0);
  task->add_option("--study", *study_dir)->required();
  task->add_option("--submission", *submission)->required();
  task->add_option("--task", *task_number)->required();
  task->callback([study_dir, submission, task_number] {
    const int code = run_slurm_task(*study_dir, *submission, *task_number);
    if (code != 0) throw ExitCode(code);
  });

  auto* collect = app.add_subcommand(
      "collect", "Follow a study on Slurm and merge its tasks' results into its result file");
  auto dir = std::make_shared<std::string>();
  auto wait = std::make_shared<bool>(false);
  auto poll = std::make_shared<double>(10);
  collect->add_option("STUDY_DIR", *dir, "The study's folder (results.slurm for results.jsonl)")
      ->required();
  collect->add_flag("--wait", *wait, "Poll until no task is pending or running");
  collect->add_option("--poll", *poll, "Seconds between polls with --wait (default 10)");
  collect->callback([dir, wait, poll] {
    const Collected c = collect_study(*dir, *wait, *poll);
    // A study that asked for its report (paper --slurm) gets it once every task has ended.
    if (!c.active && !c.report.empty())
      std::printf("report: %s\n", write_report(read_results({c.out}), c.report).c_str());
  });

  // The child side of one cell (not for users: the sweep runs it in a fresh process).
  auto* cell = app.add_subcommand("_cell", "")->group("");
  auto spec = std::make_shared<std::string>();
  auto result = std::make_shared<std::string>();
  cell->add_option("--spec", *spec)->required();
  cell->add_option("--result", *result)->required();
  cell->callback([spec, result] {
    const int code = run_cell_process(*spec, *result);
    if (code != kExitOk) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
