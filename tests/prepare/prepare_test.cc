// The model preparation stage (prepare/prepare.h) on files made by PyTorch's exporter and by
// the zoo: what it folds, what it keeps (the symbolic batch, every operator a framework would
// fuse), its cache, the opset raise a framework asks for, and its refusals.
#include "prepare/prepare.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "core/onnx_io.h"
#include "tests/prepare/exported_models.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

std::map<std::string, int> op_counts(const onnx::ModelProto& m) {
  std::map<std::string, int> n;
  for (const auto& node : m.graph().node()) ++n[node.op_type()];
  return n;
}

int64_t opset_of(const onnx::ModelProto& m) {
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

class Prepare : public ExportedModelsTest {
 protected:
  static void SetUpTestSuite() { export_models("infermark_prepare_test"); }
};

TEST_F(Prepare, NoneLeavesTheFileAsExported) {
  const PreparedModel p = prepare_model(dir_ / "same_pad.onnx", preparation_options("none"));
  EXPECT_EQ(p.file, dir_ / "same_pad.onnx");
  EXPECT_TRUE(p.steps.empty());
  EXPECT_THROW(preparation_options("fold"), Error);
}

// TensorFlow-style "same" padding computed at run time from the input's size: folded into
// constant pads, with the batch still symbolic and the Pad and Conv operators kept.
TEST_F(Prepare, SimplifyFoldsRunTimeShapeArithmeticAndKeepsTheBatchSymbolic) {
  const onnx::ModelProto before = load_onnx(dir_ / "same_pad.onnx");
  const PreparedModel p = prepare_model(dir_ / "same_pad.onnx", PrepareOptions{});
  ASSERT_NE(p.file, dir_ / "same_pad.onnx");
  const onnx::ModelProto after = load_onnx(p.file);
  auto was = op_counts(before), is = op_counts(after);
  EXPECT_GT(was["Shape"], 0);
  EXPECT_EQ(is["Shape"], 0);
  EXPECT_EQ(is["Gather"], 0);
  EXPECT_EQ(is["Pad"], was["Pad"]);
  EXPECT_EQ(is["Conv"], was["Conv"]);
  const auto& batch = after.graph().input(0).type().tensor_type().shape().dim(0);
  EXPECT_FALSE(batch.has_dim_value()) << "the batch was fixed";
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_NE(p.steps[0].find("simplify"), std::string::npos) << p.steps[0];
  EXPECT_TRUE(p.tools.contains("onnxsim")) << p.tools.dump();
  EXPECT_EQ(p.after.layout, "NCHW");
  EXPECT_EQ(p.after.input, "input");
  EXPECT_EQ(p.sha256.size(), 16u);
}

// No fusion: every BatchNormalization and Conv of a zoo model survives; an Identity of an
// initializer (PyTorch's merged equal tensors) does not.
TEST_F(Prepare, SimplifyFusesNothing) {
  const fs::path zoo_file = zoo::model_file("resnet50", {64, 0.25, 5}, dir_ / "zoo");
  const auto was = op_counts(load_onnx(zoo_file));
  auto is = op_counts(load_onnx(prepare_model(zoo_file, PrepareOptions{}).file));
  for (const char* op : {"Conv", "BatchNormalization", "Relu", "Add"})
    EXPECT_EQ(is[op], was.count(op) ? was.at(op) : 0) << op;
  const auto exported = op_counts(load_onnx(dir_ / "resnet50.onnx"));
  ASSERT_GT(exported.count("Identity") ? exported.at("Identity") : 0, 0)
      << "the exporter merged no initializer: the test lost its case";
  is = op_counts(load_onnx(prepare_model(dir_ / "resnet50.onnx", PrepareOptions{}).file));
  EXPECT_EQ(is["Identity"], 0);
}

TEST_F(Prepare, ASecondPreparationIsACacheHitUntilTheContentsChange) {
  const fs::path model = dir_ / "copy.onnx";
  fs::copy_file(dir_ / "same_pad.onnx", model, fs::copy_options::overwrite_existing);
  const PreparedModel first = prepare_model(model, PrepareOptions{});
  EXPECT_FALSE(first.cache_hit);
  EXPECT_GT(first.seconds, 0);
  const PreparedModel second = prepare_model(model, PrepareOptions{});
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(second.file, first.file);
  EXPECT_EQ(second.steps, first.steps);
  // Keyed by the contents: a touch is still the same preparation; other contents with the
  // modification time set back (cp -p, rsync -t, an archive) are not.
  fs::last_write_time(model, fs::last_write_time(model) + std::chrono::seconds(5));
  EXPECT_TRUE(prepare_model(model, PrepareOptions{}).cache_hit);
  const auto when = fs::last_write_time(model);
  fs::copy_file(dir_ / "mobilenet_v2.onnx", model, fs::copy_options::overwrite_existing);
  fs::last_write_time(model, when);
  const PreparedModel other = prepare_model(model, PrepareOptions{});
  EXPECT_FALSE(other.cache_hit);
  EXPECT_NE(other.file, first.file);
}

// What a framework declares it needs (Capabilities::min_opset) is done even without folding.
TEST_F(Prepare, TheOpsetIsRaisedWhereAFrameworkNeedsIt) {
  PrepareOptions o = preparation_options("none");
  o.opset_at_least = 17;
  const PreparedModel p = prepare_model(dir_ / "mobilenet_v2.onnx", o);
  ASSERT_EQ(opset_of(load_onnx(dir_ / "mobilenet_v2.onnx")), 13);
  EXPECT_EQ(opset_of(load_onnx(p.file)), 17);
  EXPECT_EQ(p.steps, std::vector<std::string>{"opset 13 to 17"});
  EXPECT_EQ(p.before.opset, 13);
  EXPECT_EQ(p.after.opset, 17);
}

// int8: ONNX Runtime's quantization tooling writes a QDQ model (a QuantizeLinear and
// DequantizeLinear pair before every convolution, int8 weights per output channel), cached and
// keyed by the calibration set; the precision alone decides it, for every command.
TEST_F(Prepare, Int8QuantizesToQdqKeyedByTheCalibrationSet) {
  const fs::path zoo_file = zoo::model_file("resnet50", {64, 0.25, 5}, dir_ / "zoo");
  PrepareOptions o;
  o.height = o.width = 64;
  prepare_for_precision(o, "bf16");
  EXPECT_TRUE(o.quantize.empty());
  prepare_for_precision(o, "int8");
  ASSERT_EQ(o.quantize, "int8");
  o.calibration_images = 4;
  const PreparedModel q = prepare_model(zoo_file, o);
  const auto ops = op_counts(load_onnx(q.file));
  const auto was = op_counts(load_onnx(zoo_file));
  EXPECT_EQ(ops.at("Conv"), was.at("Conv"));
  EXPECT_GE(ops.at("QuantizeLinear"), was.at("Conv"));
  EXPECT_GE(ops.at("DequantizeLinear"), 2 * was.at("Conv"));  // activations and weights
  ASSERT_FALSE(q.steps.empty());
  EXPECT_NE(q.steps.back().find("quantize int8: pre-processed"), std::string::npos)
      << q.steps.back();
  EXPECT_NE(q.steps.back().find("then QDQ"), std::string::npos) << q.steps.back();
  // ONNX Runtime's pre-processing folded every batch norm into its convolution: none stays
  // between a DequantizeLinear and a QuantizeLinear to run in float.
  EXPECT_EQ(ops.count("BatchNormalization"), 0u);
  EXPECT_GT(was.at("BatchNormalization"), 0);
  EXPECT_NE(q.steps.back().find(std::to_string(was.at("BatchNormalization")) +
                                " BatchNormalization folded"),
            std::string::npos)
      << q.steps.back();
  EXPECT_NE(q.steps.back().find("MinMax on 4 random"), std::string::npos) << q.steps.back();
  // int8 weights, one scale per output channel.
  const onnx::ModelProto m = load_onnx(q.file);
  int int8_weights = 0;
  for (const auto& t : m.graph().initializer())
    if (t.data_type() == onnx::TensorProto::INT8 && t.dims_size() == 4) ++int8_weights;
  EXPECT_EQ(int8_weights, was.at("Conv"));

  EXPECT_TRUE(prepare_model(zoo_file, o).cache_hit);
  o.calibration_seed = 2;
  const PreparedModel other = prepare_model(zoo_file, o);
  EXPECT_FALSE(other.cache_hit) << "another calibration set reused the first one's model";
  EXPECT_NE(other.sha256, q.sha256);
  o.calibration_images = 0;
  EXPECT_THROW(prepare_model(zoo_file, o), Error);
}

TEST_F(Prepare, AModelOutsideWhatInfermarkRunsIsRefusedOnOneLineNamingTheFile) {
  onnx::ModelProto m = load_onnx(dir_ / "same_pad.onnx");
  *m.mutable_graph()->add_input() = m.graph().input(0);
  m.mutable_graph()->mutable_input(1)->set_name("second");
  const fs::path two = dir_ / "two_inputs.onnx";
  std::ofstream(two, std::ios::binary) << m.SerializeAsString();
  try {
    prepare_model(two, PrepareOptions{});
    ADD_FAILURE() << "a model with two inputs was prepared";
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(two.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("one input"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  std::ofstream(dir_ / "junk.onnx") << "not a model";
  EXPECT_THROW(prepare_model(dir_ / "junk.onnx", PrepareOptions{}), Error);
  EXPECT_THROW(prepare_model(dir_ / "missing.onnx", PrepareOptions{}), Error);
}

}  // namespace
}  // namespace infermark
