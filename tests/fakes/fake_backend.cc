// A backend for testing the sweep: programmable service time and failure (crash, hang,
// memory exhaustion, framework error, unsupported model), built only into the test tree
// (build/tests/plugins) and found through INFERMARK_PLUGIN_PATH. It honours the backend
// contract (tests/backends/contract_test.cc) without computing the model: it reads the ONNX
// file, refuses an operator that is not a standard ONNX one and an input of another shape
// than the model's, and reports the harness's thread policy in settings_in_effect.
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "backends/plugin.h"

// The plugin's name (tests/CMakeLists.txt builds it as fake, fake2 and fake3): the registry
// names a plugin by its file, and the plugin's messages must begin with that name.
#ifndef FAKE_NAME
#define FAKE_NAME "fake"
#endif

namespace infermark {
namespace {

// A framework's chatter (TensorFlow's absl banner, oneDNN notices), on both streams, when the
// plugin is opened and when it describes itself: tests check it stays off the terminal of the
// commands that only list or check frameworks, and lands in a cell's output.
[[maybe_unused]] const bool kLoadBanner = [] {
  std::printf("FAKE-FRAMEWORK-LOG: banner on stdout when loaded\n");  // buffered by stdio
  std::fprintf(stderr, "FAKE-FRAMEWORK-LOG: banner on stderr when loaded\n");
  return true;
}();

// The model's input dims (-1 where free); Error when the file is not an ONNX model with one
// input, Unsupported naming the first operator that is not a standard ONNX one.
std::vector<int64_t> read_model(const std::filesystem::path& file,
                                std::vector<std::pair<std::string, std::string>>* nodes = nullptr) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto m;
  if (!in || !m.ParseFromIstream(&in))
    throw Error(std::string(FAKE_NAME) + ": cannot read '" + file.string() + "'");
  int64_t opset = 1;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  for (const auto& n : m.graph().node()) {
    if (!onnx::OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset), n.domain()))
      throw Unsupported(std::string(FAKE_NAME) + ": operator " + n.op_type() + " is not supported");
    if (nodes) nodes->emplace_back(n.name().empty() ? n.output(0) : n.name(), n.op_type());
  }
  if (m.graph().input_size() < 1)
    throw Error(std::string(FAKE_NAME) + ": '" + file.string() + "' has no input");
  std::vector<int64_t> dims;
  for (const auto& d : m.graph().input(0).type().tensor_type().shape().dim())
    dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return dims;
}

class FakeEngine final : public Engine {
 public:
  FakeEngine(const Settings& s, std::vector<int64_t> dims, ThreadChoice threads,
             int64_t compiled_batch)
      : settings_(s),
        // mode=fast halves the service time: a setting the tuner must find.
        service_ms_(setting_int(s, "service_ms") / (setting(s, "mode") == "fast" ? 2 : 1)),
        dims_(std::move(dims)),
        threads_(threads),
        compiled_batch_(compiled_batch) {
    if (setting(s, "fail_at") == "run") fail_ = setting(s, "fail");
  }
  void run(const TensorView& input, Tensor& output) override {
    check_input(FAKE_NAME, input, dims_, {}, "input", "the model's");
    fail(fail_);
    const int64_t n = input.shape[0];
    if (output.shape.size() != 2 || output.shape[0] != n) output.resize({n, 10});
    for (int64_t i = 0; i < output.numel(); ++i) output.data[i] = input.data[i % input.numel()];
    std::this_thread::sleep_for(std::chrono::microseconds(service_ms_ * 1000));
    ++runs_;
  }
  // Requests on one loaded model when FAKE_SHARED_REQUESTS is set.
  // A profile as a framework's would be: 90% of the service time spread over the model's nodes
  // by name, the rest in a reorder of the fake's own that no node holds.
  void set_profiled(int64_t skip, std::vector<std::pair<std::string, std::string>> nodes) {
    profiled_ = true;
    skip_ = skip;
    nodes_ = std::move(nodes);
  }
  KernelProfile kernel_profile() override {
    if (!profiled_) throw Error(std::string(FAKE_NAME) + ": not loaded to profile");
    KernelProfile p;
    p.profiler = "the fake's per-node timer";
    p.runs = std::max<int64_t>(0, runs_ - skip_);
    const double total = static_cast<double>(service_ms_ * p.runs);
    for (const auto& [name, op] : nodes_)
      p.kernels.push_back({name, op, {}, 0.9 * total / static_cast<double>(nodes_.size()), p.runs});
    p.kernels.push_back({"FakeReorderInput", "Reorder", {}, 0.1 * total, p.runs});
    return p;
  }
  std::unique_ptr<Engine> new_request() override {
    if (std::getenv("FAKE_SHARED_REQUESTS") == nullptr) return nullptr;
    return std::make_unique<FakeEngine>(*this);
  }
  int64_t framework_calls_per_batch(int64_t batch) const override {
    return compiled_batch_ > 0 ? std::max<int64_t>(1, batch / compiled_batch_) : 1;
  }
  nlohmann::json settings_in_effect() const override {
    return {{"service_ms", service_ms_},
            {"threads", threads_.threads},
            {"threads_from", threads_.from},
            {"cache", "none"}};
  }

  static void fail(const std::string& how) {
    if (how == "crash") raise(SIGSEGV);
    if (how == "hang")
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (how == "oom") {
      std::vector<char*> blocks;
      for (;;) {  // touch memory until the sweep's --memory-limit stops us
        char* b = new char[64 << 20];
        std::memset(b, 1, 64 << 20);
        blocks.push_back(b);
      }
    }
    if (how == "error") throw Error(std::string(FAKE_NAME) + ": the framework failed as asked");
    if (how == "unsupported")
      throw Unsupported(std::string(FAKE_NAME) + ": operator FancyOp is not supported");
    // The cell protocol's out-of-memory exit code with no result written, as when the
    // child cannot write its result file.
    if (how == "exit_oom") std::_Exit(12);
  }

 private:
  Settings settings_;
  int64_t service_ms_;
  std::vector<int64_t> dims_;
  ThreadChoice threads_;
  int64_t compiled_batch_;  // 0: any batch in one call
  std::string fail_ = "none";
  bool profiled_ = false;
  int64_t skip_ = 0, runs_ = 0;
  std::vector<std::pair<std::string, std::string>> nodes_;  // name (or output), operator
};

class FakeBackend final : public Backend {
 public:
  BackendInfo info() const override {
    static const char kLine[] = "FAKE-FRAMEWORK-LOG: describing itself, straight to fd 2\n";
    [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, kLine, sizeof kLine - 1);
    using T = SettingSpec::Type;
    const std::vector<std::string> failures = {"none",  "crash",       "hang",    "oom",
                                               "error", "unsupported", "exit_oom"};
    return {FAKE_NAME,
            true,
            "",
            "0.0",
            {"cpu"},
            {{"service_ms", T::kInt, "1", {}, 0, 10000, "time per batch"},
             {"fail", T::kEnum, "none", failures, 0, 0, "how to fail"},
             {"fail_at", T::kEnum, "run", {"load", "run"}, 0, 0, "when to fail"},
             {"cache_dir", T::kPath, "", {}, 0, 0, "unused"},
             {"mode",
              T::kEnum,
              "plain",
              {"plain", "fast"},
              0,
              0,
              "fast halves service_ms",
              {"plain", "fast"}}},
            capabilities()};
  }
  // A framework that compiles for one batch size when FAKE_STATIC_BATCH is set, and has
  // requests on one loaded model when FAKE_SHARED_REQUESTS is.
  static Capabilities capabilities() {
    Capabilities c;
    c.dynamic_batch = std::getenv("FAKE_STATIC_BATCH") == nullptr;
    c.shared_requests = std::getenv("FAKE_SHARED_REQUESTS") != nullptr;
    if (std::getenv("FAKE_NO_PROFILER") == nullptr)
      c.kernel_profiler = "the fake's per-node timer";
    else
      c.no_kernel_profile = "FAKE_NO_PROFILER is set";
    return c;
  }
  // A framework whose runtime takes FAKE_START_MS to start (0 when unset).
  void start() override {
    const char* ms = std::getenv("FAKE_START_MS");
    if (ms) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  }
  std::unique_ptr<Engine> load(const LoadRequest& r) override {
    if (setting(r.settings, "fail_at") == "load") FakeEngine::fail(setting(r.settings, "fail"));
    std::vector<std::pair<std::string, std::string>> nodes;
    std::vector<int64_t> dims = read_model(r.model, &nodes);
    int64_t compiled_batch = 0;  // any
    if (!capabilities().dynamic_batch) {
      compiled_batch = r.batch > 0 ? r.batch : 1;
      if (!dims.empty()) dims[0] = -1;  // a batch of several compiled_batch runs in pieces
    }
    auto engine = std::make_unique<FakeEngine>(r.settings, std::move(dims),
                                               resolve_threads(0, r.threads), compiled_batch);
    if (r.profile) engine->set_profiled(r.profile_skip_runs, std::move(nodes));
    return engine;
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::FakeBackend)
