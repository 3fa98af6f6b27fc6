// A backend for testing the sweep: programmable service time and failure (crash, hang,
// memory exhaustion, framework error, unsupported model), built only into the test tree
// (build/tests/plugins) and found through INFERMARK_PLUGIN_PATH.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "backends/plugin.h"

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

class FakeEngine final : public Engine {
 public:
  FakeEngine(const Settings& s) : settings_(s), service_ms_(setting_int(s, "service_ms")) {
    if (setting(s, "fail_at") == "run") fail_ = setting(s, "fail");
  }
  void run(const TensorView& input, Tensor& output) override {
    fail(fail_);
    const int64_t n = input.shape[0];
    if (output.shape.size() != 2 || output.shape[0] != n) output.resize({n, 10});
    for (int64_t i = 0; i < output.numel(); ++i) output.data[i] = input.data[i % input.numel()];
    std::this_thread::sleep_for(std::chrono::microseconds(service_ms_ * 1000));
  }
  nlohmann::json settings_in_effect() const override {
    return {{"service_ms", service_ms_}, {"cache", "miss"}};
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
    if (how == "error") throw Error("fake: the framework failed as asked");
    if (how == "unsupported") throw Unsupported("fake: operator FancyOp is not supported");
    // The cell protocol's out-of-memory exit code with no result written, as when the
    // child cannot write its result file.
    if (how == "exit_oom") std::_Exit(12);
  }

 private:
  Settings settings_;
  int64_t service_ms_;
  std::string fail_ = "none";
};

class FakeBackend final : public Backend {
 public:
  BackendInfo info() const override {
    static const char kLine[] = "FAKE-FRAMEWORK-LOG: describing itself, straight to fd 2\n";
    [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, kLine, sizeof kLine - 1);
    using T = SettingSpec::Type;
    const std::vector<std::string> failures = {"none",  "crash",       "hang",    "oom",
                                               "error", "unsupported", "exit_oom"};
    return {"fake",
            true,
            "",
            "0.0",
            {"cpu"},
            {{"service_ms", T::kInt, "1", {}, 0, 10000, "time per batch"},
             {"fail", T::kEnum, "none", failures, 0, 0, "how to fail"},
             {"fail_at", T::kEnum, "run", {"load", "run"}, 0, 0, "when to fail"},
             {"cache_dir", T::kPath, "", {}, 0, 0, "unused"}}};
  }
  // A framework whose runtime takes FAKE_START_MS to start (0 when unset).
  void start() override {
    const char* ms = std::getenv("FAKE_START_MS");
    if (ms) std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  }
  std::unique_ptr<Engine> load(const LoadRequest& r) override {
    if (setting(r.settings, "fail_at") == "load") FakeEngine::fail(setting(r.settings, "fail"));
    return std::make_unique<FakeEngine>(r.settings);
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::FakeBackend)
