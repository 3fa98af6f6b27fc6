#pragma once

// What the backend tests share: a temporary folder holding the small zoo models and the
// frameworks' caches, and helpers to load and run one batch through a named backend.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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
  // `b` agrees with the reference `a`: the same shape, finite, within 1e-3 of the reference's
  // range, and the same top-1 class for every image (rows of the last dimension). Callers wrap
  // it in ASSERT_NO_FATAL_FAILURE where a fatal failure must stop the test.
  static void expect_parity(const Tensor& a, const Tensor& b, const std::string& label) {
    ASSERT_EQ(a.shape, b.shape) << label;
    const Difference d = difference(a, b);
    ASSERT_TRUE(d.finite) << label;
    std::printf("parity %-48s max|diff| %.3g  max|ref| %.3g  relative %.3g\n", label.c_str(),
                d.max_abs, d.range, d.relative());
    EXPECT_GT(d.range, 0) << label;
    EXPECT_LT(d.relative(), 1e-3) << label;
    const int64_t classes = a.shape.back();
    for (int64_t img = 0; img < a.shape[0]; ++img) {
      const float* pa = a.data.data() + img * classes;
      const float* pb = b.data.data() + img * classes;
      EXPECT_EQ(std::max_element(pa, pa + classes) - pa, std::max_element(pb, pb + classes) - pb)
          << label << " image " << img;
    }
  }

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
