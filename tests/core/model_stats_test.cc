#include "core/model_stats.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "zoo/graph_builder.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {

ModelStats zoo_stats(const std::string& name, int64_t size = 224, double width = 1.0) {
  zoo::Options o;
  o.input_size = size;
  o.width = width;
  return compute_stats(zoo::build(name, o), name, size);
}

// The paper's Table 1 at torchvision's exact parameter counts; MACs are torchvision's
// published GFLOPS (which are multiply-accumulates) at 224x224.
TEST(Stats, Table1OfTheFourModels) {
  struct Row {
    const char* name;
    int64_t parameters;
    int layers;
    int jumps;
    double gmacs;
  };
  const Row rows[] = {{"vgg19", 143'667'240, 19, 0, 19.63},
                      {"resnet50", 25'557'032, 50, 16, 4.09},
                      {"densenet201", 20'013'928, 201, 98, 4.29},
                      {"efficientnet_b0", 5'288'548, 82, 25, 0.39}};
  for (const auto& r : rows) {
    const ModelStats s = zoo_stats(r.name);
    EXPECT_EQ(s.parameters, r.parameters) << r.name;
    EXPECT_EQ(s.layers, r.layers) << r.name;
    EXPECT_EQ(s.jumps_total, r.jumps) << r.name;
    EXPECT_NEAR(s.macs / 1e9, r.gmacs, 0.005) << r.name;
    EXPECT_EQ(s.flops, 2 * s.macs);
    EXPECT_EQ(s.weight_bytes, 4 * (s.parameters + s.buffers)) << r.name;
  }
}

TEST(Stats, JumpTypes) {
  EXPECT_EQ(zoo_stats("resnet50", 64).jumps, (std::map<std::string, int>{{"add", 16}}));
  EXPECT_EQ(zoo_stats("densenet201", 64).jumps, (std::map<std::string, int>{{"concat", 98}}));
  // SiLU's x * sigmoid(x) is not a jump; the 16 squeeze-excitation products are.
  EXPECT_EQ(zoo_stats("efficientnet_b0", 64).jumps,
            (std::map<std::string, int>{{"add", 9}, {"mul", 16}}));
}

TEST(Stats, BatchNormRunningStatisticsAreBuffers) {
  // ResNet50 has 26,560 batch-normalized channels: scale and shift are parameters, running
  // mean and variance are buffers.
  EXPECT_EQ(zoo_stats("resnet50").buffers, 2 * 26'560);
  EXPECT_EQ(zoo_stats("vgg19").buffers, 0);
}

TEST(Stats, MacsScaleWithImageArea) {
  const ModelStats a = zoo_stats("resnet50", 224, 0.25);
  const ModelStats b = zoo_stats("resnet50", 448, 0.25);
  // Convolutions scale by 4; the classifier does not.
  EXPECT_NEAR(static_cast<double>(b.macs) / a.macs, 4.0, 0.01);
}

TEST(Stats, InputSizeOverridesTheFile) {
  const onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 1});
  EXPECT_EQ(compute_stats(m, "m").input_shape, (std::vector<int64_t>{3, 64, 64}));
  EXPECT_EQ(compute_stats(m, "m", 128).input_shape, (std::vector<int64_t>{3, 128, 128}));
}

// A tiny graph: conv -> BN -> silu -> (x + conv(x)) with a shared weight.
onnx::ModelProto tiny() {
  zoo::GraphBuilder b("tiny", 1);
  std::string x = b.input(3, 32);
  x = b.silu(b.batch_norm(b.conv(x, "c0", 8, 3, 1, 1), "bn0"));
  const std::string y = b.conv(x, "c1", 8, 3, 1, 1);
  x = b.add(x, y);
  return b.finish(b.linear(b.flatten(b.global_avg_pool(x)), "fc", 10));
}

TEST(Stats, TinyGraphByHand) {
  const ModelStats s = compute_stats(tiny(), "tiny");
  EXPECT_EQ(s.parameters, 8 * 3 * 9 + 2 * 8 + 8 * 8 * 9 + 8 * 10 + 10);
  EXPECT_EQ(s.buffers, 2 * 8);
  EXPECT_EQ(s.layers, 3);  // c0 -> c1 -> fc
  EXPECT_EQ(s.jumps_total, 1);
  EXPECT_EQ(s.macs, 32 * 32 * 8 * 27 + 32 * 32 * 8 * 72 + 80);
}

TEST(Stats, IdentityNodesAndSharedInitializers) {
  onnx::ModelProto m = tiny();
  auto* g = m.mutable_graph();
  // Route the fc weight through an Identity, as exporters do for merged initializers.
  for (auto& n : *g->mutable_node())
    if (n.op_type() == "Gemm") n.set_input(1, "fc.weight.alias");
  auto* id = g->add_node();
  id->set_op_type("Identity");
  id->add_input("fc.weight");
  id->add_output("fc.weight.alias");
  for (int i = g->node_size() - 1; i > 0; --i) g->mutable_node()->SwapElements(i, i - 1);
  const ModelStats s = compute_stats(m, "tiny");
  EXPECT_EQ(s.parameters, compute_stats(tiny(), "tiny").parameters);
  EXPECT_EQ(s.layers, 3);
}

TEST(Stats, RefusesWhatItCannotAnalyse) {
  onnx::ModelProto m = tiny();
  m.mutable_opset_import(0)->set_version(99);
  EXPECT_THROW(
      {
        try {
          compute_stats(m, "x.onnx");
        } catch (const Unsupported& e) {
          EXPECT_NE(std::string(e.what()).find("opset 99"), std::string::npos);
          throw;
        }
      },
      Unsupported);

  onnx::ModelProto custom = tiny();
  custom.mutable_graph()->mutable_node(0)->set_op_type("FancyConv");
  EXPECT_THROW(compute_stats(custom, "x.onnx"), Unsupported);

  onnx::ModelProto domain = tiny();
  domain.mutable_graph()->mutable_node(0)->set_domain("com.vendor");
  EXPECT_THROW(compute_stats(domain, "x.onnx"), Unsupported);
}

TEST(Stats, RefusesAModelWithoutImageInput) {
  onnx::ModelProto m = tiny();
  auto* shape =
      m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->mutable_dim()->RemoveLast();  // rank 3
  try {
    compute_stats(m, "flat.onnx");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("flat.onnx"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("no image-like input"), std::string::npos);
  }
}

TEST(Stats, RefusesANonsenseInputSize) {
  EXPECT_THROW(compute_stats(tiny(), "t", 0), Error);
  EXPECT_THROW(compute_stats(tiny(), "t", -5), Error);
}

}  // namespace
}  // namespace infermark
