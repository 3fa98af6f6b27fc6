// LibTorch (Debian's PyTorch 1.13) behind the backend interface: its settings' defaults,
// numerically equal to ONNX Runtime on small variants of the four architectures (also with
// channels-last memory and with batch norms folded into the convolutions), honest about its
// process-wide threads. What every backend must do (listed, settings, unknown operators, input
// shapes, the uniform settings in effect) is checked by contract_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "backends/cache.h"
#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/npy.h"
#include "tests/backends/backend_fixture.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class LibTorch : public BackendTest {};

TEST_F(LibTorch, VersionAndSettingDefaults) {
  const auto list = registry_.list();
  auto it = std::find_if(list.begin(), list.end(),
                         [](const BackendInfo& b) { return b.name == "libtorch"; });
  ASSERT_NE(it, list.end());
  EXPECT_TRUE(it->available) << it->reason;
  EXPECT_EQ(it->version.rfind("1.", 0), 0u) << it->version;
  EXPECT_NE(std::find(it->devices.begin(), it->devices.end(), "cpu"), it->devices.end());
  std::map<std::string, SettingSpec> specs;
  for (const auto& s : it->settings) {
    specs[s.key] = s;
  }
  for (const char* key : {"threads", "channels_last", "fold_batchnorm"})
    ASSERT_TRUE(specs.count(key)) << key;
  EXPECT_EQ(specs["threads"].default_value, "0");
  EXPECT_EQ(specs["channels_last"].default_value, "false");
  EXPECT_EQ(specs["fold_batchnorm"].default_value, "false");
  EXPECT_FALSE(specs.count("cache_dir")) << "nothing is compiled, so nothing can be cached";
}

// Small variants of all four architectures, under every combination of the two layout and
// fusion settings: PyTorch agrees with ONNX Runtime to 1e-3 of the logits' range and on
// every image's top-1 class.
TEST_F(LibTorch, ParityWithOnnxRuntimeOnSmallVariantsOfTheFourArchitectures) {
  const Tensor input = random_input({2, 3, 64, 64}, 11);
  const std::vector<Settings> variants = {
      {},
      {{"channels_last", "true"}},
      {{"fold_batchnorm", "true"}},
      {{"channels_last", "true"}, {"fold_batchnorm", "true"}},
  };
  for (const char* name : kZooModels) {
    const fs::path model = small_model(name);
    const Tensor a = run("onnxruntime", model, input);
    ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 1000})) << name;
    for (const Settings& given : variants) {
      std::string label = name;
      for (const auto& [k, v] : given) label += " " + k + "=" + v;
      nlohmann::json effect;
      const Tensor b = run("libtorch", model, input, given, &effect);
      ASSERT_NO_FATAL_FAILURE(expect_parity(a, b, label));
      const bool fold = given.count("fold_batchnorm") > 0;
      EXPECT_EQ(effect.at("fold_batchnorm"), fold) << effect.dump();
      EXPECT_EQ(effect.at("channels_last"), given.count("channels_last") > 0) << effect.dump();
      // VGG has no batch norm; ResNet and EfficientNet have one after every convolution;
      // DenseNet's pre-activation layers (BN, ReLU, conv) keep the batch norms that read a
      // concatenation.
      if (fold && std::string(name) != "vgg19") {
        EXPECT_GT(effect.at("batchnorms_folded").get<int>(), 0) << label;
        if (std::string(name) != "densenet201") {
          EXPECT_FALSE(effect.at("operators").contains("BatchNormalization")) << effect.dump();
        }
      } else {
        EXPECT_EQ(effect.at("batchnorms_folded"), 0) << label;
      }
    }
  }
}

// A dynamic engine runs any batch; the results do not depend on the batch.
// bf16 is PyTorch's CPU autocast: the logits come out of a bf16 matrix product (so the
// error is bf16's, well above fp32's and within check's bf16 tolerance), fp32 stays exact, and
// the autocast state of the calling thread is left as it was.
TEST_F(LibTorch, Bf16IsCpuAutocastWithBf16sErrorAndFp32StaysExact) {
  const fs::path model = small_model("resnet50");
  const Tensor input = random_input({2, 3, 64, 64}, 21);
  const Tensor ref = run("onnxruntime", model, input);
  auto relative = [&](const Tensor& out) { return difference(ref, out).relative(); };
  Backend& b = registry_.get("libtorch");
  const auto& offered = registry_.info("libtorch").capabilities.precisions;
  const bool bf16_offered = std::find(offered.begin(), offered.end(), "bf16") != offered.end();
  ASSERT_EQ(bf16_offered, cpu_has_bf16()) << "bf16 offered exactly where the CPU computes it";
  if (!bf16_offered) {
    try {
      b.load({model, settings("libtorch"), 0, 2, 1, "bf16"});
      ADD_FAILURE() << "bf16 accepted on a CPU without AVX512_BF16 or AMX";
    } catch (const Unsupported& e) {
      EXPECT_NE(std::string(e.what()).find("precision bf16 is not offered"), std::string::npos)
          << e.what();
    }
    return;
  }
  // fp32 again after bf16, on the same thread: autocast's thread-local state was restored.
  for (const std::string precision : {"fp32", "bf16", "fp32"}) {
    auto engine = b.load({model, settings("libtorch"), 0, 2, 1, precision});
    Tensor out;
    engine->run(view(input), out);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("precision_in_effect"), precision) << e.dump();
    const double rel = relative(out);
    std::printf("libtorch %s: relative difference to onnxruntime %.3g\n", precision.c_str(), rel);
    if (precision == "fp32") {
      EXPECT_LT(rel, 1e-4);
    } else {
      EXPECT_GT(rel, 1e-4) << "no more error than fp32: did bf16 run?";
      EXPECT_LT(rel, 5e-2);
    }
  }
}

TEST_F(LibTorch, DynamicBatchGivesTheSameLogitsPerImage) {
  const fs::path model = small_model("efficientnet_b0");
  const Tensor input = random_input({3, 3, 64, 64}, 5);
  auto engine = load("libtorch", model, 0);
  Tensor all, first;
  engine->run(view(input), all);
  ASSERT_EQ(all.shape, (std::vector<int64_t>{3, 1000}));
  engine->run(view(input, 1), first);
  ASSERT_EQ(first.shape, (std::vector<int64_t>{1, 1000}));
  double range = 0, diff = 0;
  for (int i = 0; i < 1000; ++i) {
    range = std::max(range, double(std::fabs(all.data[i])));
    diff = std::max(diff, double(std::fabs(first.data[i] - all.data[i])));
  }
  EXPECT_LT(diff / range, 1e-4) << diff << " of " << range;
}

TEST_F(LibTorch, ThreadsMkldnnAndCacheAreReadBack) {
  const fs::path model = small_model("resnet50");
  const Tensor input = random_input({1, 3, 64, 64}, 1);
  {
    auto engine = load("libtorch", model, 1, {{"threads", "1"}});
    Tensor out;
    engine->run(view(input), out);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("threads"), 1) << e.dump();
    EXPECT_EQ(e.at("threads_from"), "setting") << e.dump();
    EXPECT_EQ(e.at("interop_threads"), 1) << e.dump();
    EXPECT_EQ(e.at("cache"), "none") << e.dump();
    EXPECT_TRUE(e.at("mkldnn_enabled").is_boolean()) << e.dump();
    EXPECT_EQ(e.at("torch_version").get<std::string>().rfind("1.", 0), 0u) << e.dump();
  }
  {
    auto engine = load("libtorch", model, 1, {}, 2);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("threads"), 2) << e.dump();
    EXPECT_EQ(e.at("threads_from"), "harness") << e.dump();
  }
  // Threads are process-wide in PyTorch: an engine sets its own count again when it runs.
  auto one = load("libtorch", model, 1, {{"threads", "1"}});
  auto two = load("libtorch", model, 1, {{"threads", "2"}});
  Tensor a, b;
  one->run(view(input), a);
  EXPECT_EQ(one->settings_in_effect().at("threads"), 1);
  two->run(view(input), b);
  EXPECT_EQ(two->settings_in_effect().at("threads"), 2);
  EXPECT_EQ(a.shape, b.shape);
}

}  // namespace
}  // namespace infermark
