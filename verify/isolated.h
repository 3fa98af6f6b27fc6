#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace infermark {

// One framework's load and runs in a child process of its own (this program again, its hidden
// `_run` command), so that a crash, a hang or an out-of-memory kill inside the framework costs
// that one answer and never the command's others. check, infer, accuracy and serve's probe of
// a model go through it; the sweep isolates its cells the same way (core/child_process.h).
struct IsolatedJob {
  std::string backend;
  LoadRequest load;  // the prepared model, settings (validated), threads, batch, precision
  // kTwice: the whole input as one batch, twice (first run, then the steady state);
  // kInBatches: in batches of load.batch, a last shorter one filled up with copies of its
  // first image whose outputs are dropped (engines compiled for one batch run only that one).
  // kProfile (`infermark explain`): the plain engine's `warmup` runs and `runs` timed runs,
  // then, that engine unloaded, the same with an engine loaded with the framework's profiler
  // on (LoadRequest::profile), and its kernel times.
  enum class Mode { kTwice, kInBatches, kProfile };
  Mode mode = Mode::kTwice;
  int runs = 0, warmup = 0;        // kProfile
  double timeout_s = 0;            // 0: none
  int64_t memory_limit_bytes = 0;  // 0: none
};

// How it went. The statuses are those of a sweep's result rows.
struct IsolatedOutcome {
  // ok; unsupported (the framework refused: an operator, a model form); error (it failed
  // otherwise); crash (a signal ended it); timeout; oom (memory limit passed, or SIGKILL);
  // interrupted (Ctrl-C: the caller stops).
  std::string status = "ok";
  std::string reason;  // one line, when not ok: "crashed (SIGSEGV while loading the model)"
  std::string phase;   // where it ended: "starting", "loading", "running"
  Tensor output;
  double load_ms = 0, first_run_ms = 0, second_run_ms = 0;
  nlohmann::json settings_in_effect = nlohmann::json::object();
  int64_t peak_rss_bytes = 0;
  double wall_s = 0;
  std::string output_tail;  // the end of what the process printed, valid UTF-8, when not ok
  // kProfile: each timed run of the plain and the profiled engine, in ms, and the profile.
  std::vector<double> plain_ms, profiled_ms;
  KernelProfile profile;

  bool ok() const { return status == "ok"; }
};

// Runs the job on `input`. Throws Error only when no process can be started; everything the
// framework does is in the outcome.
IsolatedOutcome run_isolated(const IsolatedJob& job, const Tensor& input);

// The child's side, `infermark _run DIR`: reads DIR/job.cbor and DIR/input.npy, writes
// DIR/phase as it goes, then DIR/output.npy and DIR/outcome.json. Returns the exit code.
int run_isolated_child(const std::filesystem::path& dir);

}  // namespace infermark
