#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"

namespace infermark {

// The schema of one line of a result file (docs/results.md describes every field). Version 2
// added round, arm, precision, concurrency, preparation and node; files of version 1 still
// load (row_from_json fills those in with the values version 1 implied).
inline constexpr const char* kResultSchema = "infermark.result/2";
inline constexpr const char* kResultSchemaV1 = "infermark.result/1";

// Statuses a cell can end with. A failure is a result, never a lost cell.
inline constexpr const char* kStatuses[] = {"ok",      "oom",         "crash",
                                            "timeout", "unsupported", "error"};

inline constexpr double kDefaultCvThreshold = 0.10;

// How long to measure: an untimed warm-up (at least warmup_iterations and warmup_s), then
// timed iterations until both min_duration_s and min_iterations are met, or max_duration_s.
// The one place of these defaults.
struct RunLimits {
  double warmup_s = 0.5;
  int64_t warmup_iterations = 1;
  double min_duration_s = 2.0;
  int64_t min_iterations = 10;
  double max_duration_s = 60.0;
  double cv_threshold = kDefaultCvThreshold;
  bool operator==(const RunLimits&) const = default;
};

// The server scenario's configuration: open-loop Poisson arrivals at rate_qps from a seeded
// schedule, a dynamic batcher (a batch leaves when max_batch requests wait or the oldest has
// waited max_queue_delay_ms). max_batch 1 = no batching.
struct ServerConfig {
  double rate_qps = 10;
  int64_t max_batch = 8;
  double max_queue_delay_ms = 5;
  double duration_s = 10;     // length of the arrival schedule
  int64_t min_queries = 100;  // the schedule is extended to at least this many
  uint64_t seed = 1;
  bool operator==(const ServerConfig&) const = default;
};

// A model as a cell knows it, described once by the parent. A model that cannot be read
// keeps its name and the error; an ensemble lists its members.
// Its implicit default constructor does not throw: clang-tidy 14 follows nlohmann::json's
// noexcept default constructor to a throw that a null value never reaches (json.hpp silences
// the same finding on that constructor).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct ModelRef {
  std::string name;
  std::string path;
  std::string hash;  // "fnv1a64:..." of the file
  int64_t file_bytes = 0;
  std::vector<int64_t> input_shape;  // C, H, W
  int64_t parameters = 0;
  double flops_per_image = 0;
  nlohmann::json stats;           // Table 1 statistics (core/model_stats.h to_json), or null
  std::vector<ModelRef> members;  // an ensemble's models
  std::string error;              // why it cannot be read

  // FLOPs of one image through the model, or through every member of an ensemble.
  double total_flops_per_image() const;
  // The first error of the model or of a member; empty when every file could be read.
  std::string first_error() const;
};

// The scenarios a cell runs, by the names result rows, studies and the command line use.
namespace scenario {
inline constexpr std::string_view kOffline = "offline";
inline constexpr std::string_view kSingleStream = "single-stream";
inline constexpr std::string_view kServer = "server";
inline constexpr std::string_view kEnsemble = "ensemble";
inline constexpr std::string_view kLoad = "load";
}  // namespace scenario

// One cell of a study: everything a fresh process needs to run it. The fields up to `arm`
// are its identity (what makes two cells the same configuration); round and repeat say which
// visit this is; the rest says how to measure.
struct CellSpec {
  ModelRef model;
  std::string backend;
  Settings settings;                 // the framework's own, as asked
  std::string scenario = "offline";  // offline, single-stream, server, ensemble, load
  int64_t batch = 1;
  int threads = 0;                   // 0: every usable core
  std::string precision = "fp32";    // asked
  int concurrency = 1;               // engines (streams) run at once
  std::string preparation = "none";  // how the model was prepared before any framework saw it
  std::string arm;                   // a label that keeps two entries of one configuration apart
  // Server and single-stream: "" in process, or the requests sent through `infermark serve`'s
  // protocol stack over loopback by `infermark load`'s generator: http-json, http-binary, grpc.
  std::string transport;
  std::optional<ServerConfig> server;
  std::optional<double> peak_slo_p99_ms;  // server: search the highest rate meeting it

  int round = 0;      // which visit of every cell (bench --rounds)
  int repeat = 0;     // repetition inside a round (bench --repeat)
  uint64_t seed = 1;  // inputs and arrivals
  RunLimits limits;

  // Filled in by the sweep for the child process, not part of the cell's definition.
  std::string load_phase;      // load scenario: "cold" or "warm"
  std::string load_cache_dir;  // the private framework cache both phases share
  double peak_fp32_flops = 0;  // of the cores the cell uses
};

nlohmann::json to_json(const CellSpec& c);
// Throws Error naming the field that is missing or of the wrong type.
CellSpec cell_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ModelRef& m);
ModelRef model_from_json(const nlohmann::json& j);

// The dimensions of a cell's identity, by name, as `compare --by` and `without` take them.
inline const std::vector<std::string> kIdentityDimensions = {
    "model",       "backend",     "settings", "scenario", "batch", "threads",  "precision",
    "concurrency", "preparation", "arm",      "server",   "peak",  "transport"};

// The identity of a cell as canonical text: equal for every round and repeat of one
// configuration, different for anything else. `without` drops dimensions (for example
// {"arm"} pairs the arms of one configuration). The one definition every reader uses.
std::string identity(const CellSpec& c, const std::set<std::string>& without = {});

// The value of one identity dimension as text (settings as "k=v k=v"), for labels.
std::string dimension_value(const CellSpec& c, const std::string& dimension);

// A stable key of one visit of a cell (what --resume compares): its identity, round, repeat,
// seed, limits and the model file's hash.
std::string cell_key(const CellSpec& c);

// One line of a result file: the cell as asked, what ran, and what was measured.
struct ResultRow {
  std::string schema = kResultSchema;
  std::string cell_key;
  std::string time_utc;
  CellSpec cell;
  std::string backend_version;
  nlohmann::json settings_in_effect = nlohmann::json::object();  // read back from the framework
  std::string precision_in_effect;  // what the framework ran in; empty when it cannot say
  std::optional<bool> batched;      // whether the engine ran a batch as one call
  // What the model preparation did before the framework saw the file (prepare/prepare.h
  // to_json: steps, tools, the prepared file's hash, the interface before and after); for an
  // ensemble {"members": [...]}. Empty for rows written before preparation existed.
  nlohmann::json prepared = nlohmann::json::object();
  std::string status = "ok";
  std::string message;      // why, when not ok
  std::string warning;      // present when the cell is unstable
  std::string output_tail;  // the end of the cell process's output, when not ok
  nlohmann::json latency_ms = nlohmann::json::object();  // Summary (meters/summary.h)
  nlohmann::json metrics = nlohmann::json::object();     // figures with units in their names
  double wall_s = 0;                                     // the cell process's wall time
  std::string node;                                      // host name of the machine that ran it
  nlohmann::json env = nlohmann::json::object();         // the machine (infermark env --json)
  // The machine that ran it, when the rows read together come from more than one (CPU model
  // and cores, read_results sets it): it then labels the row and keeps its identity apart, so
  // that reports compare like with like. Not written.
  std::string machine;
  // The result file the row was read from (read_results), not written: rounds of two files
  // ran at different times and are never paired.
  std::string source;

  bool ok() const { return status == "ok"; }
  // A number of metrics or latency_ms; NaN when absent or not a number.
  double metric(const std::string& key) const;
  double latency(const std::string& key) const;
  // Settings asked as "k=v k=v" and the framework with them, for tables and legends.
  std::string settings_text() const;
  // The framework with what sets this configuration apart ("onnxruntime (threads 1 x2)");
  // without the requests in flight where a table picks the best of them itself.
  std::string label(bool with_concurrency = true) const;
};

nlohmann::json to_json(const ResultRow& r);
// Reads a line of schema 1 or 2. Throws Error saying what is wrong.
ResultRow row_from_json(const nlohmann::json& j);

std::string identity(const ResultRow& r, const std::set<std::string>& without = {});

// A find-peak row's peak rate where the full-length run that confirmed it met the rule of
// core/peak_rule.h; NaN otherwise: no search, no rate held, or a file written before peaks
// were confirmed whose own figures (those of its run at the peak) fail the rule.
double confirmed_peak_qps(const ResultRow& row);

// The host name of this machine (a result row's node).
std::string this_node();

// Appends one result line to a result file and flushes it to disk (what every cell and
// `infermark load` write). Throws Error naming the file.
void append_result(const std::filesystem::path& file, const ResultRow& row);

// Reads result files (JSON lines). Throws Error naming the file and line of anything that is
// not a result line; an empty file gives no rows.
// Every row of the files, with `source` set, and `machine` where they come from more than one
// machine.
std::vector<ResultRow> read_results(const std::vector<std::filesystem::path>& files);
// "AMD EPYC 9654, 2 cores": a row's machine from its env; "" when the row has none.
std::string machine_of(const ResultRow& r);
// Sets `machine` on every row when the rows come from more than one machine.
void mark_machines(std::vector<ResultRow>& rows);

// The figure a scenario is judged by, and whether larger is better: offline and ensemble
// throughput, single-stream p50 latency, server p50 latency at a fixed rate (its throughput
// is the offered rate whenever it keeps up) or the peak rate with --find-peak, load's cold
// load time.
struct Headline {
  std::string metric;  // "throughput_ips", "latency_p50_ms", "peak_qps", "load_cold_ms"
  double value = 0;
  double rel_half_ci = 0;  // half-width of its 95% interval within the cell, relative; 0: none
  bool higher_is_better = true;
  bool ok = false;
};
Headline headline(const ResultRow& row);

}  // namespace infermark
