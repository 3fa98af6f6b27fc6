// TensorFlow (tensorflow-cpu's C API, SavedModels converted by onnx2tf) behind the backend
// interface: its settings' defaults, numerically equal to ONNX Runtime on small variants of
// the four architectures with XLA on and off, caching its conversions, its two thread pools. What
// every backend must do (listed, settings, unknown operators, input shapes, the uniform settings in
// effect) is checked by contract_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "backends/plugin.h"
#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/machine.h"
#include "core/npy.h"
#include "tests/backends/backend_fixture.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class TensorFlow : public BackendTest {
 protected:
  // Whether TensorFlow runs oneDNN's custom operations in this process: TF_ENABLE_ONEDNN_OPTS
  // when set, else TensorFlow's default on Linux x86 (DefaultOneDnnPolicy), which turns them on
  // for CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX and leaves them off on AVX2-only
  // ones.
  static bool onednn_expected() {
    if (const char* v = std::getenv("TF_ENABLE_ONEDNN_OPTS")) {
      const std::string value = v;
      if (value == "1" || value == "true" || value == "TRUE" || value == "True") return true;
      if (value == "0" || value == "false" || value == "FALSE" || value == "False") return false;
    }
    const Machine m = read_machine();
    for (const char* f :
         {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}) {
      if (m.isa.count(f) && m.isa.at(f)) return true;
    }
    return false;
  }

  // What the traced first run recorded. Without XLA: the model's convolutions ran in the
  // executor (the function is inlined, no call), under the names of the kernels in use:
  // oneDNN's (_MklNativeFusedConv2D, _MklNativeDepthwiseConv2dNative...) or TensorFlow's own
  // (Conv2D, DepthwiseConv2dNative, Grappler's _FusedConv2D). With XLA: one call of the
  // compiled function (the XLA launch) and no convolution beside it.
  static void expect_trace(const nlohmann::json& effect, bool xla, const std::string& label) {
    const int conv_kernels = effect.at("executor_conv_kernels").get<int>();
    const nlohmann::json& conv_ops = effect.at("executor_conv_ops");
    int by_op = 0;
    for (const auto& [op, n] : conv_ops.items()) by_op += n.get<int>();
    EXPECT_EQ(by_op, conv_kernels) << label << ": " << effect.dump();
    if (xla) {
      EXPECT_EQ(conv_kernels, 0) << label << ": " << effect.dump();
      EXPECT_GE(effect.at("executor_function_calls").get<int>(), 1)
          << label << ": " << effect.dump();
      EXPECT_EQ(effect.at("xla_compiled"), true) << label << ": " << effect.dump();
      return;
    }
    EXPECT_GT(conv_kernels, 0) << label << ": " << effect.dump();
    EXPECT_EQ(effect.at("executor_function_calls"), 0) << label << ": " << effect.dump();
    EXPECT_EQ(effect.at("xla_compiled"), false) << label << ": " << effect.dump();
    const bool onednn = onednn_expected();
    for (const auto& [op, n] : conv_ops.items()) {
      if (onednn) {
        EXPECT_EQ(op.rfind("_Mkl", 0), 0u) << label << ": oneDNN on, yet " << op;
      } else {
        EXPECT_TRUE(op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "_FusedConv2D")
            << label << ": oneDNN off, yet " << op;
      }
    }
    if (onednn) {
      EXPECT_GT(effect.at("executor_onednn_kernels").get<int>(), 0)
          << label << ": " << effect.dump();
    } else {
      EXPECT_EQ(effect.at("executor_onednn_kernels"), 0) << label << ": " << effect.dump();
    }
  }
};

TEST_F(TensorFlow, VersionAndSettingDefaults) {
  const auto list = registry_.list();
  auto it = std::find_if(list.begin(), list.end(),
                         [](const BackendInfo& b) { return b.name == "tensorflow"; });
  ASSERT_NE(it, list.end());
  EXPECT_TRUE(it->available) << it->reason;
  EXPECT_EQ(it->version.rfind("2.", 0), 0u) << it->version;
  EXPECT_NE(std::find(it->devices.begin(), it->devices.end(), "cpu"), it->devices.end());
  std::map<std::string, SettingSpec> specs;
  for (const auto& s : it->settings) {
    specs[s.key] = s;
  }
  for (const char* key : {"xla", "cache_dir", "intra_op_threads", "inter_op_threads"})
    ASSERT_TRUE(specs.count(key)) << key;
  EXPECT_EQ(specs["xla"].default_value, "false");
  EXPECT_EQ(specs["xla"].type, SettingSpec::Type::kBool);
  EXPECT_EQ(specs["cache_dir"].type, SettingSpec::Type::kPath);
  // The fixture points XDG_CACHE_HOME at its folder.
  EXPECT_EQ(specs["cache_dir"].default_value,
            (shared_cache() / "infermark" / "tensorflow").string());
  EXPECT_EQ(specs["intra_op_threads"].default_value, "0");
  EXPECT_EQ(specs["inter_op_threads"].default_value, "1");
}

// Small variants of all four architectures agree with ONNX Runtime to 1e-3 of the logits'
// range and on every image's top-1 class, through TensorFlow's executor and through XLA. The
// first load of each model converts it (cache miss); the second finds the SavedModel (hit),
// since xla only picks one of its two signatures.
TEST_F(TensorFlow, ParityWithOnnxRuntimeWithAndWithoutXla) {
  const Tensor input = random_input({2, 3, 64, 64}, 11);
  for (const char* name : kZooModels) {
    const fs::path model = small_model(name);
    const Tensor a = run("onnxruntime", model, input);
    ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 1000})) << name;
    for (const char* xla : {"false", "true"}) {
      const std::string label = std::string(name) + " xla=" + xla;
      nlohmann::json effect;
      const Tensor b = run("tensorflow", model, input, {{"xla", xla}}, &effect);
      expect_parity(a, b, label);
      EXPECT_EQ(effect.at("xla"), std::string(xla) == "true") << effect.dump();
      // The conversion is shared by both signatures (and by the contract's parity, through
      // the backend tests' shared cache): the second load of a model is a hit.
      if (std::string(xla) == "true") {
        EXPECT_EQ(effect.at("cache"), "hit") << effect.dump();
      }
      EXPECT_EQ(effect.at("signature"),
                std::string(xla) == "true" ? "serving_xla" : "serving_default")
          << effect.dump();
      expect_trace(effect, std::string(xla) == "true", label);
    }
  }
}

// The executor's convolutions are found under either of TensorFlow's namings: ctest also runs
// this test with TF_ENABLE_ONEDNN_OPTS=0 and =1 (oneDNN's kernels run on AVX2-only CPUs too
// when asked for), so both are checked on every CPU, not only the one its default picks.
// EfficientNet has both kinds of convolution, plain and depthwise.
TEST_F(TensorFlow, ConvolutionsFoundUnderEitherKernelNaming) {
  const fs::path model = small_model("efficientnet_b0");
  const Tensor input = random_input({1, 3, 64, 64}, 7);
  const Tensor a = run("onnxruntime", model, input);
  const std::string onednn = onednn_expected() ? "oneDNN on" : "oneDNN off";
  for (const bool xla : {false, true}) {
    const std::string label =
        "efficientnet_b0 xla=" + std::string(xla ? "true" : "false") + ", " + onednn;
    nlohmann::json effect;
    const Tensor b = run("tensorflow", model, input, {{"xla", xla ? "true" : "false"}}, &effect);
    expect_parity(a, b, label);
    expect_trace(effect, xla, label);
    std::printf("%s: executor convolutions %s\n", label.c_str(),
                effect.at("executor_conv_ops").dump().c_str());
    if (!xla) {
      bool depthwise = false;
      for (const auto& [op, n] : effect.at("executor_conv_ops").items())
        depthwise = depthwise || op.find("Depthwise") != std::string::npos;
      EXPECT_TRUE(depthwise) << effect.dump();
      EXPECT_GE(effect.at("executor_conv_ops").size(), 2u) << effect.dump();
    }
  }
}

// A second load finds the converted SavedModel and runs no conversion; outputs are identical.
// With the cache off, every load converts into a private folder that is removed afterwards.
TEST_F(TensorFlow, CacheMissThenHitWithIdenticalOutputs) {
  const fs::path model = small_model("vgg19");  // the quickest of the four to convert
  const Tensor input = random_input({1, 3, 64, 64}, 3);
  const fs::path cache = dir_ / "tf-cache";
  const Settings given = {{"cache_dir", cache.string()}};
  nlohmann::json first, second;
  const Tensor a = run("tensorflow", model, input, given, &first);
  const Tensor b = run("tensorflow", model, input, given, &second);
  EXPECT_EQ(first.at("cache"), "miss") << first.dump();
  EXPECT_GT(first.at("convert_ms").get<double>(), 0) << first.dump();
  EXPECT_EQ(second.at("cache"), "hit") << second.dump();
  EXPECT_EQ(second.at("convert_ms"), 0) << second.dump();
  EXPECT_EQ(first.at("cache_entry"), second.at("cache_entry"));
  EXPECT_EQ(a.data, b.data);
  std::printf("vgg19 64px: load %.0f ms (miss, conversion %.0f ms), %.0f ms (hit)\n",
              first.at("load_ms").get<double>(), first.at("convert_ms").get<double>(),
              second.at("load_ms").get<double>());
  // One entry, no temporary folders left behind.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    ++entries;
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
    EXPECT_TRUE(fs::is_regular_file(e.path() / "infermark.json")) << e.path();
    EXPECT_TRUE(fs::is_regular_file(e.path() / "saved_model.pb")) << e.path();
  }
  EXPECT_EQ(entries, 1);

  nlohmann::json off;
  const Tensor c = run("tensorflow", model, input, {{"cache_dir", "off"}}, &off);
  EXPECT_EQ(off.at("cache"), "off") << off.dump();
  EXPECT_EQ(off.at("cache_entry"), "") << off.dump();
  EXPECT_EQ(a.data, c.data);
}

// Weights beyond the helper's budget of constants (128 MiB: the full-size VGG-19's two largest
// matrices) are variables, which TF_LoadSessionFromSavedModel restores from the SavedModel's
// variables/ folder. With the budget at 0, every filter and weight matrix of a small model is
// a variable: the entry's graph holds almost no weights, and the outputs still agree with ONNX
// Runtime, through the executor and through XLA.
TEST_F(TensorFlow, WeightsBeyondTheConstantBudgetAreRestoredFromVariables) {
  const fs::path model = small_model("vgg19");
  const Tensor input = random_input({2, 3, 64, 64}, 5);
  const Tensor a = run("onnxruntime", model, input);
  ASSERT_EQ(::setenv("INFERMARK_TF_CONSTANT_BUDGET", "0", 1), 0);
  struct Unset {
    ~Unset() { ::unsetenv("INFERMARK_TF_CONSTANT_BUDGET"); }
  } unset;
  const fs::path cache = dir_ / "tf-cache-variables";
  for (const char* xla : {"false", "true"}) {
    const std::string label = std::string("vgg19 weights as variables, xla=") + xla;
    nlohmann::json effect;
    const Tensor b =
        run("tensorflow", model, input, {{"cache_dir", cache.string()}, {"xla", xla}}, &effect);
    expect_parity(a, b, label);
    expect_trace(effect, std::string(xla) == "true", label);
  }
  // The entry (the key has the budget): weights in variables/, not in saved_model.pb.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    ++entries;
    uintmax_t variables = 0;
    for (const auto& f : fs::directory_iterator(e.path() / "variables"))
      variables += fs::file_size(f.path());
    const uintmax_t graph = fs::file_size(e.path() / "saved_model.pb");
    const uintmax_t onnx = fs::file_size(model);
    std::printf("vgg19 64px, budget 0: model %ju bytes, variables/ %ju, saved_model.pb %ju\n", onnx,
                variables, graph);
    EXPECT_GT(variables, onnx * 9 / 10) << e.path();
    EXPECT_LT(graph, onnx / 10) << e.path();
  }
  EXPECT_EQ(entries, 1);
}

// bf16 is oneDNN's graph rewrite: offered where oneDNN is on and the CPU has AVX512_BF16 or
// AMX; there it runs with bf16's error (above fp32's, within check's bf16 tolerance), casts in
// the traced run, and is refused with XLA; elsewhere it is refused before loading.
TEST_F(TensorFlow, Bf16IsOneDnnsRewriteWhereTheCpuHasIt) {
  const Machine m = read_machine();
  auto has = [&](const char* f) { return m.isa.count(f) && m.isa.at(f); };
  const bool offered = onednn_expected() && (has("avx512_bf16") || has("amx_bf16"));
  const auto& p = registry_.info("tensorflow").capabilities.precisions;
  EXPECT_EQ(std::find(p.begin(), p.end(), "bf16") != p.end(), offered);
  const fs::path model = small_model("resnet50");
  const Tensor input = random_input({2, 3, 64, 64}, 23);
  Backend& b = registry_.get("tensorflow");
  if (!offered) {
    EXPECT_THROW(b.load({model, settings("tensorflow"), 0, 2, 1, "bf16"}), Unsupported);
    return;
  }
  const Tensor ref = run("onnxruntime", model, input);
  auto engine = b.load({model, settings("tensorflow"), 0, 2, 1, "bf16"});
  Tensor out;
  engine->run(view(input), out);
  const nlohmann::json e = engine->settings_in_effect();
  EXPECT_EQ(e.at("precision_in_effect"), "bf16") << e.dump();
  EXPECT_GT(e.at("executor_casts").get<int>(), 0) << e.dump();
  double range = 0, diff = 0;
  for (size_t i = 0; i < ref.data.size(); ++i) {
    range = std::max(range, double(std::fabs(ref.data[i])));
    diff = std::max(diff, double(std::fabs(ref.data[i] - out.data[i])));
  }
  std::printf("tensorflow bf16: relative difference to onnxruntime %.3g\n", diff / range);
  EXPECT_GT(diff / range, 1e-4) << "no more error than fp32: did bf16 run?";
  EXPECT_LT(diff / range, 5e-2);
  EXPECT_THROW(b.load({model, settings("tensorflow", {{"xla", "true"}}), 0, 2, 1, "bf16"}),
               Unsupported);
}

TEST_F(TensorFlow, ThreadsAreTheHarnessOnesUnlessSet) {
  const fs::path model = small_model("efficientnet_b0");
  auto harness = load("tensorflow", model, 1, {}, 2);
  EXPECT_EQ(harness->settings_in_effect().at("intra_op_threads"), 2);
  EXPECT_EQ(harness->settings_in_effect().at("inter_op_threads"), 1);
  auto set = load("tensorflow", model, 1, {{"intra_op_threads", "1"}, {"inter_op_threads", "0"}});
  EXPECT_EQ(set->settings_in_effect().at("intra_op_threads"), 1);
  EXPECT_EQ(set->settings_in_effect().at("inter_op_threads"), cores_available());
}

}  // namespace
}  // namespace infermark
