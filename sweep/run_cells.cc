// The cell loop (run_cells, sweep/study.h): each cell in its own child process, how the child
// ended classified into a result row (classify), each row appended to the result file at once,
// resume from the cells already there (finished_keys), progress on stderr, the closing summary
// table, and SIGINT/SIGTERM/SIGHUP stopping the loop between cells.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <set>

#include "core/child_process.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "sweep/study.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT/SIGTERM/SIGHUP only
void on_signal(int) { g_interrupted = true; }

// A result row of a cell that did not run (or whose child left no result).
ResultRow unrun_row(const CellSpec& spec) {
  ResultRow r;
  r.cell = spec;
  r.cell_key = cell_key(spec);
  return r;
}

std::string describe(const CellSpec& c) {
  std::string s = c.model.name + " " + c.backend + " " + c.scenario;
  if (c.scenario == scenario::kOffline || c.scenario == scenario::kEnsemble)
    s += " batch " + std::to_string(c.batch);
  if (c.scenario == scenario::kServer && c.server) {
    s += c.peak_slo_p99_ms ? " find-peak"
                           : " " + std::to_string(c.server->rate_qps).substr(0, 6) + " qps";
    s += c.server->max_batch > 1 ? " batching" : " no batching";
  }
  for (const auto& [k, v] : c.settings) s.append(" ").append(k).append("=").append(v);
  if (!c.arm.empty()) s += " arm " + c.arm;
  if (!c.transport.empty()) s += " over " + c.transport;
  if (c.round > 0) s += " round " + std::to_string(c.round + 1);
  if (c.repeat > 0) s += " #" + std::to_string(c.repeat);
  return s;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

// Classifies a cell from the child's result file and how the child ended. The exit code
// says what the child concluded when it could not leave a result file.
ResultRow classify(const CellSpec& spec, const ChildOutcome& child, const fs::path& result_file,
                   const CellRunner& study) {
  ResultRow r;
  bool have = false;
  std::ifstream in(result_file);
  if (in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    try {
      if (!j.is_discarded()) {
        r = row_from_json(j);
        have = true;
      }
    } catch (const Error&) {
      have = false;  // a torn or foreign file: classified from how the child ended
    }
  }
  if (!have) r = unrun_row(spec);
  using K = ChildOutcome::Kind;
  switch (child.kind) {
    case K::kTimedOut:
      r.status = "timeout";
      r.message =
          "no result after --cell-timeout " + std::to_string(int(study.cell_timeout_s)) + " s";
      break;
    case K::kMemoryExceeded:
      r.status = "oom";
      r.message = "resident memory passed --memory-limit (" +
                  std::to_string(study.memory_limit_bytes >> 20) + " MiB, polled every 10 ms)";
      break;
    case K::kSignaled:
      if (child.signal == SIGKILL) {
        r.status = "oom";
        r.message = "killed by SIGKILL, most likely by the kernel's out-of-memory killer";
      } else {
        r.status = "crash";
        r.message = std::string("killed by signal ") + std::to_string(child.signal) + " (" +
                    strsignal(child.signal) + ")";
      }
      break;
    case K::kExited:
      if (!have) {
        const std::string said = status_of_exit_code(child.exit_code);
        r.status = said.empty() || said == "ok" ? "crash" : said;
        r.message = "exited with code " + std::to_string(child.exit_code) +
                    (said.empty() ? "" : " (" + said + ")") + " without a result";
      }
      break;
    case K::kInterrupted:
      break;
  }
  r.wall_s = child.wall_s;
  r.metrics[metric::kChildPeakRssBytes] = child.peak_rss_bytes;
  if (!r.ok()) r.output_tail = child.output_tail;
  return r;
}

void print_summary(const std::vector<ResultRow>& rows) {
  if (rows.empty()) return;
  std::printf("\n%-16s %-12s %-14s %6s %-11s %12s %10s %10s\n", "model", "backend", "scenario",
              "batch", "status", "images/s", "p50_ms", "p99_ms");
  for (const auto& r : rows) {
    std::printf("%-16s %-12s %-14s %6lld %-11s %12.2f %10.2f %10.2f%s\n", r.cell.model.name.c_str(),
                r.cell.backend.c_str(), r.cell.scenario.c_str(),
                static_cast<long long>(r.cell.batch), r.status.c_str(),
                r.metric(metric::kThroughputIps), r.latency("p50"), r.latency("p99"),
                r.warning.empty() ? "" : "  (unstable)");
  }
}

}  // namespace

bool counts_as_run(const std::string& status) { return status.rfind("slurm_", 0) != 0; }

std::set<std::string> finished_keys(const fs::path& file) {
  std::set<std::string> keys;
  if (!fs::exists(file)) return keys;
  // A line torn by a crash is cut off: its cell runs again, and the next row starts a line.
  cut_torn_line(file);
  for (const std::string& line : read_json_lines(file).lines) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("cell_key") && j["cell_key"].is_string() &&
        counts_as_run(j.value("status", std::string())))
      keys.insert(j["cell_key"].get<std::string>());
  }
  return keys;
}

int run_cells(const std::vector<CellSpec>& cells, const CellRunner& study) {
  const std::set<std::string> done =
      study.resume ? finished_keys(study.out) : std::set<std::string>{};

  const Machine machine = read_machine();
  const nlohmann::json env = to_json(machine);
  const int threads = study.threads > 0 ? study.threads : machine.cores_used;
  const double peak = machine.peak_fp32_flops * threads / std::max(1, machine.cores_used);
  const fs::path program = fs::read_symlink("/proc/self/exe");
  // The cells' spec, result and compiled-library caches: a folder of our own (0700, a name no
  // one else can take first), since a cell loads code from it.
  std::string work_name = (fs::temp_directory_path() / "infermark-sweep-XXXXXX").string();
  if (!mkdtemp(work_name.data())) throw Error("cannot create a folder in " + work_name);
  const fs::path work = work_name;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed terminal stops the study as Ctrl-C does: the running cell is killed and the rows
  // so far are kept, rather than the cells running on without their timeout.
  sigaction(SIGHUP, &sa, nullptr);

  const bool tty = isatty(STDERR_FILENO);
  size_t todo = 0;
  for (const auto& c : cells) todo += !done.count(cell_key(c));
  if (!study.quiet)
    std::fprintf(
        stderr, "%zu cells%s (%zu already in %s), results to %s\n", cells.size(),
        study.rounds > 1 ? (" in " + std::to_string(study.rounds) + " rounds").c_str() : "",
        cells.size() - todo, study.out.c_str(), study.out.c_str());

  std::vector<ResultRow> rows;
  const auto t0 = std::chrono::steady_clock::now();
  size_t finished = 0;
  for (const auto& spec : cells) {
    const std::string key = cell_key(spec);
    if (done.count(key)) continue;
    if (g_interrupted) break;
    if (study.keep_going && !study.keep_going()) break;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string left = finished > 0
                                 ? "~" + duration(elapsed / finished * (todo - finished)) + " left"
                                 : "time left unknown";
    if (tty)
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %s elapsed, %s | %s", finished + 1, todo,
                   duration(elapsed).c_str(), left.c_str(), describe(spec).c_str());

    const std::string model_error = spec.model.first_error();
    std::vector<std::string> phases = {""};
    if (!model_error.empty()) phases.clear();
    if (spec.scenario == scenario::kLoad) phases = {"cold", "warm"};
    const fs::path cache = work / ("cache-" + key);
    ResultRow result;
    for (const auto& phase : phases) {
      CellSpec run = spec;
      run.peak_fp32_flops = peak;
      run.load_phase = phase;
      if (!phase.empty()) run.load_cache_dir = cache.string();
      const fs::path spec_file = work / "spec.json", result_file = work / "result.json";
      std::ofstream(spec_file) << to_json(run).dump();
      fs::remove(result_file);
      const ChildOutcome child =
          run_child({program.string(), "_cell", "--spec", spec_file.string(), "--result",
                     result_file.string()},
                    study.cell_timeout_s, study.memory_limit_bytes, g_interrupted);
      if (child.kind == ChildOutcome::Kind::kInterrupted) break;
      ResultRow r = classify(run, child, result_file, study);
      if (phase.empty() || phase == phases.front()) result = r;
      if (!phase.empty()) {
        // Both phases land in one row: load_cold_ms, first_inference_cold_ms, cache_cold, ...
        auto& m = result.metrics;
        m["load_" + phase + "_ms"] = r.metrics.value("load_ms", 0.0);
        m["framework_startup_" + phase + "_ms"] = r.metrics.value("framework_startup_ms", 0.0);
        m["first_inference_" + phase + "_ms"] = r.metrics.value("first_inference_ms", 0.0);
        m["cache_" + phase] = r.settings_in_effect.value("cache", "");
        if (!r.ok() && result.ok()) {
          result.status = r.status;
          result.message = phase + " load: " + r.message;
        }
      }
      if (!result.ok()) break;
    }
    fs::remove_all(cache);
    if (g_interrupted) break;
    if (!model_error.empty()) {
      result = unrun_row(spec);
      result.status = "error";
      result.message = model_error;
    }
    result.cell = spec;  // as asked: the child's copy carries the parent's run-time context
    result.cell_key = key;
    result.time_utc = utc_now();
    result.env = env;
    if (result.node.empty()) result.node = this_node();
    append_result(study.out, result);
    rows.push_back(result);
    ++finished;
    std::string figure;
    if (!std::isnan(result.metric(metric::kThroughputIps)))
      figure =
          ": " + std::to_string(result.metric(metric::kThroughputIps)).substr(0, 7) + " images/s";
    if (!std::isnan(result.metric(metric::kLoadColdMs)))
      figure =
          ": load cold " + std::to_string(result.metric(metric::kLoadColdMs)).substr(0, 7) + " ms";
    if (!result.ok()) figure = ": " + result.message;
    if (tty) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "[%zu/%zu] %s %s%s\n", finished, todo, result.status.c_str(),
                 describe(spec).c_str(), figure.c_str());
  }
  fs::remove_all(work);
  if (!study.quiet) print_summary(rows);
  if (g_interrupted) {
    std::fprintf(stderr, "interrupted: %zu finished cells kept in %s; --resume continues\n",
                 finished, study.out.c_str());
    return 130;
  }
  return 0;
}

}  // namespace infermark
