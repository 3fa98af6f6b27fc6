// explain's mapping of a framework's kernel records onto the model's nodes, the difference
// of two frameworks and the result lines, on fixed records (no framework runs here; the
// contract suite maps each framework's real profile of a small model).
#include "explain/explain.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace infermark {
namespace {

NodeCost node(std::string name, std::string op, std::string output, int64_t macs, int64_t act_bytes,
              int64_t weight_bytes = 0) {
  NodeCost c;
  c.name = std::move(name);
  c.op_type = std::move(op);
  c.outputs = {std::move(output)};
  c.macs = macs;
  c.activation_bytes = act_bytes;
  c.weight_bytes = weight_bytes;
  return c;
}

std::vector<NodeCost> small_graph() {
  return {node("conv1", "Conv", "t1", 1000, 400, 100), node("relu1", "Relu", "t2", 0, 200),
          node("", "GlobalAveragePool", "t3", 0, 120), node("fc", "Gemm", "logits", 50, 40, 20)};
}

KernelTime kernel(std::string name, std::string kind, double ms,
                  std::vector<std::string> nodes = {}) {
  KernelTime k;
  k.name = std::move(name);
  k.kind = std::move(kind);
  k.ms = ms;
  k.calls = 2;
  k.nodes = std::move(nodes);
  return k;
}

TEST(Explain, OperatorClassesOfOnnxAndFrameworkTypes) {
  EXPECT_EQ(operator_class("Conv"), "convolution");
  EXPECT_EQ(operator_class("FusedConv"), "convolution");
  EXPECT_EQ(operator_class("QLinearConv"), "convolution");
  EXPECT_EQ(operator_class("fused_nn_conv2d_add_nn_relu"), "convolution");
  EXPECT_EQ(operator_class("Convolution (brgconv_avx512_1x1)"), "convolution");
  EXPECT_EQ(operator_class("Gemm"), "matrix product");
  EXPECT_EQ(operator_class("FullyConnected"), "matrix product");
  EXPECT_EQ(operator_class("InnerProduct"), "matrix product");
  EXPECT_EQ(operator_class("BatchNormalization"), "normalisation");
  EXPECT_EQ(operator_class("LayerNormalization"), "normalisation");
  EXPECT_EQ(operator_class("MVN"), "normalisation");
  EXPECT_EQ(operator_class("GlobalAveragePool"), "pooling");
  EXPECT_EQ(operator_class("Reorder (ref_any)"), "data movement");
  EXPECT_EQ(operator_class("Transpose"), "data movement");
  EXPECT_EQ(operator_class("layout_transform"), "data movement");
  EXPECT_EQ(operator_class("Relu"), "element-wise");
  EXPECT_EQ(operator_class("HardSigmoid"), "element-wise");
  EXPECT_EQ(operator_class("DequantizeLinear"), "element-wise");
  EXPECT_EQ(operator_class("Eltwise"), "element-wise");
  EXPECT_EQ(operator_class("NonMaxSuppression"), "other");
}

TEST(Explain, RecordsMapByNameOutputPrefixAndFusedNodes) {
  KernelProfile p;
  p.runs = 2;
  p.kernels = {
      kernel("conv1_nchwc", "Conv", 6.0),                   // a suffix after the node's name
      kernel("Relu_fused", "Subgraph", 2.0, {"t1", "t2"}),  // fused: the heavier node (conv1)
      kernel("t3", "GlobalAveragePool", 1.0),               // an output's name (unnamed node)
      kernel("fc", "Gemm", 0.5),
      kernel("fc2", "Gemm", 0.25),  // "fc" followed by a letter or digit is another name
      kernel("ReorderOutput", "Reorder", 0.5),
  };
  FrameworkExplain f;
  map_profile(p, small_graph(), f);
  EXPECT_EQ(f.kernels, 6);
  EXPECT_EQ(f.unmapped, 2);
  EXPECT_DOUBLE_EQ(f.kernel_ms, (6.0 + 2.0 + 1.0 + 0.5 + 0.25 + 0.5) / 2);
  ASSERT_FALSE(f.nodes.empty());
  EXPECT_EQ(f.nodes[0].node, "conv1");   // largest first
  EXPECT_DOUBLE_EQ(f.nodes[0].ms, 4.0);  // (6 + 2) / 2 runs
  EXPECT_EQ(f.nodes[0].cls, "convolution");
  EXPECT_DOUBLE_EQ(f.nodes[0].flops, 2000);
  EXPECT_DOUBLE_EQ(f.nodes[0].bytes, 500);
  EXPECT_EQ(f.nodes[0].kernels, (std::vector<std::string>{"conv1_nchwc", "Relu_fused"}));
  EXPECT_DOUBLE_EQ(f.classes.at("convolution"), 4.0);
  EXPECT_DOUBLE_EQ(f.classes.at("pooling"), 0.5);
  EXPECT_DOUBLE_EQ(f.classes.at("matrix product"), 0.25 + 0.125);
  EXPECT_DOUBLE_EQ(f.classes.at("data movement"), 0.25);
  double sum = 0;
  for (const auto& [cls, ms] : f.classes) sum += ms;
  EXPECT_DOUBLE_EQ(sum, f.kernel_ms);  // every record's time is in one class
  bool unmapped_fc2 = false;
  for (const auto& n : f.nodes) unmapped_fc2 |= n.node == "(unmapped) fc2";
  EXPECT_TRUE(unmapped_fc2);
}

TEST(Explain, DifferenceOrdersNodesByWhatTheyExplain) {
  FrameworkExplain a, b;
  const auto at = [](std::string node, std::string op, std::string cls, double ms) {
    NodeTime t;
    t.node = std::move(node);
    t.op_type = std::move(op);
    t.cls = std::move(cls);
    t.ms = ms;
    return t;
  };
  a.nodes = {at("conv1", "Conv", "convolution", 2.0), at("fc", "Gemm", "matrix product", 1.0)};
  b.nodes = {at("conv1", "Conv", "convolution", 6.0), at("fc", "Gemm", "matrix product", 0.5)};
  a.overhead_ms = 0.5;
  b.overhead_ms = 1.5;
  a.latency_ms = 3.5;
  b.latency_ms = 8.0;  // 4.5 more: conv1 +4, outside kernels +1, fc -0.5
  const auto d = explain_difference(a, b);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].node, "conv1");
  EXPECT_NEAR(d[0].cumulative_share, 4.0 / 4.5, 1e-12);
  EXPECT_EQ(d[1].node, "(outside kernels)");
  EXPECT_NEAR(d[1].cumulative_share, 5.0 / 4.5, 1e-12);
  EXPECT_EQ(d[2].node, "fc");
  EXPECT_NEAR(d[2].cumulative_share, 1.0, 1e-12);
}

TEST(Explain, ResultLinesRoundTrip) {
  ExplainReport r;
  r.model = "resnet50";
  r.precision = "fp32";
  r.limits = {2e11, "fp32 FMA peak (env)", 2e10};
  FrameworkExplain f;
  f.backend = "onnxruntime";
  f.profiler = "p";
  f.latency_ms = 10;
  f.profiled_ms = 10.5;
  f.kernel_ms = 9.5;
  f.overhead_ms = 1.0;
  f.classes = {{"convolution", 9.0}, {"pooling", 0.5}};
  f.nodes = {{"conv1", "Conv", "convolution", 9.0, 1e9, 1e6, {"conv1"}}};
  const nlohmann::json j = to_json(r, f);
  EXPECT_EQ(j.at("schema"), kExplainSchema);
  const FrameworkExplain back = explain_from_json(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(back.backend, "onnxruntime");
  EXPECT_EQ(back.classes, f.classes);
  ASSERT_EQ(back.nodes.size(), 1u);
  EXPECT_EQ(back.nodes[0].kernels, f.nodes[0].kernels);
  EXPECT_DOUBLE_EQ(back.nodes[0].flops, 1e9);
  EXPECT_THROW(explain_from_json(nlohmann::json{{"schema", "infermark-result/1"}}), Error);
}

}  // namespace
}  // namespace infermark
