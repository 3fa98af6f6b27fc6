#pragma once

// What the backend tests share: a temporary folder holding the small zoo models and the
// frameworks' caches, and helpers to load and run one batch through a named backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "backends/registry.h"
#include "backends/settings.h"
#include "zoo/zoo.h"

namespace infermark {

inline const char* const kZooModels[] = {"vgg19", "resnet50", "densenet201", "efficientnet_b0"};

class BackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() /
           ("infermark_backend_test_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    setenv("XDG_CACHE_HOME", dir_.c_str(), 1);  // the frameworks' caches inside the test folder
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  // Small variant of a zoo model: 64 px, width 0.25.
  static std::filesystem::path small_model(const std::string& name) {
    return zoo::model_file(name, {64, 0.25, 5}, dir_ / "models");
  }
  Settings settings(const std::string& backend, const Settings& given = {}) {
    return validate_settings(registry_.get(backend).info(), given);
  }
  std::unique_ptr<Engine> load(const std::string& backend, const std::filesystem::path& model,
                               int64_t batch, const Settings& given = {}, int threads = 0) {
    return registry_.get(backend).load({model, settings(backend, given), threads, batch});
  }
  Tensor run(const std::string& backend, const std::filesystem::path& model, const Tensor& input,
             const Settings& given = {}, nlohmann::json* in_effect = nullptr) {
    auto engine = load(backend, model, input.shape[0], given);
    Tensor out;
    engine->run(view(input), out);
    if (in_effect) *in_effect = engine->settings_in_effect();
    return out;
  }

  static inline std::filesystem::path dir_;
  BackendRegistry registry_;
};

}  // namespace infermark
