#pragma once

// What `infermark serve` does before and beside answering: the models to serve (a model
// repository's layout, ensembles), each tried in a process of its own, prepared, loaded and
// warmed up into the server; and memory given back to the system when the server goes idle.

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "serve/model_server.h"

namespace infermark {
class BackendRegistry;
}

namespace infermark::serve {

// A model to serve: its name and file(s) (several: an ensemble), and its batcher's policy.
struct ModelPlan {
  std::string name;
  std::vector<std::filesystem::path> files;
  BatchPolicy policy;
};

// name=A+B: an ensemble of models already planned. Throws Error naming the text.
ModelPlan ensemble_plan(const std::string& text, const std::vector<ModelPlan>& plans,
                        const BatchPolicy& policy);

// A model repository: NAME.onnx, NAME/model.onnx or NAME/1/model.onnx (Triton's layout), with
// an optional NAME/config.json of max_batch, max_queue_delay_ms, max_queue. Throws Error.
std::vector<ModelPlan> repository_plans(const std::filesystem::path& dir,
                                        const BatchPolicy& policy);

struct LoadOptions {
  std::string backend = "onnxruntime";
  Settings settings;  // validated
  int threads = 0;
  std::string precision = "fp32";
  std::string prepare = "simplify";
};

// Each plan's models tried in a process of its own (a framework that crashes on a model costs
// a clear refusal, not the server), prepared, loaded, warmed up at every batch size the
// batcher can form, and added to the server, with a line per model on stdout. Throws Error
// naming the model that cannot be served; false when Ctrl-C stopped a trial.
bool load_models(ModelServer& server, const std::vector<ModelPlan>& plans, const LoadOptions& o,
                 BackendRegistry& registry);

// Memory back to the system once a burst is over, so that a flood leaves the server as large
// as it found it, from a thread of its own (stopped and joined by the destructor):
// - after a second without a request, malloc_trim: glibc keeps what the connections' arenas
//   freed (the requests' bodies);
// - after `release_idle_s` (0: never), each framework gives back what it keeps between runs
//   (Engine::release_cached_memory: ONNX Runtime's arena, grown by the burst's batches),
//   then malloc_trim again.
// Both once per burst, so that a busy server never pays for them.
class IdleTrimmer {
 public:
  IdleTrimmer(ModelServer& server, double release_idle_s);
  ~IdleTrimmer();
  IdleTrimmer(const IdleTrimmer&) = delete;
  IdleTrimmer& operator=(const IdleTrimmer&) = delete;

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace infermark::serve
