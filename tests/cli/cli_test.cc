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

namespace {
namespace fs = std::filesystem;

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

Result run(const std::string& args) {
  const fs::path err_file = fs::temp_directory_path() / ("infermark_cli_err_" + std::to_string(getpid()));
  const std::string cmd =
      std::string(INFERMARK_BINARY) + " " + args + " 2>" + err_file.string() + " </dev/null";
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

// A non-zero exit (not a crash) with exactly one line on stderr that contains `needle`.
void expect_clear_error(const std::string& args, const std::string& needle) {
  const Result r = run(args);
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

TEST(Cli, EnvJson) {
  const Result r = run("env --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["cores_used"].get<int>(), 0);
  EXPECT_GT(j["peak_fp32_flops"].get<double>(), 0);
  EXPECT_TRUE(j["isa"].contains("avx512f"));
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
  const fs::path file = fs::temp_directory_path() / ("infermark_cli_" + std::to_string(getpid()) + ".onnx");
  const Result b = run("zoo build densenet201 --width 0.25 --input-size 64 --seed 3 --out " + file.string());
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
  expect_clear_error("paper --quick --backends onnxruntime,tensorrtx --out " + tmp + "_paper",
                     "unknown framework 'tensorrtx'");
  EXPECT_FALSE(fs::exists(tmp + "_paper/results.jsonl"));
  fs::remove_all(tmp + "_paper");
  fs::remove(tmp + ".onnx");
  EXPECT_FALSE(fs::exists(tmp + "_w.onnx"));
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
  const std::string tmp = fs::temp_directory_path() / ("infermark_infer_" + std::to_string(getpid()));
  const std::string small = "--model efficientnet_b0 --input-size 64 --width 0.25";
  const Result r = run("infer " + small + " --backend openvino --batch 3 --output " + tmp + ".npy");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("top-5 classes of image 0:"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(tmp + ".npy"));
  const Result again = run("infer " + small + " --backend onnxruntime --input " + tmp + ".npy");
  EXPECT_NE(again.err.find("has shape [3, 1000]"), std::string::npos) << again.err;
  const Result c = run("check " + small + " --backends onnxruntime,openvino");
  EXPECT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("ok"), std::string::npos) << c.out;
  const Result strict = run("check " + small + " --backends onnxruntime,openvino --tolerance 0");
  EXPECT_EQ(strict.code, 1) << "a zero tolerance must fail: " << strict.out;
  fs::remove(tmp + ".npy");
}

TEST(Cli, BackendErrorsGetOneClearLine) {
  const std::string small = "--model resnet50 --input-size 64 --width 0.25";
  expect_clear_error("infer " + small + " --backend tensorflowlite", "known: onnxruntime, openvino");
  expect_clear_error("infer " + small + " --backend openvino --set openvino.hint=fast",
                     "valid: latency, throughput, none");
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
