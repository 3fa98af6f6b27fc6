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

// A malformed graph is one Error naming the model, never a crash of this process: what the
// statistics read of a node is checked, counts that would leave int64_t are refused, and the
// ONNX library's shape inference, which crashes on some graphs, runs in a child process (found
// by fuzz/onnx_fuzz.cc; the reproducers are in fuzz/corpus/onnx/).
TEST(Stats, AMalformedGraphIsOneErrorNotACrash) {
  auto error_of = [](const onnx::ModelProto& m) {
    try {
      compute_stats(m, "bad.onnx");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto node_named = [](onnx::ModelProto& m, const std::string& op) {
    for (auto& n : *m.mutable_graph()->mutable_node())
      if (n.op_type() == op) return &n;
    return static_cast<onnx::NodeProto*>(nullptr);
  };
  std::vector<std::pair<std::string, onnx::ModelProto>> cases;
  {
    onnx::ModelProto m = tiny();  // a Conv without its weight
    node_named(m, "Conv")->mutable_input()->RemoveLast();
    while (node_named(m, "Conv")->input_size() > 1)
      node_named(m, "Conv")->mutable_input()->RemoveLast();
    cases.emplace_back("has fewer than 2 inputs", m);
  }
  {
    onnx::ModelProto m = tiny();  // a node without output
    node_named(m, "Gemm")->clear_output();
    cases.emplace_back("bad.onnx", m);
  }
  {
    onnx::ModelProto m = tiny();  // an input produced by nothing
    node_named(m, "Gemm")->set_input(0, "nowhere");
    cases.emplace_back("input 'nowhere' of node", m);
  }
  {
    onnx::ModelProto m = tiny();  // a node reading its own output
    auto* n = node_named(m, "Sigmoid");
    n->set_input(0, n->output(0));
    cases.emplace_back("the graph has a cycle", m);
  }
  {
    onnx::ModelProto m = tiny();  // an operator the statistics do not know, before inference
    node_named(m, "Sigmoid")->set_op_type("Sigmoid2");
    cases.emplace_back("operator 'Sigmoid2' is not supported", m);
  }
  {
    onnx::ModelProto m = tiny();  // a weight with a negative dimension
    m.mutable_graph()->mutable_initializer(0)->set_dims(0, -8);
    cases.emplace_back("bad.onnx", m);
  }
  {
    onnx::ModelProto m = tiny();  // 3 x 2^31 x 2^31 images: the MACs pass 2^63
    auto* dims =
        m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
    dims->mutable_dim(2)->set_dim_value(int64_t{1} << 31);
    dims->mutable_dim(3)->set_dim_value(int64_t{1} << 31);
    cases.emplace_back("bad.onnx", m);
  }
  {
    onnx::ModelProto m = tiny();  // a channel count of 0
    m.mutable_graph()
        ->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(1)
        ->set_dim_value(0);
    cases.emplace_back("below 1", m);
  }
  {
    // A Transpose whose perm leaves out a dimension feeds a rank-3 tensor to a Conv with a
    // rank-4 weight: ONNX 1.12's Conv inference reads out of bounds there (SIGSEGV).
    zoo::GraphBuilder b("crash", 1);
    const std::string x = b.input(3, 8);
    onnx::ModelProto m = b.finish(b.conv(x, "c", 4, 3, 1, 1));
    auto* t = m.mutable_graph()->add_node();
    t->set_op_type("Transpose");
    t->add_input(x);
    t->add_output("short");
    auto* perm = t->add_attribute();
    perm->set_name("perm");
    perm->set_type(onnx::AttributeProto::INTS);
    for (int64_t p : {0, 1, 2}) perm->add_ints(p);
    node_named(m, "Conv")->set_input(0, "short");
    node_named(m, "Conv")->clear_attribute();  // the kernel's rank from the weight, unchecked
    cases.emplace_back(
        "shape inference failed at input size 8: the ONNX library's shape "
        "inference crashed on this graph (SIGSEGV)",
        m);
  }
  for (const auto& [want, m] : cases) {
    const std::string why = error_of(m);
    EXPECT_NE(why.find("bad.onnx"), std::string::npos) << why;
    EXPECT_NE(why.find(want), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace infermark
