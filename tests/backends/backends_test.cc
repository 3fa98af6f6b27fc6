// What is specific to ONNX Runtime and OpenVINO (settings read back, OpenVINO's precision,
// their caches), the registry's answers and the settings' messages. What every backend must do
// (listed, settings, unknown operators, input shapes, the uniform settings in effect) is checked by
// contract_test.cc.
#include <gtest/gtest.h>
#include <malloc.h>
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
#include "core/machine.h"
#include "core/npy.h"
#include "prepare/prepare.h"
#include "tests/backends/backend_fixture.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

const char* const kBackends[] = {"onnxruntime", "openvino"};

class Backends : public BackendTest {};

TEST_F(Backends, SettingsInEffectAreReadBack) {
  const Tensor input = random_input({1, 3, 64, 64}, 1);
  nlohmann::json ort, ov;
  run("onnxruntime", small_model("resnet50"), input,
      {{"graph_optimization_level", "basic"}, {"intra_op_threads", "1"}}, &ort);
  run("openvino", small_model("resnet50"), input, {{"threads", "1"}}, &ov);
  EXPECT_NE(ort.dump().find("basic"), std::string::npos) << ort.dump();
  EXPECT_NE(ov.dump().find("LATENCY"), std::string::npos) << ov.dump();
}

// The precision in effect is the one asked for, on every CPU. OpenVINO's CPU plugin runs bf16
// by default where the CPU has it (avx512_bf16, or AVX2 with avx_vnni_int8 and avx_ne_convert),
// so f32 is asked for explicitly and must stay f32 there. bf16 runs on those CPUs, with bf16's
// error (more than f32's, within `infermark check`'s bf16 tolerance), and is refused on the
// others, where OpenVINO would silently run f32.
TEST_F(Backends, OpenVinoRunsThePrecisionAskedForOnEveryCpu) {
  const fs::path model = small_model("resnet50");
  const Tensor input = random_input({2, 3, 64, 64}, 11);
  const Tensor ref = run("onnxruntime", model, input);
  auto relative = [&](const Tensor& out) { return difference(ref, out).relative(); };
  nlohmann::json f32;
  const Tensor a = run("openvino", model, input, {}, &f32);
  EXPECT_EQ(f32.at("inference_precision"), "f32") << f32.dump();
  EXPECT_EQ(f32.at("precision_in_effect"), "fp32") << f32.dump();
  EXPECT_LT(relative(a), 1e-3);

  const Machine m = read_machine();
  auto has = [&](const char* flag) {
    auto it = m.isa.find(flag);
    return it != m.isa.end() && it->second;
  };
  const bool bf16_cpu = has("avx512_bf16") || (has("avx_vnni_int8") && has("avx_ne_convert"));
  if (bf16_cpu) {
    nlohmann::json bf16;
    auto engine = registry_.get("openvino").load({model, settings("openvino"), 0, 2, 1, "bf16"});
    Tensor b;
    engine->run(view(input), b);
    bf16 = engine->settings_in_effect();
    EXPECT_EQ(bf16.at("precision_in_effect"), "bf16") << bf16.dump();
    EXPECT_EQ(bf16.at("inference_precision"), "bf16") << bf16.dump();
    std::printf("openvino bf16: relative difference %.3g (f32: %.3g)\n", relative(b), relative(a));
    EXPECT_GT(relative(b), 1e-4) << "no more error than f32: did bf16 run?";
    EXPECT_LT(relative(b), 5e-2);
  } else {
    try {
      registry_.get("openvino").load({model, settings("openvino"), 0, 2, 1, "bf16"});
      ADD_FAILURE() << "bf16 accepted on a CPU without avx512_bf16 or avx_ne_convert";
    } catch (const Unsupported& e) {
      EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
    }
  }
}

// A precision a framework does not offer is refused before its plugin is asked to load,
// whoever asks (the registry's backends check), naming the framework and what it offers.
TEST_F(Backends, APrecisionNotOfferedIsRefusedBeforeLoading) {
  try {
    registry_.get("onnxruntime")
        .load({"/nonexistent.onnx", settings("onnxruntime"), 0, 1, 1, "bf16"});
    ADD_FAILURE() << "bf16 accepted";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("onnxruntime: precision bf16 is not offered"),
              std::string::npos)
        << e.what();
  }
}

// int8 is the QDQ model of the preparation run on int8 kernels, verified where each framework
// says what it runs: ORT's optimized graph (QLinearConv...), OpenVINO's runtime model
// (convolutions in i8/u8). Its error against fp32 is a quantized model's; ORT without graph
// optimization would run the QDQ pairs in float, and refuses.
TEST_F(Backends, Int8RunsTheQuantizedModelOnInt8Kernels) {
  const fs::path model = small_model("resnet50");
  PrepareOptions o;
  o.height = o.width = 64;
  prepare_for_precision(o, "int8");
  o.calibration_images = 8;
  const fs::path qdq = prepare_model(model, o).file;
  const Tensor input = random_input({2, 3, 64, 64}, 11);
  const Tensor ref = run("onnxruntime", model, input);
  for (const char* name : kBackends) {
    const auto& offered = registry_.info(name).capabilities.precisions;
    ASSERT_NE(std::find(offered.begin(), offered.end(), "int8"), offered.end()) << name;
    auto engine = registry_.get(name).load({qdq, settings(name), 0, 2, 1, "int8"});
    Tensor out;
    engine->run(view(input), out);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("precision_in_effect"), "int8") << name << ": " << e.dump();
    int64_t convs = 0;
    for (const auto& [op, n] : e.at("int8_kernels").items())
      if (op.find("Conv") != std::string::npos) convs += n.get<int64_t>();
    EXPECT_EQ(convs, 53) << name << ": every convolution of ResNet-50 in int8: " << e.dump();
    ASSERT_EQ(out.shape, ref.shape);
    const double rel = difference(ref, out).relative();
    std::printf("%s int8: relative difference to fp32 %.3g\n", name, rel);
    EXPECT_GT(rel, 1e-4) << name << ": no more error than fp32: did int8 run?";
    EXPECT_LT(rel, 0.25) << name;
  }
  try {
    registry_.get("onnxruntime")
        .load({qdq, settings("onnxruntime", {{"graph_optimization_level", "disabled"}}), 0, 2, 1,
               "int8"});
    ADD_FAILURE() << "int8 accepted without ORT's QDQ fusions";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("no int8 kernel"), std::string::npos) << e.what();
  }
}

TEST_F(Backends, CacheMakesTheSecondLoadWarm) {
  const Tensor input = random_input({1, 3, 64, 64}, 2);
  const fs::path model = zoo::model_file("densenet201", {64, 0.25, 77}, dir_ / "models");
  for (const char* backend : kBackends) {
    nlohmann::json first, second;
    // A cache of its own: the shared one of the backend tests may hold the model already.
    const Settings own = {{"cache_dir", (dir_ / "own-cache" / backend).string()}};
    const Tensor a = run(backend, model, input, own, &first);
    const Tensor b = run(backend, model, input, own, &second);
    EXPECT_NE(first.dump().find("miss"), std::string::npos) << backend << first.dump();
    EXPECT_NE(second.dump().find("hit"), std::string::npos) << backend << second.dump();
    EXPECT_EQ(a.data, b.data) << backend;
  }
}

// Resident memory of this process, bytes.
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// ORT's CPU arena keeps what a large batch made it grow; release_cached_memory gives it back
// (what `serve` does once idle), and the engine runs on with the same results.
TEST_F(Backends, OnnxRuntimeGivesItsArenaBackWhenAsked) {
  const fs::path model = small_model("resnet50");
  const Tensor one = random_input({1, 3, 64, 64}, 3);
  const Tensor many = random_input({256, 3, 64, 64}, 4);
  auto engine = load("onnxruntime", model, 256);
  Tensor out;
  engine->run(view(one), out);
  const Tensor before_release = out;
  malloc_trim(0);
  const int64_t small = resident_bytes();
  engine->run(view(many), out);
  const int64_t grown = resident_bytes();
  ASSERT_GT(grown - small, int64_t{20} << 20) << "a batch of 256 should grow the arena";
  engine->release_cached_memory();
  malloc_trim(0);
  const int64_t released = resident_bytes();
  std::printf("resident: %.1f MiB after 1 image, %.1f after 256, %.1f after release\n",
              small / 1048576.0, grown / 1048576.0, released / 1048576.0);
  EXPECT_LT(released - small, (grown - small) / 4);
  engine->run(view(one), out);
  EXPECT_EQ(out.data, before_release.data);

  // Without the arena there is nothing to give back, and asking is harmless.
  auto no_arena = load("onnxruntime", model, 1, {{"memory_arena", "false"}});
  EXPECT_NO_THROW(no_arena->release_cached_memory());
  no_arena->run(view(one), out);
  EXPECT_EQ(out.data, before_release.data);
}

TEST_F(Backends, UnknownAndUnavailableBackendsAreExplained) {
  try {
    registry_.get("tensorflowlite");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("known: onnxruntime, openvino"), std::string::npos)
        << e.what();
  }
  BackendRegistry empty({dir_ / "no-plugins-here"});
  const auto list = empty.list();
  ASSERT_FALSE(list.empty());
  EXPECT_FALSE(list[0].available);
  EXPECT_NE(list[0].reason.find("not built"), std::string::npos) << list[0].reason;
  EXPECT_THROW(empty.get("onnxruntime"), Error);
}

TEST_F(Backends, BadSettingsListTheValidOnes) {
  const BackendInfo ov = registry_.get("openvino").info();
  auto message = [&](const Settings& s) -> std::string {
    try {
      validate_settings(ov, s);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message({{"hnit", "latency"}}).find("valid: device, hint"), std::string::npos);
  EXPECT_NE(message({{"hint", "fast"}}).find("valid: auto, latency, throughput, none"),
            std::string::npos);
  EXPECT_NE(message({{"threads", "-1"}}).find("out of range"), std::string::npos);
  EXPECT_NE(message({{"threads", "two"}}).find("not an integer"), std::string::npos);
  EXPECT_THROW(parse_assignment("openvino-hint=latency"), Error);
  EXPECT_THROW(parse_assignment("openvino.hint"), Error);
  EXPECT_EQ(parse_assignment("openvino.hint=latency").key, "hint");
}

TEST(Npy, RoundTripAndWrongDtype) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_npy_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const Tensor t = random_input({2, 3, 4, 5}, 9);
  save_npy(t, dir / "t.npy");
  const Tensor back = load_npy(dir / "t.npy");
  EXPECT_EQ(back.shape, t.shape);
  EXPECT_EQ(back.data, t.data);
  // A float64 array, as numpy writes by default: header then 8-byte values.
  {
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    header.append(128 - 10 - header.size() - 1, ' ');
    header += '\n';
    std::ofstream f(dir / "f64.npy", std::ios::binary);
    f << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff) << char(header.size() >> 8)
      << header;
    const double v[2] = {1.0, 2.0};
    f.write(reinterpret_cast<const char*>(v), sizeof v);
  }
  try {
    load_npy(dir / "f64.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected float32"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "junk.npy") << "junk";
  EXPECT_THROW(load_npy(dir / "junk.npy"), Error);
  EXPECT_THROW(load_npy(dir / "missing.npy"), Error);
  fs::remove_all(dir);
}

// A model rewritten in place makes its older cache entries (same prefix, another key) go;
// the entry in use, other models' entries and other kinds of files stay.
TEST(Cache, StaleEntriesOfTheSameModelAreRemoved) {
  const fs::path dir =
      fs::temp_directory_path() / ("infermark_cache_test_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string prefix = "resnet50-0123abcd-";
  const fs::path keep = dir / (prefix + hash_hex("new key") + ".so");
  const fs::path stale = dir / (prefix + hash_hex("old key") + ".so");
  const fs::path stale_folder = dir / (prefix + hash_hex("old key"));
  const fs::path other_model = dir / ("vgg19-0123abcd-" + hash_hex("old key") + ".so");
  const fs::path other_kind = dir / (prefix + hash_hex("old key") + ".so.json");
  for (const fs::path& f : {keep, stale, other_model, other_kind}) std::ofstream(f) << "x";
  fs::create_directories(stale_folder / "variables");
  remove_stale_entries(keep, prefix, ".so");
  EXPECT_TRUE(fs::exists(keep));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(other_model));
  EXPECT_TRUE(fs::exists(other_kind));
  EXPECT_TRUE(fs::exists(stale_folder));  // another suffix: not this kind of entry
  remove_stale_entries(dir / (prefix + hash_hex("new key")), prefix);
  EXPECT_FALSE(fs::exists(stale_folder));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
