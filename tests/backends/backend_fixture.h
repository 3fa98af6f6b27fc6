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
#include "core/onnx_io.h"
#include "core/tensor.h"
#include "zoo/graph_builder.h"
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
    // The frameworks' caches (compiled libraries, converted models, prepared files) are shared
    // by every backend test of this build: a model compiled once with the same settings is a
    // cache hit in the next test (the keys hold the file's contents, the settings and the
    // framework's version), and the backend tests run one at a time (RUN_SERIAL). Tests of a
    // cache's miss and hit give a cache_dir of their own.
    std::filesystem::create_directories(shared_cache());
    setenv("XDG_CACHE_HOME", shared_cache().c_str(), 1);
  }
  // In the build folder, next to the program: a fresh build starts empty.
  static std::filesystem::path shared_cache() {
    return std::filesystem::path(INFERMARK_BINARY).parent_path() / "test-cache";
  }
  // The models the tests share, at one path: a cache entry is found by the model's path as
  // well as its contents (backends/cache.h), so a model written anew in each test's own
  // folder would be compiled anew in each test.
  static std::filesystem::path shared_models() { return shared_cache() / "models"; }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  // A small convolutional net on 3x32x32 with 10 classes: 3x3, strided and 1x1 convolutions
  // with batch norms, a residual add, max pooling and a classifier. What the tests of a
  // framework's own machinery (its caches, settings, layouts, schedules, tuning) compile, in
  // seconds where a zoo model takes minutes; parity on the zoo's architectures is the
  // contract's (contract_test.cc). Few classes over many features, so that the top-1 class is
  // not a near tie.
  static std::filesystem::path small_convnet() {
    const std::filesystem::path file = shared_models() / "small_convnet_c64_k10.onnx";
    if (!std::filesystem::exists(file)) {
      zoo::GraphBuilder g("small_convnet", 3);
      std::string x = g.input(3, 32);
      x = g.relu(g.batch_norm(g.conv(x, "stem", 32, 3, 2, 1), "stem_bn"));
      x = g.max_pool(x, 3, 2, 1);
      const std::string branch = g.relu(g.batch_norm(g.conv(x, "a", 32, 3, 1, 1), "a_bn"));
      x = g.relu(g.add(x, g.batch_norm(g.conv(branch, "b", 32, 1, 1, 0), "b_bn")));
      x = g.relu(g.batch_norm(g.conv(x, "down", 64, 3, 2, 1), "down_bn"));
      x = g.linear(g.flatten(g.global_avg_pool(x)), "fc", 10);
      save_onnx(g.finish(x), file);
    }
    return file;
  }

  // Small variant of a zoo model: 64 px, width 0.25.
  static std::filesystem::path small_model(const std::string& name) {
    return zoo::model_file(name, {64, 0.25, 5}, shared_models());
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
