#pragma once

// What the backend tests share: a temporary folder holding the small zoo models and the
// frameworks' caches, and helpers to load and run one batch through a named backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/tensor.h"
#include "zoo/zoo.h"

namespace infermark {

inline const char* const kZooModels[] = {"vgg19", "resnet50", "densenet201", "efficientnet_b0"};

// How far outputs are from a reference of the same shape: the largest absolute difference,
// the reference's range (its largest magnitude), their ratio (what `infermark check` calls
// max_rel), and whether every output is finite.
struct Difference {
  double max_abs = 0, range = 0;
  bool finite = true;
  double relative() const { return max_abs / range; }
};
inline Difference difference(const Tensor& ref, const Tensor& out) {
  Difference d;
  for (size_t i = 0; i < ref.data.size() && i < out.data.size(); ++i) {
    d.finite = d.finite && std::isfinite(out.data[i]);
    d.range = std::max(d.range, double(std::fabs(ref.data[i])));
    d.max_abs = std::max(d.max_abs, double(std::fabs(ref.data[i] - out.data[i])));
  }
  return d;
}

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
