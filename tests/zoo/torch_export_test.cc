// The statistics of files made by another tool: PyTorch's ONNX exporter (Debian's
// python3-torch and python3-torchvision, installed by make) on torchvision's own models.
// Their layers, jumps and multiply-accumulates must equal the zoo's at the same input size
// (the same topology), and their parameters PyTorch's count less what the exporter folded.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/model_stats.h"
#include "core/onnx_io.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

struct Exported {
  onnx::ModelProto model;
  nlohmann::json facts;
};

Exported export_torchvision(const std::string& name, int size, const std::string& extra = "") {
  const fs::path dir = fs::temp_directory_path() / ("infermark_torch_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path prefix = dir / (name + (extra.empty() ? "" : "_initial"));
  const std::string cmd = std::string("/usr/bin/python3 ") + INFERMARK_SOURCE_DIR +
                          "/tests/zoo/export_torchvision.py " + name + " --input-size " +
                          std::to_string(size) + " --out " + prefix.string() + " " + extra + " > " +
                          prefix.string() + ".log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(prefix.string() + ".log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    ADD_FAILURE() << "PyTorch export failed (are python3-torch and python3-torchvision "
                     "installed? make deps installs them): "
                  << text.substr(text.size() > 2000 ? text.size() - 2000 : 0);
    return {};
  }
  Exported e{load_onnx(prefix.string() + ".onnx"), {}};
  std::ifstream(prefix.string() + ".json") >> e.facts;
  fs::remove_all(dir);
  return e;
}

void expect_same_topology(const ModelStats& file, const ModelStats& zoo) {
  EXPECT_EQ(file.layers, zoo.layers);
  EXPECT_EQ(file.jumps, zoo.jumps);
  EXPECT_EQ(file.macs, zoo.macs);
  EXPECT_EQ(file.input_shape, zoo.input_shape);
}

class TorchExport : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(TorchExport, StatisticsMatchTheZooAndPyTorch) {
  const auto [name, size] = GetParam();
  const Exported e = export_torchvision(name, size);
  ASSERT_TRUE(e.model.has_graph());
  const ModelStats file = compute_stats(e.model, name);
  const ModelStats zoo = compute_stats(zoo::build(name, {size, 1.0, 1}), name);
  expect_same_topology(file, zoo);
  // Each BatchNorm the exporter folds into the convolution before it loses its scale and
  // shift (2 per channel) and its buffers, and gives the convolution a bias (1 per channel).
  const int64_t bn_channels = e.facts["batchnorm_channels"];
  const int64_t folded = bn_channels - file.buffers / 2;
  EXPECT_EQ(file.parameters, e.facts["torch_parameters"].get<int64_t>() - folded);
  EXPECT_EQ(e.facts["torch_parameters"].get<int64_t>(), zoo.parameters);
}

INSTANTIATE_TEST_SUITE_P(Torchvision, TorchExport,
                         ::testing::Values(std::make_pair("resnet50", 64),
                                           std::make_pair("densenet201", 64),
                                           std::make_pair("efficientnet_b0", 64),
                                           // torchvision's adaptive 7x7 pool exports only at 224
                                           std::make_pair("vgg19", 224)),
                         [](const auto& info) { return std::string(info.param.first); });

// With torchvision's initial values many biases are equal, and the exporter merges them
// into one initializer read through Identity nodes: the file has fewer numbers, the same net.
TEST(TorchExportIdentity, MergedInitializersAndIdentityNodes) {
  const Exported e = export_torchvision("efficientnet_b0", 64, "--initial-values");
  ASSERT_TRUE(e.model.has_graph());
  int identities = 0;
  for (const auto& n : e.model.graph().node()) identities += n.op_type() == "Identity";
  EXPECT_GT(identities, 0) << "the exporter no longer writes Identity nodes: pick another case";
  const ModelStats file = compute_stats(e.model, "efficientnet_b0");
  expect_same_topology(file, compute_stats(zoo::build("efficientnet_b0", {64, 1.0, 1}), "z"));
  EXPECT_LT(file.parameters, e.facts["torch_parameters"].get<int64_t>());
}

}  // namespace
}  // namespace infermark
