// Apache TVM behind the backend interface: its settings' defaults, numerically equal to
// ONNX Runtime on small variants of the four architectures, a compiled library cached and
// reused without the compiler, strict about target features and batches that are not a
// multiple of the compiled one, and honest about threads. What every backend must do (listed,
// settings, unknown operators, input shapes, the uniform settings in effect) is checked by
// contract_test.cc. Compiling is the slow part (seconds per small model, minutes for DenseNet's 300
// kernels, on two cores): tests other than parity use VGG, the quickest to compile, and each test
// process compiles into its own cache in the test folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "backends/cache.h"
#include "backends/plugin.h"
#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/npy.h"
#include "tests/backends/backend_fixture.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class Tvm : public BackendTest {};

// max|a-b| / max|a| over all logits, and whether every image has the same top-1 class.
struct Agreement {
  double relative = 0;
  bool same_top1 = true;
};
// Rows of the last dimension are images' scores.
Agreement compare(const Tensor& a, const Tensor& b) {
  const auto classes = static_cast<size_t>(a.shape.back());
  double range = 0, diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    range = std::max(range, double(std::fabs(a.data[i])));
    diff = std::max(diff, double(std::fabs(a.data[i] - b.data[i])));
  }
  Agreement r{range > 0 ? diff / range : INFINITY, true};
  for (size_t img = 0; img * classes < a.data.size(); ++img) {
    const float* pa = a.data.data() + img * classes;
    const float* pb = b.data.data() + img * classes;
    r.same_top1 &=
        std::max_element(pa, pa + classes) - pa == std::max_element(pb, pb + classes) - pb;
  }
  return r;
}

TEST_F(Tvm, VersionAndSettingDefaults) {
  const auto list = registry_.list();
  auto it =
      std::find_if(list.begin(), list.end(), [](const BackendInfo& b) { return b.name == "tvm"; });
  ASSERT_NE(it, list.end());
  EXPECT_TRUE(it->available) << it->reason;
  EXPECT_EQ(it->version.rfind("0.", 0), 0u) << it->version;
  EXPECT_NE(std::find(it->devices.begin(), it->devices.end(), "cpu"), it->devices.end());
  std::map<std::string, SettingSpec> specs;
  for (const auto& s : it->settings) {
    specs[s.key] = s;
  }
  for (const char* key : {"opt_level", "target_features", "layout", "schedule", "tuning_trials",
                          "tuning_cost_model", "weight_prepack", "threads", "cache_dir"})
    ASSERT_TRUE(specs.count(key)) << key;
  EXPECT_EQ(specs["opt_level"].default_value, "3");
  EXPECT_EQ(specs["target_features"].default_value, "host");
  EXPECT_EQ(specs["target_features"].type, SettingSpec::Type::kText);
  EXPECT_EQ(specs["tuning_trials"].default_value, "0");  // a fresh clone does not tune
  EXPECT_EQ(specs["layout"].default_value, "NHWC");
  EXPECT_EQ(specs["schedule"].default_value, "blocked");
  EXPECT_EQ(specs["schedule"].allowed, (std::vector<std::string>{"blocked", "simple", "none"}));
  EXPECT_EQ(specs["tuning_cost_model"].default_value, "xgb");
  EXPECT_EQ(specs["weight_prepack"].default_value, "true");
  EXPECT_EQ(specs["threads"].default_value, "0");
  EXPECT_EQ(specs["cache_dir"].default_value, (shared_cache() / "infermark" / "tvm").string());
}

// Small variants of all four architectures agree with ONNX Runtime to 1e-3 of the logits'
// range and on every image's top-1 class. The libraries stay in the suite's cache.
// At batch 1 with default settings: what the contract's parity (contract_test.cc) compiles
// too, so that whichever runs second finds the library in the backend tests' shared cache.
// (A batch-2 library: CacheMissThenHitAndDynamicBatch.)
TEST_F(Tvm, ParityWithOnnxRuntimeOnSmallVariantsOfTheFourArchitectures) {
  const Tensor input = random_input({1, 3, 64, 64}, 11);
  for (const char* name : kZooModels) {
    const fs::path model = small_model(name);
    const Tensor a = run("onnxruntime", model, input);
    nlohmann::json effect;
    Tensor b;
    try {
      b = run("tvm", model, input, {}, &effect);
    } catch (const Error& e) {
      // A model TVM cannot build must say so clearly, naming the backend and the model.
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("tvm: cannot load '" + model.string() + "': ", 0), 0u) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      ADD_FAILURE() << name << ": " << msg;
      continue;
    }
    ASSERT_EQ(a.shape, b.shape) << name;
    const Agreement r = compare(a, b);
    std::printf("parity %-16s relative %.3g  compile %s s\n", name, r.relative,
                effect.contains("compile_s")
                    ? std::to_string(effect["compile_s"].get<double>()).c_str()
                    : "-");
    EXPECT_LT(r.relative, 1e-3) << name;
    EXPECT_TRUE(r.same_top1) << name;
    EXPECT_EQ(effect.at("batch_compiled"), 1) << effect.dump();
    EXPECT_EQ(effect.at("opt_level"), 3) << effect.dump();
    EXPECT_EQ(effect.at("layout"), "NHWC") << effect.dump();
    EXPECT_EQ(effect.at("schedule"), "blocked") << effect.dump();
    EXPECT_FALSE(effect.contains("tuning")) << effect.dump();  // untuned by default
    EXPECT_NE(effect.at("target").get<std::string>().find("\"mcpu\""), std::string::npos)
        << effect.dump();
  }
}

// The first load compiles and stores the library; the second finds it and runs no compiler.
// Loaded for a dynamic batch (batch 0), the engine is compiled for one image and runs a
// batch image by image, with the same logits as the batch-2 library.
TEST_F(Tvm, CacheMissThenHitAndDynamicBatch) {
  const fs::path model = small_convnet();
  const Tensor input = random_input({2, 3, 32, 32}, 11);
  const Settings given = {{"cache_dir", (dir_ / "own_cache").string()}};
  Tensor first, second;
  nlohmann::json miss, hit;
  {
    auto engine = load("tvm", model, 0, given);
    engine->run(view(input), first);
    miss = engine->settings_in_effect();
  }
  {
    auto engine = load("tvm", model, 0, given);
    engine->run(view(input), second);
    hit = engine->settings_in_effect();
    // The dynamic engine splits a batch into one call per image: not batched by TVM.
    EXPECT_EQ(engine->framework_calls_per_batch(8), 8);
    EXPECT_EQ(engine->framework_calls_per_batch(1), 1);
  }
  EXPECT_EQ(miss.at("cache"), "miss") << miss.dump();
  EXPECT_GT(miss.at("compile_s").get<double>(), 0) << miss.dump();
  EXPECT_EQ(hit.at("cache"), "hit") << hit.dump();
  EXPECT_FALSE(hit.contains("compile_s")) << hit.dump();
  EXPECT_LT(hit.at("load_ms").get<double>(), miss.at("load_ms").get<double>() / 3) << hit.dump();
  EXPECT_EQ(hit.at("batch_compiled"), 1) << hit.dump();
  EXPECT_EQ(first.shape, (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(first.data, second.data);
  const fs::path library = hit.at("cache_file").get<std::string>();
  EXPECT_TRUE(fs::is_regular_file(library)) << library;
  EXPECT_TRUE(fs::is_regular_file(library.string() + ".json")) << library;
  for (const auto& entry : fs::directory_iterator(dir_ / "own_cache"))
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();

  const Tensor batch2 = run("tvm", model, input);
  const Agreement r = compare(batch2, first);
  EXPECT_LT(r.relative, 1e-5);
  EXPECT_TRUE(r.same_top1);

  // Without a cache the library is compiled into a temporary folder every time.
  nlohmann::json off;
  run("tvm", model, random_input({1, 3, 32, 32}, 3), {{"cache_dir", "off"}}, &off);
  EXPECT_EQ(off.at("cache"), "off") << off.dump();
  EXPECT_TRUE(off.contains("compile_s")) << off.dump();
}

// The other layouts and schedules (kept as settings so each step can be measured apart)
// compute the same logits as the default build.
TEST_F(Tvm, LayoutsAndSchedulesAgree) {
  const fs::path model = small_convnet();
  const Tensor input = random_input({1, 3, 32, 32}, 5);
  const Tensor reference = run("onnxruntime", model, input);
  for (const auto& given : std::vector<Settings>{{{"layout", "NCHW"}, {"schedule", "blocked"}},
                                                 {{"layout", "NCHW"}, {"schedule", "simple"}},
                                                 {{"layout", "NHWC"}, {"schedule", "simple"}},
                                                 {{"layout", "NHWC"}, {"schedule", "none"}}}) {
    nlohmann::json effect;
    const Tensor out = run("tvm", model, input, given, &effect);
    const Agreement r = compare(reference, out);
    EXPECT_LT(r.relative, 1e-3) << effect.dump();
    EXPECT_TRUE(r.same_top1) << effect.dump();
    EXPECT_EQ(effect.at("layout"), given.at("layout")) << effect.dump();
    EXPECT_EQ(effect.at("schedule"), given.at("schedule")) << effect.dump();
  }
}

// Tuning with a few trials (seconds on a small model): the library agrees with ONNX Runtime,
// the time spent tuning is shown apart (tuning_s), and the database stays in the cache: a
// load that compiles again (another batch) reuses it without tuning, and a load of the same
// batch takes the cached library, running neither.
TEST_F(Tvm, TuningIsCachedAndReused) {
  // VGG's plain convolutions: tasks the tuner takes (it found none in small_convnet's).
  const fs::path model = small_model("vgg19");
  const Tensor input = random_input({2, 3, 64, 64}, 7);
  const Settings given = {{"cache_dir", (dir_ / "tuning_cache").string()}, {"tuning_trials", "8"}};
  const Tensor reference = run("onnxruntime", model, input);

  nlohmann::json tuned;
  const Tensor first = run("tvm", model, input, given, &tuned);
  const Agreement r = compare(reference, first);
  EXPECT_LT(r.relative, 1e-3) << tuned.dump();
  EXPECT_TRUE(r.same_top1);
  EXPECT_EQ(tuned.at("cache"), "miss") << tuned.dump();
  EXPECT_EQ(tuned.at("tuning"), "tuned") << tuned.dump();
  EXPECT_EQ(tuned.at("tuning_trials"), 8) << tuned.dump();
  ASSERT_TRUE(tuned.contains("tuning_s")) << tuned.dump();
  EXPECT_GT(tuned.at("tuning_s").get<double>(), 0) << tuned.dump();
  EXPECT_GE(tuned.at("compile_s").get<double>(), tuned.at("tuning_s").get<double>());
  // The search reached at least one kernel, and the default schedule of every convolution
  // was measured as one more record (so tuning never keeps a slower schedule).
  EXPECT_GE(tuned.at("kernels_tuned").get<int>(), 1) << tuned.dump();
  EXPECT_GE(tuned.at("default_records").get<int>(), 1) << tuned.dump();
  const fs::path database = tuned.at("tuning_database").get<std::string>();
  const fs::path records = database / "database_tuning_record.json";
  ASSERT_TRUE(fs::is_regular_file(records)) << database;
  EXPECT_EQ(database.parent_path(), dir_ / "tuning_cache") << database;
  const std::string records_before = read_file(records);
  EXPECT_FALSE(records_before.empty());

  // The library gone from the cache (as after a change of tvm_compile.py): compiled again
  // from the database, without tuning, with the same kernels.
  const fs::path library = tuned.at("cache_file").get<std::string>();
  ASSERT_TRUE(fs::remove(library));
  ASSERT_TRUE(fs::remove(library.string() + ".json"));
  nlohmann::json reused;
  const Tensor second = run("tvm", model, input, given, &reused);
  EXPECT_EQ(reused.at("cache"), "miss") << reused.dump();
  EXPECT_EQ(reused.at("tuning"), "reused") << reused.dump();
  EXPECT_FALSE(reused.contains("tuning_s")) << reused.dump();
  EXPECT_LT(reused.at("compile_s").get<double>(), tuned.at("compile_s").get<double>());
  EXPECT_EQ(reused.at("kernels_tuned"), tuned.at("kernels_tuned")) << reused.dump();
  EXPECT_EQ(read_file(records), records_before);  // nothing measured
  EXPECT_LT(compare(first, second).relative, 1e-6);

  // The same batch again: the cached library; neither tuning nor the database ran.
  nlohmann::json hit;
  const Tensor again = run("tvm", model, input, given, &hit);
  EXPECT_EQ(hit.at("cache"), "hit") << hit.dump();
  EXPECT_EQ(hit.at("tuning"), "cached") << hit.dump();
  EXPECT_FALSE(hit.contains("compile_s")) << hit.dump();
  EXPECT_EQ(again.data, first.data);
}

// target_features is free text that TVM checks at load (the contract checks the others).
TEST_F(Tvm, BadTargetFeaturesAreRefusedNamingThem) {
  for (const char* features : {"avx2", "+avx2,,", "+avx2;rm"}) {
    try {
      load("tvm", small_convnet(), 2, {{"target_features", features}});
      ADD_FAILURE() << "target_features=" << features << " accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("target_features"), std::string::npos) << msg;
      EXPECT_NE(msg.find(features), std::string::npos) << msg;
    }
  }
}

TEST_F(Tvm, WrongInputShapeIsRefused) {
  auto engine = load("tvm", small_convnet(), 2);
  Tensor out;
  try {
    engine->run(view(random_input({2, 3, 16, 16}, 1)), out);
    ADD_FAILURE() << "TVM ran a 16x16 input on a 32x32 model";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[2, 3, 16, 16]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[batch, 3, 32, 32]"), std::string::npos) << msg;
  }
  EXPECT_THROW(engine->run(view(random_input({2, 1, 32, 32}, 1)), out), Error);
  EXPECT_THROW(engine->run(view(random_input({3, 3, 32, 32}, 1)), out), Error);  // not 2k
  EXPECT_THROW(engine->run(view(random_input({3, 32, 32}, 1)), out), Error);
  engine->run(view(random_input({4, 3, 32, 32}, 1)), out);  // two calls of two
  EXPECT_EQ(out.shape, (std::vector<int64_t>{4, 10}));
}

// TVM's pool really uses the count asked for (read back from TVM after a run), whether it
// comes from the setting or from the harness; the library does not depend on it.
TEST_F(Tvm, ThreadsAreAppliedAndReadBack) {
  const fs::path model = small_convnet();
  const Tensor input = random_input({2, 3, 32, 32}, 1);
  const int most = std::min(cores_available(), 2);
  Tensor out;
  auto one = load("tvm", model, 2, {{"threads", "1"}});
  one->run(view(input), out);
  nlohmann::json e = one->settings_in_effect();
  EXPECT_EQ(e.at("threads"), 1) << e.dump();
  EXPECT_EQ(e.at("threads_from"), "setting") << e.dump();
  EXPECT_EQ(e.at("threads_in_effect"), 1) << e.dump();

  auto harness = load("tvm", model, 2, {}, most);
  harness->run(view(input), out);
  e = harness->settings_in_effect();
  EXPECT_EQ(e.at("threads"), most) << e.dump();
  EXPECT_EQ(e.at("threads_from"), "harness") << e.dump();
  EXPECT_EQ(e.at("threads_in_effect"), most) << e.dump();
  EXPECT_EQ(e.at("cache"), "hit") << e.dump();  // one library serves every count

  // The pool is shared by the engines of a thread: each sets its own count when it runs.
  one->run(view(input), out);
  EXPECT_EQ(one->settings_in_effect().at("threads_in_effect"), 1);
}

}  // namespace
}  // namespace infermark
