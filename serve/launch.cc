#include "serve/launch.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/text.h"
#include "prepare/prepare.h"
#include "verify/isolated.h"

namespace infermark::serve {
namespace {

namespace fs = std::filesystem;

// The model loaded and run once in a process of its own before this one loads it: a framework
// that crashes on the model costs a clear refusal, not the server.
bool probe(const std::string& backend, const LoadRequest& load, const fs::path& model,
           int64_t batch, const std::vector<int64_t>& image) {
  IsolatedJob job;
  job.backend = backend;
  job.load = load;
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), image.begin(), image.end());
  Tensor x;
  x.resize(shape);
  const IsolatedOutcome o = run_isolated(job, x);
  if (o.status == "interrupted") return false;
  if (!o.ok())
    throw Error("model '" + model.string() + "' on " + backend + ": " + o.reason +
                " (tried in a process of its own before serving)");
  return true;
}

}  // namespace

// name=A+B: an ensemble of models already planned.
ModelPlan ensemble_plan(const std::string& text, const std::vector<ModelPlan>& plans,
                        const BatchPolicy& policy) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--ensemble '" + text + "' is not NAME=MODEL+MODEL");
  ModelPlan e{text.substr(0, eq), {}, policy};
  std::string rest = text.substr(eq + 1) + "+";
  for (size_t at = 0, plus; (plus = rest.find('+', at)) != std::string::npos; at = plus + 1) {
    const std::string member = rest.substr(at, plus - at);
    auto it = std::find_if(plans.begin(), plans.end(),
                           [&](const ModelPlan& p) { return p.name == member; });
    if (it == plans.end())
      throw Error("--ensemble '" + text + "': '" + member + "' is not one of the models served");
    e.files.insert(e.files.end(), it->files.begin(), it->files.end());
  }
  if (e.files.size() < 2) throw Error("--ensemble '" + text + "' needs two models or more");
  return e;
}

// A model repository: NAME.onnx, NAME/model.onnx or NAME/1/model.onnx (Triton's layout), with
// an optional NAME/config.json of max_batch, max_queue_delay_ms, max_queue.
std::vector<ModelPlan> repository_plans(const fs::path& dir, const BatchPolicy& policy) {
  if (!fs::is_directory(dir))
    throw Error("--model-repository '" + dir.string() + "' is not a folder");
  std::vector<ModelPlan> plans;
  std::vector<fs::directory_entry> entries(fs::directory_iterator(dir), {});
  std::sort(entries.begin(), entries.end());
  for (const auto& e : entries) {
    ModelPlan p{e.path().stem().string(), {}, policy};
    if (e.is_regular_file() && e.path().extension() == ".onnx") {
      p.files = {e.path()};
    } else if (e.is_directory()) {
      p.name = e.path().filename().string();
      for (const fs::path& f : {e.path() / "model.onnx", e.path() / "1" / "model.onnx"})
        if (fs::exists(f)) {
          p.files = {f};
          break;
        }
      const fs::path config = e.path() / "config.json";
      if (fs::exists(config)) {
        std::ifstream in(config);
        const auto j = nlohmann::json::parse(in, nullptr, false);
        if (!j.is_object()) throw Error("'" + config.string() + "' is not a JSON object");
        try {
          p.policy.max_batch = j.value("max_batch", p.policy.max_batch);
          p.policy.max_queue_delay_ms = j.value("max_queue_delay_ms", p.policy.max_queue_delay_ms);
          p.policy.max_queue = j.value("max_queue", p.policy.max_queue);
        } catch (const nlohmann::json::exception& ex) {
          throw Error("'" + config.string() + "': " + ex.what());
        }
      }
    }
    if (!p.files.empty()) plans.push_back(std::move(p));
  }
  if (plans.empty())
    throw Error("--model-repository '" + dir.string() +
                "' holds no NAME.onnx, NAME/model.onnx or NAME/1/model.onnx");
  return plans;
}

bool load_models(ModelServer& server, const std::vector<ModelPlan>& plans, const LoadOptions& o,
                 BackendRegistry& registry) {
  Backend& backend = registry.get(o.backend);
  const BackendInfo& info = registry.info(o.backend);
  check_precision_name(o.precision);
  check_capabilities(info, o.precision, 1);
  backend.start();
  PrepareOptions prepare = preparation_options(o.prepare);
  prepare.opset_at_least = info.capabilities.min_opset;
  prepare_for_precision(prepare, o.precision);
  // Engines for any batch where the framework has dynamic batches; else for one image, and
  // the batcher's batches are split (as the in-process server scenario does).
  const int64_t load_batch = info.capabilities.dynamic_batch ? 0 : 1;

  for (const ModelPlan& p : plans) {
    std::vector<std::unique_ptr<Engine>> engines;
    ModelSignature sig;
    nlohmann::json prepared = nlohmann::json::array();
    for (const fs::path& f : p.files) {
      const PreparedModel pm = prepare_model(f, prepare);
      const auto& in = pm.after.input_dims;
      if (in.size() != 4 || in[1] < 1 || in[2] < 1 || in[3] < 1)
        throw Error("model '" + f.string() + "' has input " + shape_string(in) +
                    "; serve takes images [N, C, H, W] with C, H, W fixed");
      if (in[0] > 0 && in[0] != 1)
        throw Error("model '" + f.string() + "' fixes its batch at " + std::to_string(in[0]));
      const std::vector<int64_t> image(in.begin() + 1, in.end());
      if (!sig.image_shape.empty() && sig.image_shape != image)
        throw Error("ensemble '" + p.name + "': its models take different images");
      sig.image_shape = image;
      sig.input_name = pm.after.input;
      sig.output_name = pm.after.output;
      const LoadRequest load{pm.file, o.settings, o.threads, in[0] == 1 ? 1 : load_batch,
                             1,       o.precision};
      if (!probe(o.backend, load, f, in[0] == 1 ? 1 : p.policy.max_batch, image)) return false;
      engines.push_back(backend.load(load));
      prepared.push_back(to_json(pm));
      // Warm-up: every batch size the batcher can form, the largest first, down to one
      // image (which also says how many scores the model gives). A framework's memory
      // (ONNX Runtime's arena, its per-shape plans) then reaches the size serving needs before
      // the first client, rather than growing during a burst.
      const int64_t largest = in[0] == 1 ? 1 : p.policy.max_batch;
      std::vector<int64_t> shape = {largest};
      shape.insert(shape.end(), image.begin(), image.end());
      Tensor x, y;
      x.resize(shape);
      for (int64_t b = largest; b >= 1; --b) engines.back()->run(view(x, b), y);
      if (y.shape.size() != 2 || (sig.classes != 0 && sig.classes != y.shape[1]))
        throw Error("model '" + f.string() + "' gives output " + shape_string(y.shape) +
                    (sig.classes != 0 ? ", unlike the ensemble's other models" : "") +
                    "; serve answers scores [N, classes]");
      sig.classes = y.shape[1];
      if (in[0] == 1 && p.policy.max_batch > 1)
        throw Error("model '" + f.string() + "' fixes its batch at 1: serve it with --max-batch 1");
    }
    nlohmann::json settings_json = nlohmann::json::object();
    for (const auto& [k, v] : o.settings) settings_json[k] = v;
    nlohmann::json description = {{"framework", o.backend},
                                  {"framework_version", info.version},
                                  {"settings", settings_json},
                                  {"threads", o.threads},
                                  {"precision", o.precision},
                                  {"preparation", o.prepare},
                                  {"settings_in_effect", engines.front()->settings_in_effect()}};
    if (engines.size() > 1) description["members"] = engines.size();
    server.add(
        std::make_unique<ServedModel>(p.name, std::move(engines), sig, p.policy, description));
    std::printf("model %s: %s on %s, max batch %lld, queue delay %.3g ms, queue %lld\n",
                p.name.c_str(), p.files.size() > 1 ? "ensemble" : p.files.front().c_str(),
                o.backend.c_str(), static_cast<long long>(p.policy.max_batch),
                p.policy.max_queue_delay_ms, static_cast<long long>(p.policy.max_queue));
  }

  return true;
}

IdleTrimmer::IdleTrimmer(ModelServer& server, double release_idle_s)
    : thread_([this, &server, release_idle_s] {
        int64_t last = server.requests_seen(), trimmed_at = last, released_at = last;
        auto quiet_since = std::chrono::steady_clock::now();
        while (!stopping_) {
          std::this_thread::sleep_for(std::chrono::milliseconds(250));
          const int64_t now = server.requests_seen();
          const auto t = std::chrono::steady_clock::now();
          if (now != last) {
            last = now;
            quiet_since = t;
            continue;
          }
          const double quiet_s = std::chrono::duration<double>(t - quiet_since).count();
          if (quiet_s >= 1 && now != trimmed_at) {
            malloc_trim(0);
            trimmed_at = now;
          }
          if (release_idle_s > 0 && quiet_s >= release_idle_s && now != released_at) {
            try {
              server.release_cached_memory();
            } catch (const std::exception& e) {
              std::fprintf(stderr, "infermark serve: %s\n", e.what());
            }
            malloc_trim(0);
            released_at = now;
          }
        }
      }) {}

IdleTrimmer::~IdleTrimmer() {
  stopping_ = true;
  thread_.join();
}

}  // namespace infermark::serve
