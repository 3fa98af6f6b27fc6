#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/text.h"  // utc_now, for the files that include this one
#include "sweep/cell.h"
#include "zoo/zoo.h"

namespace infermark {

// A study: the matrix models x backends x settings x batches x scenarios (x arms x repeats),
// visited in rounds, how to measure each cell, and where results go. Filled from the command
// line or a config file.
struct Study {
  std::vector<std::string> models;  // zoo names (an ensemble's name for "ensemble") or files
  std::vector<std::string> backends;
  // backend -> key -> values; a list of values sweeps that setting
  std::map<std::string, std::map<std::string, std::vector<std::string>>> settings;
  std::vector<int64_t> batches = {1};
  std::vector<std::string> scenarios = {"offline"};
  zoo::Options zoo;
  int threads = 0;
  RunLimits limits;
  std::vector<double> rates = {10};  // server: offered rates, queries/s
  int64_t max_batch = 8;
  double max_queue_delay_ms = 5;
  double server_duration_s = 10;
  int64_t server_min_queries = 100;
  bool find_peak = false;
  double slo_p99_ms = 100;
  double cell_timeout_s = 600;
  int64_t memory_limit_bytes = 0;
  int repeat = 1;
  // Every round visits every cell once, each round in a freshly shuffled order (seeded by
  // shuffle_seed and the round), so that slow drifts of the machine hit every cell alike and
  // two configurations can be compared round by round. One round keeps the matrix order.
  int rounds = 1;
  uint64_t shuffle_seed = 1;
  // Labels that enter every configuration more than once (an A/A test: arms "a,b"); empty:
  // one unlabelled entry.
  std::vector<std::string> arms;
  // How models are prepared before any framework sees them (prepare/prepare.h): simplify,
  // none; both measure the preparation's effect in one interleaved run.
  std::vector<std::string> preparations = {"simplify"};
  // Offline: requests kept in flight at once, each from its own thread with its share of the
  // cores (a list sweeps it); the other scenarios run one.
  std::vector<int> concurrencies = {1};
  // The precisions every cell is run in (fp32, bf16, int8; a list sweeps it): a framework
  // that does not offer one here records the cell as unsupported, with the reason.
  std::vector<std::string> precisions = {"fp32"};
  // Server and single-stream: how requests reach the engine (a list compares them in one
  // interleaved run): in-process, or through `infermark serve`'s protocol stack over loopback
  // from `infermark load`'s generator: http-json, http-binary, grpc.
  std::vector<std::string> transports = {"in-process"};
  std::filesystem::path out = "results.jsonl";
  bool resume = false;

  // Throws Error naming the first bad value (batch 0, negative duration, unknown
  // scenario or backend, ...), before anything runs.
  void validate() const;
};

inline const std::vector<std::string> kScenarios = {
    std::string(scenario::kOffline), std::string(scenario::kSingleStream),
    std::string(scenario::kServer), std::string(scenario::kEnsemble), std::string(scenario::kLoad)};
inline const std::vector<std::string> kTransports = {"in-process", "http-json", "http-binary",
                                                     "grpc"};

// The cells of a study, in run order (each ready for run_cell in a fresh process): round 0's
// cells, then round 1's, ... Zoo models are written to files first.
std::vector<CellSpec> expand(const Study& study);

// Runs every cell not yet in the result file, each in its own child process, appending each
// finished cell at once. Returns the process exit code: 0 when the sweep ran (failed cells
// are results), 130 when interrupted.
int run_study(const Study& study);

// How a sweep runs cells, whoever planned them (run_study; an array task of a study on Slurm).
struct CellRunner {
  std::filesystem::path out;  // the result file the cells are appended to
  double cell_timeout_s = 600;
  int64_t memory_limit_bytes = 0;
  int threads = 0;  // the study's --threads (0: every usable core), for the peak's share
  int rounds = 1;
  bool resume = false;  // skip the cells already in `out`
  // Asked before each cell: false stops the run there (a tuner's budget); unset: run all.
  std::function<bool()> keep_going;
  bool quiet = false;  // no header and no summary table (a caller that runs cells one by one)
};
CellRunner runner_of(const Study& study);
// Runs each cell not yet in runner.out (with resume) in its own child process, as run_study.
int run_cells(const std::vector<CellSpec>& cells, const CellRunner& runner);

// Whether a result row's status means the cell ran (ok or a failure of its own); a cell that
// Slurm stopped from outside ("slurm_cancelled", ...) did not, and --resume runs it again.
bool counts_as_run(const std::string& status);
// The cell keys of the rows of a result file whose cells ran (counts_as_run).
std::set<std::string> finished_keys(const std::filesystem::path& file);

// The batch a model file fixes (0: free), said once per model on stderr: its offline cells run
// at that batch only, and the server's batcher forms batches of it at most.
int64_t fixed_batch(const ModelRef& m);

}  // namespace infermark
