#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/profile.h"
#include "core/tensor.h"

namespace infermark {

// One setting a backend understands, as `infermark backends` lists it and `--set
// BACKEND.KEY=VALUE` sets it. Keys are snake_case.
struct SettingSpec {
  enum class Type { kBool, kInt, kEnum, kPath, kText };
  std::string key;
  Type type = Type::kEnum;
  std::string default_value;         // as text; "" means the framework's own default
  std::vector<std::string> allowed;  // kEnum: the valid values
  int64_t min = 0, max = 0;          // kInt: inclusive range
  std::string help;                  // one line: what it does and why the default
  // The values `infermark tune` tries (the default among them): those an expert would try
  // for speed on this framework. Empty: the tuner leaves the setting at its default unless
  // the user widens the search (tune --set).
  std::vector<std::string> tune = {};
};

// Values by key, validated against the specs (validate_settings fills in defaults).
using Settings = std::map<std::string, std::string>;

// What a framework can do on this machine, declared by its plugin so that the harness plans
// with it instead of discovering it as a failure (sweep/cell.cc reads it before loading). The
// contract suite (tests/backends/contract_test.cc) holds every plugin to what it declares.
struct Capabilities {
  // An engine runs a batch of N as one call into the framework; false: image by image (a
  // batch is then never batched, and results say so).
  bool batches_natively = true;
  // An engine loaded with batch 0 runs any batch size without compiling again; false: an
  // engine is compiled for one batch size (the server's dynamic batcher then gets an engine
  // compiled for one image, and its batches are split).
  bool dynamic_batch = true;
  // The precisions it computes in here ("fp32", "bf16", "fp16", "int8"): a cell asking
  // another is unsupported without loading.
  std::vector<std::string> precisions = {"fp32"};
  // Several engines of this backend run side by side in one process, each from its own
  // thread, with the same results as alone (what concurrency > 1 needs).
  bool concurrent_engines = true;
  // Engine::new_request gives more requests on one loaded model (OpenVINO's infer requests,
  // ONNX Runtime's Run on one session), which --concurrency then uses instead of loading one
  // engine per request.
  bool shared_requests = false;
  // The oldest opset of the default ONNX domain it imports; the model preparation raises an
  // older file's to it (0: any).
  int min_opset = 0;
  // Where one batch is run (check, infer, accuracy, conformance), the preparation fixes it in
  // the file, so that shape arithmetic on the batch folds away before the framework sees it;
  // false for a framework that handles a free batch itself and is worse with a fixed one.
  bool fixed_batch_helps = true;
  // The framework's own per-kernel profiler that LoadRequest::profile switches on (`infermark
  // explain`), named as its documentation names it; empty: it offers none to this plugin, and
  // no_kernel_profile says why.
  std::string kernel_profiler;
  std::string no_kernel_profile;
  // The profiler's records name the model's nodes (or the tensors they write); false where
  // they name the framework's own compiled functions (TVM's fused functions), which explain
  // can only class by name.
  bool kernel_names_nodes = true;
  // A framework that compiles or converts ahead of time: a rough cost of preparing one engine
  // before its first run, fixed seconds plus seconds per GFLOP of one image, as measured on 2
  // cores (docs/backends.md), which a study's plan counts (`paper --budget`); 0 where a load
  // takes seconds.
  double compile_s = 0;
  double compile_s_per_gflop = 0;
};

// What a backend can tell about itself without loading a model.
struct BackendInfo {
  std::string name;
  bool available = false;
  std::string reason;  // why not available
  std::string version;
  std::vector<std::string> devices;
  std::vector<SettingSpec> settings;
  Capabilities capabilities;
};

// What to load and how. Threads and batch are the harness's, applied to every framework
// the same way; settings are the framework's own.
struct LoadRequest {
  std::filesystem::path model;  // an ONNX file
  Settings settings;            // validated, defaults filled in
  int threads = 0;              // 0: every core this process may use
  int64_t batch = 0;            // batch the engine will run; 0: any (dynamic)
  // Requests the harness keeps in flight at once on this model (offline --concurrency), each
  // from its own thread: threads is then each request's share of the cores, and a framework
  // that runs parallel requests itself (OpenVINO's streams) configures for all of them.
  int concurrency = 1;
  // The precision the engine computes in: "fp32", or another of the framework's declared
  // Capabilities::precisions ("bf16", "int8"); the harness refuses the others before loading
  // (check_capabilities), and a plugin refuses what it would silently run in another.
  std::string precision = "fp32";
  // The framework's own profiler on (Capabilities::kernel_profiler), for Engine::kernel_profile:
  // its times leave out the first profile_skip_runs runs (warm-up). A profiled engine is never
  // used for a benchmark result: profiling changes timings.
  bool profile = false;
  int64_t profile_skip_runs = 0;
};

// A model loaded and compiled by one framework, ready to run batches.
class Engine {
 public:
  virtual ~Engine() = default;
  // Runs one batch. input: [N, C, H, W] float32; output: resized by the engine to its
  // result ([N, classes]). Must not allocate per call once output has its size.
  virtual void run(const TensorView& input, Tensor& output) = 0;
  // What the framework really uses (threads, precision, optimization level, streams...),
  // read back from the framework where it allows, not just echoed from the request.
  virtual nlohmann::json settings_in_effect() const = 0;
  // How many calls into the framework run() makes for a batch of `batch` images: 1 when the
  // framework runs the batch as one (the default), more when the engine splits it (an engine
  // compiled for one image runs a batch image by image). A batch that is split is not
  // batched, whatever the scenario's batcher formed, and the result says so.
  virtual int64_t framework_calls_per_batch(int64_t batch) const {
    (void)batch;
    return 1;
  }
  // Another request on the same loaded model, with its own request state, to run from another
  // thread at the same time as this engine and the other requests (OpenVINO's infer
  // requests on one compiled model; ONNX Runtime's Run, thread-safe on one session). It
  // shares the model's weights and compiled code, and stays valid on its own. nullptr: the
  // framework offers no such thing, and the harness loads one engine per request instead.
  virtual std::unique_ptr<Engine> new_request() { return nullptr; }
  // Gives back to the system what the framework keeps between runs only to run the next one
  // sooner: an allocator's arena that a burst of large batches grew (ONNX Runtime's). For a
  // server that has gone idle; the next run pays for taking the memory again. Safe to call
  // while another request of the same model runs. Default: the framework keeps nothing
  // that can be given back, or offers no way to.
  virtual void release_cached_memory() {}
  // An engine loaded with LoadRequest::profile: what the framework's profiler timed in the runs
  // after the skipped ones, summed. Called once, after the last run (some profilers end
  // there). Throws Error where the profiler's output cannot be read.
  virtual KernelProfile kernel_profile() { throw Error("this engine was not loaded to profile"); }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;
  // Starts the framework's runtime (its libraries, interpreter, thread pools, device
  // discovery) so that load() measures loading a model and not starting the framework: the
  // harness calls it once before the first load and reports its time as framework start-up
  // (docs/results.md, "Load time"). load() must still work without it. Throws Error.
  virtual void start() {}
  // Throws Error (framework's message with our context) or Unsupported (operator or model
  // the framework cannot compile).
  virtual std::unique_ptr<Engine> load(const LoadRequest& request) = 0;
};

}  // namespace infermark
