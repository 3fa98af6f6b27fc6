#include "zoo/zoo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/model_stats.h"
#include "core/onnx_io.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

const char* const kModels[] = {"vgg19", "resnet50", "densenet201", "efficientnet_b0"};

// Full size: the checker accepts each model, and the statistics of the model in memory
// and of the file written and read back are the same.
TEST(Zoo, FullSizeModelsAreValidAndStatsSurviveTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_zoo_" + std::to_string(getpid()));
  for (const char* name : kModels) {
    const onnx::ModelProto m = zoo::build(name, {});
    EXPECT_NO_THROW(check_onnx(m)) << name;
    EXPECT_EQ(m.opset_import(0).version(), 13);
    const fs::path file = dir / (std::string(name) + ".onnx");
    save_onnx(m, file);
    const nlohmann::json direct = to_json(compute_stats(m, name));
    const nlohmann::json from_file = to_json(compute_stats(load_onnx(file), name));
    EXPECT_EQ(direct, from_file) << name;
    fs::remove(file);
  }
  fs::remove_all(dir);
}

TEST(Zoo, InputAndOutputFollowTheConvention) {
  for (const char* name : kModels) {
    const onnx::ModelProto m = zoo::build(name, {64, 0.25, 1});
    ASSERT_EQ(m.graph().input_size(), 1);
    const auto& in = m.graph().input(0);
    EXPECT_EQ(in.name(), "input");
    const auto& dims = in.type().tensor_type().shape().dim();
    EXPECT_EQ(dims[0].dim_param(), "batch") << "dynamic batch";
    EXPECT_EQ(dims[1].dim_value(), 3);
    EXPECT_EQ(dims[2].dim_value(), 64);
    EXPECT_EQ(m.graph().output(0).name(), "logits");
    EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 1000);
  }
}

TEST(Zoo, GraphsAreUnfused) {
  const onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 1});
  int conv = 0, bn = 0, relu = 0;
  for (const auto& n : m.graph().node()) {
    conv += n.op_type() == "Conv";
    bn += n.op_type() == "BatchNormalization";
    relu += n.op_type() == "Relu";
  }
  EXPECT_EQ(conv, 53);
  EXPECT_EQ(bn, 53);
  EXPECT_EQ(relu, 49);
}

TEST(Zoo, SmallVariantsAreValidAndSmall) {
  for (const char* name : kModels) {
    const onnx::ModelProto m = zoo::build(name, {64, 0.25, 1});
    EXPECT_NO_THROW(check_onnx(m)) << name;
    const ModelStats s = compute_stats(m, name);
    EXPECT_LT(s.parameters, 12'000'000) << name;
    EXPECT_LT(s.macs, 150'000'000) << name;
  }
}

std::string weights_of(const onnx::ModelProto& m) {
  std::string all;
  for (const auto& t : m.graph().initializer()) all += t.raw_data();
  return all;
}

TEST(Zoo, WeightsAreAFunctionOfTheSeed) {
  const auto a = zoo::build("efficientnet_b0", {64, 0.25, 7});
  const auto b = zoo::build("efficientnet_b0", {64, 0.25, 7});
  const auto c = zoo::build("efficientnet_b0", {64, 0.25, 8});
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_NE(weights_of(a), weights_of(c));
}

TEST(Zoo, WeightsHaveARealisticScale) {
  const auto m = zoo::build("resnet50", {});
  for (const auto& t : m.graph().initializer()) {
    const float* w = reinterpret_cast<const float*>(t.raw_data().data());
    const size_t n = t.raw_data().size() / sizeof(float);
    double sum2 = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_TRUE(std::isfinite(w[i])) << t.name();
      sum2 += double(w[i]) * w[i];
    }
    const double rms = std::sqrt(sum2 / n);
    if (t.name().find("running_var") != std::string::npos) {
      EXPECT_GT(rms, 1e-4) << t.name();  // a variance the data really has
    } else if (t.name().find(".weight") != std::string::npos && t.dims_size() == 4) {
      // Near He initialization, sqrt(2 / fan_in): at most four times above, and at most
      // eight times below (after pooling the calibration bounds the input's variance from
      // above, so those layers come out smaller).
      const double fan_in = double(t.dims(1)) * t.dims(2) * t.dims(3);
      EXPECT_GT(rms, 0.125 * std::sqrt(2 / fan_in)) << t.name();
      EXPECT_LT(rms, 4 * std::sqrt(2 / fan_in)) << t.name();
    }
  }
}

TEST(Zoo, ScaledChannelsRoundAsTorchvision) {
  EXPECT_EQ(zoo::scaled_channels(64, 1.0), 64);
  EXPECT_EQ(zoo::scaled_channels(32, 0.25), 8);
  EXPECT_EQ(zoo::scaled_channels(16, 0.25), 8);   // never below 8
  EXPECT_EQ(zoo::scaled_channels(40, 1.1), 48);   // 44 rounds to 48
  EXPECT_EQ(zoo::scaled_channels(100, 0.5), 48);  // 48 is within 10% of 50
  EXPECT_EQ(zoo::scaled_channels(20, 0.5), 16);   // 8 would drop more than 10% of 10
}

TEST(Zoo, EnsembleAndUnknownNames) {
  EXPECT_EQ(zoo::find("ensemble3").members,
            (std::vector<std::string>{"vgg19", "resnet50", "densenet201"}));
  EXPECT_THROW(zoo::build("ensemble3", {}), Error);
  try {
    zoo::find("resnet51");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("resnet51"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("efficientnet_b0"), std::string::npos);
  }
}

// A name too long for a path is one error, not the filesystem's exception (found by
// fuzz/study_fuzz.cc).
TEST(Zoo, AModelNameTooLongForAPathIsOneError) {
  try {
    zoo::check_model_source(std::string(300, 'm') + ".onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be looked at: File name too long"),
              std::string::npos)
        << e.what();
  }
}

TEST(Zoo, NonsenseOptionsAreRefused) {
  for (double width : {-1.0, 0.0, 5.0, std::nan("")})
    EXPECT_THROW(zoo::build("resnet50", {64, width, 1}), Error) << width;
  for (int64_t size : {0, -3, 31, 4096})
    EXPECT_THROW(zoo::build("resnet50", {size, 1.0, 1}), Error) << size;
}

}  // namespace
}  // namespace infermark
