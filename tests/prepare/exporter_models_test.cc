// Bring your own model: files exported by PyTorch 1.13 (opset 13, dynamic batch) with the
// patterns real classifiers carry, checked the way a user would first check theirs:
// `infermark check --backends all` against PyTorch's own outputs. Every framework the build
// enabled runs each within 1e-3.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/enabled_frameworks.h"
#include "tests/prepare/exported_models.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

struct Verdict {
  std::string verdict, line;
};

class ExporterModels : public ExportedModelsTest {
 protected:
  static void SetUpTestSuite() {
    export_models("infermark_exporter_models");
    setenv("XDG_CACHE_HOME", (dir_ / "xdg").c_str(), 1);  // every framework's cache cold too
  }

  // `infermark check` of one exported model against PyTorch's outputs: backend -> verdict.
  std::map<std::string, Verdict> check(const std::string& model, const std::string& backends,
                                       const std::string& extra = "") {
    const fs::path m = dir_ / model;
    const std::string cmd = std::string(INFERMARK_BINARY) + " check --model " +
                            (m.string() + ".onnx") + " --backends " + backends + " --input " +
                            (m.string() + ".input.npy") + " --expected " +
                            (m.string() + ".expected.npy") + " " + extra + " 2>&1";
    const std::string out = run_command(cmd).output;
    output_ = out;
    std::map<std::string, Verdict> rows;
    std::istringstream in(out);
    std::string line;
    bool table = false;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string backend, verdict;
      words >> backend >> verdict;
      if (backend == "backend" && verdict == "verdict") {
        table = true;
      } else if (table && !backend.empty()) {
        rows[backend] = {verdict, line};
      }
    }
    return rows;
  }

  // Every enabled framework runs the model within the tolerance.
  void expect_all_run(const std::map<std::string, Verdict>& rows) {
    for (const std::string& name : enabled_frameworks()) {
      ASSERT_TRUE(rows.count(name)) << name << " is not in the table:\n" << output_;
      EXPECT_EQ(rows.at(name).verdict, "runs") << rows.at(name).line;
    }
  }

  std::string output_;
};

// ReLU6 as Clip with min and max inputs (OpenCV 4.6's importer reads Clip's bounds only as
// attributes: its plugin rewrites them).
TEST_F(ExporterModels, MobileNetV2WithClipAsInputs) {
  expect_all_run(check("mobilenet_v2", "all"));
}

// TensorFlow-style "same" padding computed at run time: folded by the preparation, then a Pad
// with an empty optional input (which OpenCV's plugin drops for its importer).
TEST_F(ExporterModels, SamePaddingComputedAtRunTime) { expect_all_run(check("same_pad", "all")); }

// torchvision's ResNet50 with a dynamic batch and Identity nodes reading merged initializers.
TEST_F(ExporterModels, ResNet50WithIdentityOfInitializersAndDynamicBatch) {
  expect_all_run(check("resnet50", "all"));
}

// Channels-last images under the model's own input name, as TensorFlow's exporters write
// them: taken from the file, and run by every framework.
TEST_F(ExporterModels, ChannelsLastInputUnderItsOwnName) { expect_all_run(check("nhwc", "all")); }

// A model that fixes its batch runs at that batch only, and the sweep says so; its layout is
// recorded.
TEST_F(ExporterModels, AFixedBatchRunsAtThatBatchAndSaysSo) {
  const fs::path out = dir_ / "fixed.jsonl";
  const std::string cmd = std::string(INFERMARK_BINARY) + " bench --models " +
                          (dir_ / "nhwc_fixed.onnx").string() +
                          " --backends onnxruntime --batches 1,4 --min-duration 0.05 --warmup 0"
                          " --min-iterations 3 --out " +
                          out.string() + " 2>&1";
  const CommandRun run = run_command(cmd);
  const std::string& text = run.output;
  ASSERT_EQ(run.code, 0) << text;
  EXPECT_NE(text.find("fixes its batch to 1"), std::string::npos) << text;
  const std::vector<nlohmann::json> rows = result_lines(out);
  ASSERT_EQ(rows.size(), 1u) << text;
  EXPECT_EQ(rows[0]["status"], "ok") << rows[0].dump();
  EXPECT_EQ(rows[0]["batch"], 1);
  EXPECT_EQ(rows[0]["model"]["stats"]["input"]["layout"], "NHWC");
  EXPECT_EQ(rows[0]["model"]["stats"]["input"]["name"], "image");
  EXPECT_EQ(rows[0]["prepared"]["after"]["layout"], "NHWC");
}

// A file that leaves the image's height and width free is described and prepared at
// --input-size, which also gives frameworks that compile static shapes (TVM) a fixed image.
TEST_F(ExporterModels, FreeImageDimensionsAreFixedAtTheInputSize) {
  const fs::path out = dir_ / "any_size.jsonl";
  const std::string cmd = std::string(INFERMARK_BINARY) + " bench --models " +
                          (dir_ / "same_pad_any_size.onnx").string() +
                          " --input-size 48 --backends onnxruntime,tvm --min-duration 0.05"
                          " --warmup 0 --min-iterations 3 --out " +
                          out.string() + " 2>&1";
  const CommandRun run = run_command(cmd);
  const std::string& text = run.output;
  ASSERT_EQ(run.code, 0) << text;
  const std::vector<nlohmann::json> rows = result_lines(out);
  for (const nlohmann::json& r : rows) {
    EXPECT_EQ(r["status"], "ok") << r.dump();
    EXPECT_EQ(r["model"]["input_shape"], nlohmann::json({3, 48, 48})) << r.dump();
    const std::string steps = r["prepared"]["steps"].dump();
    EXPECT_NE(steps.find("input height 48"), std::string::npos) << steps;
    EXPECT_NE(steps.find("input width 48"), std::string::npos) << steps;
    EXPECT_EQ(r["prepared"]["after"]["input_dims"], nlohmann::json({-1, 3, 48, 48})) << r.dump();
  }
  EXPECT_EQ(rows.size(), 2u) << text;
}

// Without the preparation, the run-time shape arithmetic reaches the frameworks: ONNX Runtime
// computes it, LibTorch's route names the first operator it cannot translate.
TEST_F(ExporterModels, WithoutPreparationARouteNamesTheOperatorItLacks) {
  const auto rows = check("same_pad", "onnxruntime,libtorch", "--prepare none");
  ASSERT_TRUE(rows.count("libtorch")) << output_;
  EXPECT_EQ(rows.at("onnxruntime").verdict, "runs") << rows.at("onnxruntime").line;
  EXPECT_EQ(rows.at("libtorch").verdict, "refused") << rows.at("libtorch").line;
  EXPECT_NE(rows.at("libtorch").line.find("operator Shape"), std::string::npos)
      << rows.at("libtorch").line;
}

}  // namespace
}  // namespace infermark
