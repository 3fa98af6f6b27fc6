// The contract every backend keeps, checked the same way for each: every framework the build
// enabled, and every plugin found through INFERMARK_PLUGIN_PATH (the test's fake among them).
// A framework the build enabled but could not build is listed as not available: its tests
// fail on that, they are not skipped.
//
// Which frameworks compute the model: those of the study (the registry's own list: what
// BackendRegistry::known() names with no plugin folder), never a plugin it only finds. Only they
// are held to parity with ONNX Runtime (the ContractParity suite, the reference itself left out); a
// plugin found only through INFERMARK_PLUGIN_PATH (the fake) keeps the rest of the contract.
//
// What is specific to one framework (its parity under its own settings, its cache, its
// special settings and messages) stays in tests/backends/<name>_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/onnx_io.h"
#include "explain/explain.h"
#include "tests/backends/backend_fixture.h"
#include "tests/enabled_frameworks.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

// The enabled frameworks, then the plugins of INFERMARK_PLUGIN_PATH that the study does not
// know (the fake of tests/fakes unless the variable names other folders).
std::vector<std::string> frameworks_under_contract() {
  setenv("INFERMARK_PLUGIN_PATH", FAKE_PLUGIN_DIR, /*overwrite=*/0);
  std::vector<std::string> names = enabled_frameworks();
  const std::vector<std::string> study = BackendRegistry(std::vector<fs::path>{}).known();
  for (const std::string& n : BackendRegistry().known())
    if (std::find(study.begin(), study.end(), n) == study.end()) names.push_back(n);
  return names;
}

// The frameworks that compute the model, compared with ONNX Runtime, the reference.
std::vector<std::string> frameworks_computing_the_model() {
  std::vector<std::string> names;
  for (const std::string& n : enabled_frameworks())
    if (n != "onnxruntime") names.push_back(n);
  return names;
}

constexpr int kOneThread = 1;  // the harness's request in every load of the contract

class Contract : public BackendTest, public ::testing::WithParamInterface<std::string> {
 protected:
  const std::string& name() const { return GetParam(); }
  // The backend, failing the test (not skipping it) when it is not available.
  Backend* backend() {
    try {
      return &registry_.get(name());
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
      return nullptr;
    }
  }
  std::unique_ptr<Engine> load_small(const std::string& model = "vgg19") {
    return load(name(), small_model(model), 1, {}, kOneThread);
  }
};

class ContractParity : public Contract {};

TEST_P(Contract, ListedAvailableWithVersionDevicesAndSettings) {
  ASSERT_TRUE(backend());
  const BackendInfo& info = registry_.info(name());
  EXPECT_TRUE(info.available) << info.reason;
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.devices.empty());
  EXPECT_FALSE(info.settings.empty());
  for (const SettingSpec& s : info.settings) {
    const bool snake = !s.key.empty() && std::islower(static_cast<unsigned char>(s.key[0])) &&
                       std::all_of(s.key.begin(), s.key.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                       });
    EXPECT_TRUE(snake) << "not snake_case: " << s.key;
    EXPECT_FALSE(s.help.empty()) << s.key;
    EXPECT_EQ(s.help.find('\n'), std::string::npos) << s.key << ": help of more than one line";
    EXPECT_NO_THROW(validate_settings(info, {{s.key, s.default_value}}))
        << s.key << "=" << s.default_value << ": the default is not valid";
    // What the tuner tries: valid values, the default among them (its starting point).
    for (const auto& v : s.tune)
      EXPECT_NO_THROW(validate_settings(info, {{s.key, v}})) << s.key << "=" << v << ": tune value";
    if (!s.tune.empty()) {
      EXPECT_NE(std::find(s.tune.begin(), s.tune.end(), s.default_value), s.tune.end())
          << s.key << ": the tuner's values leave out the default";
    }
  }
  EXPECT_NO_THROW(validate_settings(info, {}));
}

TEST_P(Contract, BadSettingValuesAreRefusedNamingTheKey) {
  ASSERT_TRUE(backend());
  const BackendInfo& info = registry_.info(name());
  int checked = 0;
  for (const SettingSpec& s : info.settings) {
    std::string bad;
    if (s.type == SettingSpec::Type::kInt) bad = "not-a-number";
    if (s.type == SettingSpec::Type::kBool) bad = "maybe";
    if (s.type == SettingSpec::Type::kEnum) bad = "no-such-value";
    if (bad.empty()) continue;  // free text and paths: checked by the plugin at load
    ++checked;
    try {
      validate_settings(info, {{s.key, bad}});
      ADD_FAILURE() << s.key << "=" << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(s.key), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(checked, 0) << "no setting with a checked value";
}

TEST_P(Contract, StartThenLoadRunsASmallZooModelInOneCallPerBatch) {
  Backend* b = backend();
  ASSERT_TRUE(b);
  b->start();
  auto engine = load_small();
  Tensor out;
  engine->run(view(random_input({1, 3, 64, 64}, 1)), out);
  ASSERT_EQ(out.shape.size(), 2u);
  EXPECT_EQ(out.shape[0], 1);
  EXPECT_GT(out.shape[1], 0);
  EXPECT_EQ(engine->framework_calls_per_batch(1), 1);
}

// An engine reads its input anew at every run: the same buffer with new values gives the new
// values' answer (a framework that copied the buffer once must copy it again), aligned or not
// (a buffer one float off its allocation, which frameworks that want aligned inputs copy).
TEST_P(Contract, EveryRunReadsTheInputAgain) {
  ASSERT_TRUE(backend());
  auto engine = load_small("resnet50");
  const Tensor a = random_input({1, 3, 64, 64}, 21), b = random_input({1, 3, 64, 64}, 22);
  Tensor want_a, want_b;
  engine->run(view(a), want_a);
  engine->run(view(b), want_b);
  ASSERT_NE(want_a.data, want_b.data) << "two inputs, one answer: the test lost its case";
  for (size_t offset : {size_t{0}, size_t{1}}) {
    std::vector<float> buffer(a.data.size() + offset);
    const TensorView in{buffer.data() + offset, a.shape};
    Tensor got;
    std::copy(a.data.begin(), a.data.end(), buffer.begin() + offset);
    engine->run(in, got);
    EXPECT_EQ(got.data, want_a.data) << "offset " << offset;
    std::copy(b.data.begin(), b.data.end(), buffer.begin() + offset);
    engine->run(in, got);
    EXPECT_EQ(got.data, want_b.data)
        << name() << " answered the buffer's old values (offset " << offset << ")";
  }
}

// What info() declares about batches holds: an engine loaded the way the harness loads one
// for the server's dynamic batcher (batch 0 where the batch is dynamic, else 1) runs a batch of
// 3, in one call when the framework batches natively with a dynamic batch (else one per
// image), and gives the first image the same answer as alone.
TEST_P(Contract, DeclaredBatchCapabilitiesHold) {
  ASSERT_TRUE(backend());
  const Capabilities caps = registry_.info(name()).capabilities;
  EXPECT_NE(std::find(caps.precisions.begin(), caps.precisions.end(), "fp32"),
            caps.precisions.end())
      << "every framework computes in fp32";
  auto engine = load(name(), small_model("resnet50"), caps.dynamic_batch ? 0 : 1, {}, kOneThread);
  const Tensor three = random_input({3, 3, 64, 64}, 5);
  const TensorView first{three.data.data(), {1, 3, 64, 64}};
  Tensor alone, together;
  engine->run(first, alone);
  engine->run(view(three), together);
  ASSERT_EQ(together.shape.size(), 2u);
  ASSERT_EQ(together.shape[0], 3);
  ASSERT_EQ(alone.shape[1], together.shape[1]);
  for (int64_t k = 0; k < alone.shape[1]; ++k)
    EXPECT_NEAR(alone.data[k], together.data[k], 1e-3 * (1 + std::fabs(alone.data[k]))) << k;
  EXPECT_EQ(engine->framework_calls_per_batch(3),
            caps.dynamic_batch && caps.batches_natively ? 1 : 3);
}

// Engines declared to run side by side do: two engines of two models, each run from its own
// thread at the same time, give what each gives alone.
// Runs each engine 20 times from its own thread, all at once, and returns for each what
// differed from its run alone ("" when nothing did).
std::vector<std::string> run_side_by_side(const std::vector<Engine*>& engines,
                                          const Tensor& input) {
  std::vector<Tensor> alone(engines.size());
  for (size_t i = 0; i < engines.size(); ++i) engines[i]->run(view(input), alone[i]);
  std::vector<std::string> failures(engines.size());
  auto side = [&](size_t i) {
    try {
      Tensor out;
      for (int r = 0; r < 20; ++r) {
        engines[i]->run(view(input), out);
        for (size_t k = 0; k < out.data.size() && k < alone[i].data.size(); ++k) {
          if (out.shape != alone[i].shape ||
              std::fabs(out.data[k] - alone[i].data[k]) > 1e-4 * (1 + std::fabs(alone[i].data[k])))
            throw Error("run " + std::to_string(r) + " differs from the run alone at logit " +
                        std::to_string(k));
        }
      }
    } catch (const std::exception& e) {
      failures[i] = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < engines.size(); ++i) threads.emplace_back(side, i);
  for (auto& t : threads) t.join();
  return failures;
}

TEST_P(Contract, DeclaredSideBySideEnginesAgreeWithEachAlone) {
  ASSERT_TRUE(backend());
  if (!registry_.info(name()).capabilities.concurrent_engines) {
    GTEST_SKIP() << name() << " declares that its engines do not run side by side";
  }
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(load_small("resnet50"));
  engines.push_back(load_small("efficientnet_b0"));
  const auto failures =
      run_side_by_side({engines[0].get(), engines[1].get()}, random_input({1, 3, 64, 64}, 9));
  EXPECT_EQ(failures[0], "") << "resnet50 beside efficientnet_b0";
  EXPECT_EQ(failures[1], "") << "efficientnet_b0 beside resnet50";
}

// Requests on one loaded model (what --concurrency uses where the framework declares
// shared_requests) run from their own threads at once with the same results as alone; a
// framework that does not declare them gives none.
TEST_P(Contract, DeclaredRequestsOnOneLoadedModelAgreeWithTheRunAlone) {
  ASSERT_TRUE(backend());
  auto engine = load_small("resnet50");
  std::unique_ptr<Engine> second = engine->new_request();
  if (!registry_.info(name()).capabilities.shared_requests) {
    EXPECT_EQ(second, nullptr) << name() << " gives a request it does not declare";
    return;
  }
  ASSERT_NE(second, nullptr) << name() << " declares shared requests but gives none";
  std::unique_ptr<Engine> third = second->new_request();
  ASSERT_NE(third, nullptr);
  const auto failures =
      run_side_by_side({engine.get(), second.get(), third.get()}, random_input({1, 3, 64, 64}, 10));
  for (size_t i = 0; i < failures.size(); ++i) EXPECT_EQ(failures[i], "") << "request " << i;
}

// threads (in effect, read back where the framework allows), threads_from (resolve_threads in
// backends/plugin.h) and cache, named alike in every plugin.
TEST_P(Contract, SettingsInEffectHaveTheUniformFields) {
  ASSERT_TRUE(backend());
  auto engine = load_small();
  Tensor out;
  engine->run(view(random_input({1, 3, 64, 64}, 2)), out);
  const nlohmann::json e = engine->settings_in_effect();
  ASSERT_TRUE(e.contains("threads")) << e.dump();
  EXPECT_EQ(e.at("threads"), kOneThread) << e.dump();
  EXPECT_EQ(e.value("threads_from", ""), "harness") << e.dump();
  const std::string cache = e.value("cache", "");
  EXPECT_TRUE(cache == "hit" || cache == "miss" || cache == "off" || cache == "none") << e.dump();
}

TEST_P(Contract, WrongInputShapeIsRefused) {
  ASSERT_TRUE(backend());
  auto engine = load_small();
  Tensor out;
  EXPECT_THROW(engine->run(view(random_input({1, 3, 32, 32}, 1)), out), Error);
  EXPECT_THROW(engine->run(view(random_input({3, 64, 64}, 1)), out), Error);
}

// A framework that declares a per-kernel profiler gives one, and explain maps every record of a
// small ResNet onto its nodes, except what the framework adds itself (a reorder of the input's
// layout), which stays unmapped as data movement; one that declares none says why.
TEST_P(Contract, DeclaredKernelProfileMapsOntoTheModel) {
  Backend* b = backend();
  ASSERT_TRUE(b);
  const Capabilities caps = b->info().capabilities;
  if (caps.kernel_profiler.empty()) {
    EXPECT_FALSE(caps.no_kernel_profile.empty())
        << name() << " declares no profiler, and no reason";
    return;
  }
  const fs::path model = small_model("resnet50");
  LoadRequest request{model, settings(name(), {}), kOneThread, 1};
  request.profile = true;
  request.profile_skip_runs = 1;
  auto engine = b->load(request);
  Tensor out;
  for (int i = 0; i < 3; ++i) engine->run(view(random_input({1, 3, 64, 64}, 1)), out);
  const KernelProfile p = engine->kernel_profile();
  EXPECT_EQ(p.runs, 2) << p.profiler;
  ASSERT_FALSE(p.kernels.empty()) << p.profiler;
  FrameworkExplain f;
  map_profile(p, compute_stats(load_onnx(model), "resnet50", std::nullopt, 1).node_costs, f);
  EXPECT_GT(f.kernel_ms, 0);
  EXPECT_GT(f.classes["convolution"], 0);
  // A framework whose records name its own compiled functions maps none, but classes them.
  if (!caps.kernel_names_nodes) {
    EXPECT_EQ(f.unmapped, f.kernels) << name();
    return;
  }
  for (const auto& n : f.nodes) {
    if (n.node.rfind("(unmapped) ", 0) == 0) {
      EXPECT_EQ(n.cls, "data movement") << name() << ": " << n.node << " (" << n.op_type << ")";
    }
  }
}

// An operator that does not exist: Unsupported, or an Error naming the operator; one line
// that names the backend, never a crash. A file that is not a model, or no file: an Error.
TEST_P(Contract, UnknownOperatorIsRefusedNamingIt) {
  ASSERT_TRUE(backend());
  onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 5});
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.op_type() == "Relu") n.set_op_type("Relx");
  const fs::path bad = dir_ / "relx.onnx";
  std::ofstream(bad, std::ios::binary) << m.SerializeAsString();
  try {
    load(name(), bad, 1, {}, kOneThread);
    ADD_FAILURE() << name() << " loaded a model with an unknown operator";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(name() + ":", 0), 0u) << msg;
    EXPECT_NE(msg.find("Relx"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  std::ofstream(dir_ / "junk.onnx") << "not a model";
  EXPECT_THROW(load(name(), dir_ / "junk.onnx", 1, {}, kOneThread), Error);
  EXPECT_THROW(load(name(), dir_ / "missing.onnx", 1, {}, kOneThread), Error);
}

// Default settings, batch 1: agreement with ONNX Runtime to 1e-3 of the logits' range, the
// same top-1 class, and logits that are spread (not a constant answer).
TEST_P(ContractParity, AgreesWithOnnxRuntimeOnTheFourSmallZooModels) {
  ASSERT_TRUE(backend());
  for (const char* model : kZooModels) {
    const Tensor input = random_input({1, 3, 64, 64}, 11);
    const Tensor ref = run("onnxruntime", small_model(model), input);
    Tensor got;
    load_small(model)->run(view(input), got);
    ASSERT_EQ(got.shape, ref.shape) << model;
    double range = 0, diff = 0, sum = 0, sum2 = 0;
    for (size_t i = 0; i < ref.data.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got.data[i])) << model;
      range = std::max(range, double(std::fabs(ref.data[i])));
      diff = std::max(diff, double(std::fabs(ref.data[i] - got.data[i])));
      sum += ref.data[i];
      sum2 += double(ref.data[i]) * ref.data[i];
    }
    const double n = static_cast<double>(ref.data.size());
    EXPECT_GT(std::sqrt(sum2 / n - (sum / n) * (sum / n)), 0.05) << model << ": constant logits";
    EXPECT_LT(diff / range, 1e-3) << model;
    EXPECT_EQ(std::max_element(ref.data.begin(), ref.data.end()) - ref.data.begin(),
              std::max_element(got.data.begin(), got.data.end()) - got.data.begin())
        << model;
  }
}

std::string param_name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(Frameworks, Contract, ::testing::ValuesIn(frameworks_under_contract()),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Frameworks, ContractParity,
                         ::testing::ValuesIn(frameworks_computing_the_model()), param_name);

}  // namespace
}  // namespace infermark
