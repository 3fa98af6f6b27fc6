// The program as a user meets it: exit codes, one-line errors, JSON that parses.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/explain_row.h"
#include "tests/command.h"

namespace {
namespace fs = std::filesystem;
using infermark::explain_from_json;
using infermark::FrameworkExplain;
using infermark::result_lines;

// The program's caches (zoo models, frameworks' compiled models) go to a folder of this test
// process, removed at its end: never the user's ~/.cache/infermark.
class PrivateCache : public ::testing::Environment {
 public:
  void SetUp() override {
    fs::create_directories(dir_);
    setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
    unsetenv("INFERMARK_CACHE_DIR");
  }
  void TearDown() override { fs::remove_all(dir_); }

 private:
  const fs::path dir_ =
      fs::temp_directory_path() / ("infermark_cli_cache_" + std::to_string(getpid()));
};
::testing::Environment* const kPrivateCache = ::testing::AddGlobalTestEnvironment(new PrivateCache);

struct Result {
  int code = -1;
  std::string out, err;
};

// `env_vars`: "NAME=value ..." set for the program only.
Result run(const std::string& args, const std::string& env_vars = "") {
  const fs::path err_file =
      fs::temp_directory_path() / ("infermark_cli_err_" + std::to_string(getpid()));
  const std::string cmd = (env_vars.empty() ? "" : env_vars + " ") + std::string(INFERMARK_BINARY) +
                          " " + args + " 2>" + err_file.string() + " </dev/null";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), {});
  fs::remove(err_file);
  return r;
}

// The fake framework of the tests (backend "fake"), which prints FAKE-FRAMEWORK-LOG lines
// when it is loaded and when it describes itself.
const std::string kWithFake = std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR;
constexpr const char* kFakeLog = "FAKE-FRAMEWORK-LOG";

// A non-zero exit (not a crash) with exactly one line on stderr that contains `needle`.
void expect_clear_error(const std::string& args, const std::string& needle,
                        const std::string& env = "") {
  const Result r = run(args, env);
  EXPECT_GT(r.code, 0) << args;
  EXPECT_LT(r.code, 128) << "crashed: " << args;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << " -> " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << " -> " << r.err;
}

TEST(Cli, Version) {
  const Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("infermark ", 0), 0u) << r.out;
}

// env measures the peak into its own cache folder here, never into the user's.
class CliEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infermark_cli_env_" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Result env(const std::string& args) {
    return run("env " + args, "INFERMARK_CACHE_DIR=" + dir_.string());
  }
  fs::path dir_;
};

TEST_F(CliEnv, Json) {
  const Result r = env("--json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["cores_used"].get<int>(), 0);
  EXPECT_GT(j["peak_fp32_flops"].get<double>(), 0);
  // A bf16 and an int8 figure exactly where the CPU has the instructions the kernels time.
  EXPECT_EQ(j["peak_bf16_flops"].get<double>() > 0, j["isa"]["avx512_bf16"].get<bool>()) << j;
  EXPECT_EQ(j["peak_int8_ops"].get<double>() > 0, j["isa"]["avx512_vnni"].get<bool>()) << j;
  EXPECT_EQ(j["peak_method"].get<std::string>().rfind("measured", 0), 0u) << j["peak_method"];
  EXPECT_TRUE(j["isa"].contains("avx512f"));
}

TEST_F(CliEnv, TextShowsTheMeasuredPeak) {
  const Result r = env("");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("peak fp32:  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" GFLOP/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("measured: "), std::string::npos) << r.out;
}

// A figure planted in the cache is what env reports; --measure-peak measures instead and
// stores the new figure.
TEST_F(CliEnv, MeasurePeakIgnoresAndRewritesTheCache) {
  ASSERT_EQ(env("--json").code, 0);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_ / "machine"))
    if (e.path().extension() == ".json") files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  nlohmann::json cached = nlohmann::json::parse(std::ifstream(files[0]));
  cached["fp32_flops"] = 1.0;
  std::ofstream(files[0]) << cached.dump();

  const Result planted = env("--json");
  ASSERT_EQ(planted.code, 0) << planted.err;
  EXPECT_EQ(nlohmann::json::parse(planted.out)["peak_fp32_flops"].get<double>(), 1.0);

  const Result measured = env("--measure-peak --json");
  ASSERT_EQ(measured.code, 0) << measured.err;
  const double flops = nlohmann::json::parse(measured.out)["peak_fp32_flops"].get<double>();
  EXPECT_GT(flops, 1e6);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(files[0]))["fp32_flops"].get<double>(), flops);
}

TEST(Cli, ZooListNamesEveryModel) {
  const Result r = run("zoo list");
  ASSERT_EQ(r.code, 0);
  for (const char* name : {"vgg19", "resnet50", "densenet201", "efficientnet_b0", "ensemble3"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
}

TEST(Cli, ZooStatsJsonOfTheFourModels) {
  const Result r = run("zoo stats vgg19 resnet50 densenet201 efficientnet_b0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  const int64_t params[] = {143'667'240, 25'557'032, 20'013'928, 5'288'548};
  const int jumps[] = {0, 16, 98, 25};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(j[i]["parameters"].get<int64_t>(), params[i]);
    EXPECT_EQ(j[i]["jumps"]["total"].get<int>(), jumps[i]);
  }
}

TEST(Cli, ZooBuildThenStatsOfTheFile) {
  const fs::path file =
      fs::temp_directory_path() / ("infermark_cli_" + std::to_string(getpid()) + ".onnx");
  const Result b =
      run("zoo build densenet201 --width 0.25 --input-size 64 --seed 3 --out " + file.string());
  ASSERT_EQ(b.code, 0) << b.err;
  const Result direct = run("zoo stats densenet201 --width 0.25 --input-size 64 --json");
  const Result from_file = run("zoo stats " + file.string() + " --json");
  ASSERT_EQ(from_file.code, 0) << from_file.err;
  auto a = nlohmann::json::parse(direct.out)[0];
  auto c = nlohmann::json::parse(from_file.out)[0];
  a.erase("name");
  c.erase("name");
  EXPECT_EQ(a, c);
  fs::remove(file);
}

TEST(Cli, EnsembleStatsHasATotal) {
  const Result r = run("zoo stats ensemble3 --width 0.25 --input-size 64 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[3]["parameters"].get<int64_t>(), j[0]["parameters"].get<int64_t>() +
                                                   j[1]["parameters"].get<int64_t>() +
                                                   j[2]["parameters"].get<int64_t>());
}

TEST(Cli, BadInputGetsOneClearLine) {
  const std::string tmp = fs::temp_directory_path() / ("infermark_bad_" + std::to_string(getpid()));
  std::ofstream(tmp + ".onnx") << "not a model";
  expect_clear_error("zoo stats /nonexistent/model.onnx", "/nonexistent/model.onnx");
  expect_clear_error("zoo stats " + tmp + ".onnx", tmp + ".onnx");
  expect_clear_error("zoo stats resnet51", "unknown zoo model 'resnet51'");
  expect_clear_error("zoo stats resnet50 --input-size 0", "--input-size 0");
  expect_clear_error("zoo build resnet50 --width -1 --out " + tmp + "_w.onnx", "--width -1");
  expect_clear_error("zoo build resnet50 --width abc --out x.onnx", "abc");
  expect_clear_error("zoo build resnet50", "--out");
  expect_clear_error("frobnicate", "frobnicate");
  expect_clear_error("serve --models resnet50 --release-idle-s -1", "--release-idle-s");
  expect_clear_error("serve --models resnet50 --max-body-mib 4096", "--max-body-mib 4096");
  expect_clear_error("bench --models resnet50 --backends onnxruntime --memory-limit inf --out " +
                         tmp + "_inf.jsonl",
                     "--memory-limit 'inf'");
  expect_clear_error("paper --quick --backends onnxruntime,tensorrtx --out " + tmp + "_paper",
                     "unknown framework 'tensorrtx'");
  EXPECT_FALSE(fs::exists(tmp + "_paper/results.jsonl"));
  fs::remove_all(tmp + "_paper");
  fs::remove(tmp + ".onnx");
  EXPECT_FALSE(fs::exists(tmp + "_w.onnx"));
}

// A typo in the models is an argument error before anything runs: one line naming the
// value, and no result file. (A file that is there but is no model is an error cell: sweep.)
TEST(Cli, AModelTypoIsRefusedBeforeAnythingRuns) {
  const fs::path out =
      fs::temp_directory_path() / ("infermark_typo_" + std::to_string(getpid()) + ".jsonl");
  const std::string bench =
      "bench --backends fake --input-size 64 --width 0.25 --out " + out.string();
  expect_clear_error(bench + " --models resnet51", "unknown zoo model 'resnet51'", kWithFake);
  expect_clear_error(bench + " --models resnet50,resnet51", "'resnet51'", kWithFake);
  expect_clear_error(bench + " --models /nonexistent/model.onnx", "'/nonexistent/model.onnx'",
                     kWithFake);
  expect_clear_error(bench + " --models resnet50 --precision fp32,fp64", "precision 'fp64'",
                     kWithFake);
  expect_clear_error(bench + " --models resnet50 --concurrency 1,0", "--concurrency 0", kWithFake);
  EXPECT_FALSE(fs::exists(out));
  expect_clear_error("infer --model resnet51 --backend fake", "unknown zoo model 'resnet51'",
                     kWithFake);
  expect_clear_error("check --model /nonexistent/model.onnx --backends fake,fake",
                     "'/nonexistent/model.onnx'", kWithFake);
  fs::remove(out);
}

// What a framework prints when it is loaded or describes itself stays off the terminal of
// the commands that only list or check frameworks, and goes to the cell's log in a sweep.
TEST(Cli, FrameworkOutputStaysOffTheTerminal) {
  const Result r = run("backends", kWithFake);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("fake 0.0"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kFakeLog), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  const Result json = run("backends --json", kWithFake);
  ASSERT_EQ(json.code, 0) << json.err;
  EXPECT_EQ(json.out.find(kFakeLog), std::string::npos) << json.out;
  EXPECT_EQ(json.err, "");
  const Result verbose = run("backends --verbose", kWithFake);  // there when asked for
  EXPECT_NE(verbose.out.find("FAKE-FRAMEWORK-LOG: banner on stdout"), std::string::npos);
  EXPECT_NE(verbose.out.find("FAKE-FRAMEWORK-LOG: banner on stderr"), std::string::npos);
  EXPECT_NE(verbose.out.find("FAKE-FRAMEWORK-LOG: describing itself"), std::string::npos);

  const fs::path out =
      fs::temp_directory_path() / ("infermark_quiet_" + std::to_string(getpid()) + ".jsonl");
  const std::string args =
      "bench --models resnet50 --input-size 64 --width 0.25 --backends fake "
      "--set fake.fail=none,error --min-duration 0.05 --min-iterations 2 --warmup 0 --out " +
      out.string();
  const Result bench = run(args, kWithFake);
  EXPECT_EQ(bench.code, 0) << bench.err;
  EXPECT_EQ(bench.out.find(kFakeLog), std::string::npos) << bench.out;
  EXPECT_EQ(bench.err.find(kFakeLog), std::string::npos) << bench.err;
  std::ifstream lines(out);
  std::string line;
  int failed = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["status"] == "ok") continue;
    ++failed;
    const std::string tail = j.value("output_tail", "");
    EXPECT_NE(tail.find("FAKE-FRAMEWORK-LOG: banner on stderr"), std::string::npos) << line;
  }
  EXPECT_EQ(failed, 1);
  fs::remove(out);
}

// A framework that crashes, at load or at run, costs its own answer only: check prints every
// framework's row (the crashed one with its signal and phase) and exits non-zero, accuracy
// writes and prints every row, infer says it in one line; so does a framework that hangs, past
// --timeout. fake2 is the fake under another name.
TEST(Cli, AFrameworkCrashCostsOnlyItsOwnAnswer) {
  const std::string small = "--model resnet50 --input-size 64 --width 0.25";
  for (const std::string at : {"load", "run"}) {
    const std::string crash = " --set fake2.fail=crash --set fake2.fail_at=" + at;
    const Result c = run("check " + small + " --backends fake,fake2,fake3" + crash, kWithFake);
    EXPECT_EQ(c.code, 1) << c.out << c.err;
    EXPECT_NE(c.out.find("fake         runs"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("fake2        crashed"), std::string::npos) << c.out;
    const std::string phase = at == "load" ? "loading" : "running";
    EXPECT_NE(c.out.find("crashed (SIGSEGV while " + phase + " the model)"), std::string::npos)
        << c.out;
    EXPECT_NE(c.out.find("fake3        runs"), std::string::npos) << c.out;
    EXPECT_EQ(c.err, "") << c.err;

    const Result i = run("infer " + small + " --backend fake2" + crash, kWithFake);
    EXPECT_EQ(i.code, 1) << i.err;
    EXPECT_NE(i.err.find("fake2: crashed (SIGSEGV while " + phase + " the model)"),
              std::string::npos)
        << i.err;
    EXPECT_EQ(std::count(i.err.begin(), i.err.end(), '\n'), 1) << i.err;
  }
  // The timeout leaves a busy machine (ctest -j) time to start the sound framework's process.
  const Result hang =
      run("check " + small + " --backends fake,fake2 --set fake2.fail=hang --timeout 5", kWithFake);
  EXPECT_EQ(hang.code, 1) << hang.out << hang.err;
  EXPECT_NE(hang.out.find("fake         runs"), std::string::npos) << hang.out;
  EXPECT_NE(hang.out.find("fake2        timeout"), std::string::npos) << hang.out;
  EXPECT_NE(hang.out.find("timed out after 5 s while"), std::string::npos) << hang.out;

  // accuracy: the reference, the crashed framework and the one after it, each a line.
  const fs::path dir = fs::temp_directory_path() / ("infermark_crash_" + std::to_string(getpid()));
  fs::create_directories(dir / "photos");
  const std::string make =
      "/usr/bin/python3 -c \"from PIL import Image; "
      "[Image.new('RGB', (64, 64), (i * 40, 90, 200 - i * 30)).save('" +
      (dir / "photos").string() + "/' + str(i) + '.png') for i in range(3)]\"";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string out = (dir / "accuracy.jsonl").string();
  const Result a = run("accuracy " + small + " --images " + (dir / "photos").string() +
                           " --preprocess resize=64,crop=64 --reference fake "
                           "--backends fake2,fake3 --set fake2.fail=crash --batch 2 --out " +
                           out,
                       kWithFake);
  EXPECT_EQ(a.code, 1) << a.out << a.err;
  const std::vector<nlohmann::json> rows = result_lines(out);
  ASSERT_EQ(rows.size(), 3u) << a.out;
  EXPECT_EQ(rows[0]["backend"], "fake");
  EXPECT_EQ(rows[0]["status"], "ok");
  EXPECT_EQ(rows[1]["backend"], "fake2");
  EXPECT_EQ(rows[1]["status"], "crash");
  EXPECT_NE(rows[1]["message"].get<std::string>().find("SIGSEGV"), std::string::npos);
  EXPECT_NE(rows[1]["output_tail"].get<std::string>().find("FAKE-FRAMEWORK-LOG"), std::string::npos)
      << rows[1].dump();
  EXPECT_EQ(rows[2]["backend"], "fake3");
  EXPECT_EQ(rows[2]["status"], "ok");
  EXPECT_EQ(rows[2]["top1_agreement"], 1.0);
  fs::remove_all(dir);
}

// explain: each framework's profile in a process of its own, mapped onto the model's nodes;
// one that crashes, or has no profiler, is a row with its reason; the difference of two.
TEST(Cli, ExplainMapsEachProfileAndSurvivesACrash) {
  const fs::path out =
      fs::temp_directory_path() / ("infermark_explain_" + std::to_string(getpid()) + ".jsonl");
  fs::remove(out);
  const Result r =
      run("explain --model resnet50 --input-size 64 --width 0.25 --backends fake,fake2,fake3 "
          "--set fake.service_ms=2 --set fake2.service_ms=6 --set fake3.fail=crash "
          "--set fake3.fail_at=run --runs 5 --warmup 1 --a fake --b fake2 --out " +
              out.string(),
          kWithFake);
  EXPECT_EQ(r.code, 1) << r.out << r.err;  // fake3 crashed
  EXPECT_NE(r.out.find("== fake (the fake's per-node timer, 5 profiled runs)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("== fake3: no profile (crashed): crashed (SIGSEGV while running"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("where fake2 and fake differ"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("by class: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" convolution +"), std::string::npos) << r.out;
  const std::vector<nlohmann::json> rows = result_lines(out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  const FrameworkExplain fake = explain_from_json(rows[0]);
  EXPECT_EQ(fake.status, "ok");
  EXPECT_EQ(fake.unmapped, 1);  // the fake's own reorder; every node's record found its node
  EXPECT_NEAR(fake.kernel_ms, 2.0, 1e-9);  // 90% of 2 ms on the nodes, 10% on the reorder
  ASSERT_FALSE(fake.nodes.empty());
  EXPECT_EQ(fake.nodes[0].node, "(unmapped) FakeReorderInput");  // the largest record
  EXPECT_NEAR(fake.nodes[0].ms, 0.2, 1e-9);
  EXPECT_EQ(fake.nodes[0].cls, "data movement");
  EXPECT_GT(fake.latency_ms, 1.9);
  EXPECT_EQ(explain_from_json(rows[2]).status, "crashed");

  const Result none = run("explain --model resnet50 --input-size 64 --width 0.25 --backends fake",
                          kWithFake + " FAKE_NO_PROFILER=1");
  EXPECT_EQ(none.code, 1) << none.out << none.err;
  EXPECT_NE(none.out.find("fake gives no per-kernel profile here: FAKE_NO_PROFILER is set"),
            std::string::npos)
      << none.out;
  fs::remove(out);
}

// A model path that is not UTF-8 reaches the framework's process as it is (the job file is
// CBOR, whose strings carry any bytes): check, infer and explain run it, and explain's result
// line holds the name with U+FFFD for the bad bytes.
TEST(Cli, AModelPathThatIsNotUtf8RunsInEveryFrameworkProcess) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_utf8_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const Result built = run("zoo build resnet50 --input-size 64 --width 0.25 --out " +
                           (dir / "source.onnx").string());
  ASSERT_EQ(built.code, 0) << built.err;
  const fs::path model = dir / "bad-\xff\xfe.onnx";
  fs::rename(dir / "source.onnx", model);
  const std::string quoted = "'" + model.string() + "'";
  const Result c = run("check --model " + quoted + " --backends fake,fake2", kWithFake);
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("fake2        runs"), std::string::npos) << c.out;
  const Result i = run("infer --model " + quoted + " --backend fake", kWithFake);
  EXPECT_EQ(i.code, 0) << i.err;
  const fs::path out = dir / "explain.jsonl";
  const Result e = run(
      "explain --model " + quoted + " --backends fake --runs 3 --warmup 0 --out " + out.string(),
      kWithFake);
  EXPECT_EQ(e.code, 0) << e.out << e.err;
  const std::vector<nlohmann::json> rows = result_lines(out);
  ASSERT_EQ(rows.size(), 1u) << e.out;
  EXPECT_EQ(rows[0]["status"], "ok");
  EXPECT_NE(rows[0]["model"].get<std::string>().find("bad-\uFFFD\uFFFD.onnx"), std::string::npos)
      << rows[0]["model"];
  fs::remove_all(dir);
}

TEST(Cli, BackendsJson) {
  const Result r = run("backends --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const auto& b : j) {
    for (const char* key : {"name", "available", "version", "devices", "settings"})
      EXPECT_TRUE(b.contains(key)) << key;
    if (b["name"] == "tensorrt") {  // listed, and says why it cannot be here
      EXPECT_FALSE(b["available"].get<bool>());
      EXPECT_NE(b["reason"].get<std::string>().find("no TensorRT SDK"), std::string::npos);
    } else {
      EXPECT_TRUE(b["available"].get<bool>()) << b["name"] << ": " << b.value("reason", "");
    }
  }
}

TEST(Cli, InferWritesOutputsAndCheckAgrees) {
  const std::string tmp =
      fs::temp_directory_path() / ("infermark_infer_" + std::to_string(getpid()));
  const std::string small = "--model efficientnet_b0 --input-size 64 --width 0.25";
  const Result r = run("infer " + small + " --backend openvino --batch 3 --output " + tmp + ".npy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("top-5 classes of image 0:"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(tmp + ".npy"));
  const Result again = run("infer " + small + " --backend onnxruntime --input " + tmp + ".npy");
  EXPECT_NE(again.err.find("has shape [3, 1000]"), std::string::npos) << again.err;
  const Result c = run("check " + small + " --backends onnxruntime,openvino");
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("openvino     runs"), std::string::npos) << c.out;
  const Result strict = run("check " + small + " --backends onnxruntime,openvino --tolerance 0");
  EXPECT_EQ(strict.code, 1) << "a zero tolerance must fail: " << strict.out;
  EXPECT_NE(strict.out.find("openvino     wrong"), std::string::npos) << strict.out;
  fs::remove(tmp + ".npy");
}

// Real images through infer, check and accuracy: the files named in the outputs, the
// preprocessing checked against the model's input, agreement with the reference and, with
// labels (here the reference's own top-1), top-1 accuracy; bad labels get one clear line.
TEST(Cli, RealImagesThroughInferCheckAndAccuracy) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_images_" + std::to_string(getpid()));
  fs::create_directories(dir / "photos");
  const std::string make =
      "/usr/bin/python3 -c \"import numpy as np; from PIL import Image; "
      "r = np.random.default_rng(3); "
      "[Image.fromarray(r.integers(0, 256, (h, w, 3), dtype=np.uint8)).save('" +
      (dir / "photos").string() +
      "/' + n) for n, w, h in "
      "[('a.png', 100, 80), ('b.jpg', 80, 100), ('c.png', 64, 64)]]\"";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string small = "--model resnet50 --input-size 64 --width 0.25";
  const std::string photos = " --images " + (dir / "photos").string();
  const std::string pre = " --preprocess resize=73,crop=64";

  const Result r = run("infer " + small + " --backend onnxruntime" + photos + pre);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"a.png: top-5", "b.jpg: top-5", "c.png: top-5", "centre crop 64x64"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f << "\n" << r.out;
  expect_clear_error("infer " + small + " --backend onnxruntime" + photos,
                     "come out [3, 224, 224]");
  const Result c = run("check " + small + " --backends onnxruntime,openvino" + photos + pre);
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("batch 3"), std::string::npos) << c.out;

  const std::string out = (dir / "accuracy.jsonl").string();
  const std::string acc = "accuracy " + small + " --backends onnxruntime,openvino,opencv" + photos +
                          pre + " --precision fp32,int8 --batch 2 --out ";
  Result a = run(acc + out);
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  const std::vector<nlohmann::json> rows = result_lines(out);
  // The reference in fp32, the others in fp32, then int8 for each (opencv refuses it).
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0]["backend"], "onnxruntime");
  for (const auto& row : rows) {
    if (row["backend"] == "opencv" && row["precision"] == "int8") {
      EXPECT_EQ(row["status"], "unsupported") << row.dump();
      continue;
    }
    ASSERT_EQ(row["status"], "ok") << row.dump();
    EXPECT_EQ(row["images"], 3);
    EXPECT_EQ(row["top5_predictions"].size(), 3u);
    if (row["precision"] == "fp32") {
      EXPECT_EQ(row["top1_agreement"], 1.0) << row.dump();
    }
    if (row["precision"] == "int8") {
      EXPECT_EQ(row["precision_in_effect"], "int8") << row.dump();
      EXPECT_GT(row["max_rel_diff"].get<double>(), 1e-4) << row.dump();
    }
  }
  // Labels: the reference's own top-1, so its top-1 accuracy is 1.
  {
    std::ofstream labels(dir / "labels.txt");
    labels << "# file class\n";
    const auto files = rows[0]["image_files"];
    for (size_t i = 0; i < files.size(); ++i)
      labels << files[i].get<std::string>() << " " << rows[0]["top5_predictions"][i][0] << "\n";
  }
  fs::remove(out);
  a = run(acc + out + " --labels " + (dir / "labels.txt").string());
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  const nlohmann::json ref = result_lines(out).at(0);
  EXPECT_EQ(ref["top1_accuracy"], 1.0) << ref.dump();
  EXPECT_EQ(ref["top5_accuracy"], 1.0) << ref.dump();

  // A framework setting of the reference is taken like any other's.
  fs::remove(out);
  const Result set = run(acc + out + " --set onnxruntime.intra_op_threads=1");
  EXPECT_EQ(set.code, 0) << set.err;

  std::ofstream(dir / "bad.txt") << "a.png cat\n";
  expect_clear_error(acc + out + " --labels " + (dir / "bad.txt").string(),
                     "class 'cat' is not a class index");
  std::ofstream(dir / "short.txt") << "a.png 1\n";
  expect_clear_error(acc + out + " --labels " + (dir / "short.txt").string(),
                     "no class for image 'b.jpg'");
  fs::remove_all(dir);
}

TEST(Cli, BackendErrorsGetOneClearLine) {
  const std::string small = "--model resnet50 --input-size 64 --width 0.25";
  expect_clear_error("infer " + small + " --backend tensorflowlite",
                     "known: onnxruntime, openvino");
  expect_clear_error("infer " + small + " --backend openvino --set openvino.hint=fast",
                     "valid: auto, latency, throughput, none");
  expect_clear_error("infer " + small + " --backend openvino --set openvino.hnit=latency",
                     "unknown setting 'openvino.hnit'");
  expect_clear_error("infer " + small + " --backend openvino --set onnxruntime.x=1",
                     "names backend 'onnxruntime'");
  expect_clear_error("infer " + small + " --backend openvino --batch 0", "--batch 0");
  expect_clear_error("infer " + small + " --backend openvino --input /nonexistent.npy",
                     "/nonexistent.npy");
  expect_clear_error("check " + small + " --backends onnxruntime", "at least two");
}

}  // namespace
