// OpenCV DNN (Debian's 4.6) behind the backend interface: its settings' defaults, numerically
// equal to ONNX Runtime on small variants of the four architectures, clear about SE blocks at
// batch > 1, and honest about its process-wide threads. What every backend must do (listed,
// settings, unknown operators, input shapes, the uniform settings in effect) is checked by
// contract_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/npy.h"
#include "tests/backends/backend_fixture.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class OpenCv : public BackendTest {
 protected:
  static Tensor image(const Tensor& batch, int64_t i) {
    Tensor t;
    t.resize({1, batch.shape[1], batch.shape[2], batch.shape[3]});
    std::copy_n(batch.data.begin() + i * t.numel(), t.numel(), t.data.begin());
    return t;
  }
};

TEST_F(OpenCv, VersionAndSettingDefaults) {
  const auto list = registry_.list();
  auto it = std::find_if(list.begin(), list.end(),
                         [](const BackendInfo& b) { return b.name == "opencv"; });
  ASSERT_NE(it, list.end());
  EXPECT_TRUE(it->available) << it->reason;
  EXPECT_EQ(it->version.rfind("4.", 0), 0u) << it->version;
  EXPECT_NE(std::find(it->devices.begin(), it->devices.end(), "cpu"), it->devices.end());
  std::map<std::string, SettingSpec> specs;
  for (const auto& s : it->settings) {
    specs[s.key] = s;
  }
  for (const char* key : {"backend", "target", "threads", "fusion", "setup_at_load"})
    ASSERT_TRUE(specs.count(key)) << key;
  EXPECT_EQ(specs["backend"].default_value, "opencv");
  EXPECT_EQ(specs["target"].default_value, "cpu");
  EXPECT_EQ(specs["threads"].default_value, "0");
  EXPECT_EQ(specs["fusion"].default_value, "true");
  // Only what this machine offers: OpenCL targets appear only with an OpenCL device.
  const auto& targets = specs["target"].allowed;
  EXPECT_NE(std::find(targets.begin(), targets.end(), "cpu"), targets.end());
}

// Small variants of all four architectures: OpenCV agrees with ONNX Runtime to 1e-3 of the
// logits' range and on every image's top-1 class. EfficientNet-B0 runs one image at a time
// (OpenCV 4.6 cannot batch its squeeze-excitation Mul, see the next test).
TEST_F(OpenCv, ParityWithOnnxRuntimeOnSmallVariantsOfTheFourArchitectures) {
  const Tensor input = random_input({2, 3, 64, 64}, 11);
  for (const char* name : kZooModels) {
    const fs::path model = small_model(name);
    const Tensor a = run("onnxruntime", model, input);
    Tensor b;
    if (std::string(name) == "efficientnet_b0") {
      auto engine = load("opencv", model, 1);
      b.resize(a.shape);
      for (int64_t i = 0; i < 2; ++i) {
        Tensor out;
        engine->run(view(image(input, i)), out);
        ASSERT_EQ(out.shape, (std::vector<int64_t>{1, 1000})) << name;
        std::copy(out.data.begin(), out.data.end(), b.data.begin() + i * 1000);
      }
    } else {
      b = run("opencv", model, input);
    }
    ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 1000})) << name;
    ASSERT_NO_FATAL_FAILURE(expect_parity(a, b, name));
  }
}

// Node forms OpenCV 4.6's importer cannot read, as PyTorch's exporter writes them: ReLU6 as
// Clip with its bounds as inputs, and a Pad whose optional constant_value is given as "". The
// plugin rewrites them after the importer refused the file (and says so in settings_in_effect),
// with the same results as ONNX Runtime on the file as written.
TEST_F(OpenCv, ClipBoundsAsInputsAndEmptyOptionalInputsAreRewrittenForTheImporter) {
  onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 5});
  auto* g = m.mutable_graph();
  auto scalar = [&](const std::string& name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  };
  scalar("relu6_min", 0.0f);
  scalar("relu6_max", 6.0f);
  auto* pads = g->add_initializer();
  pads->set_name("zero_pads");
  pads->set_data_type(onnx::TensorProto::INT64);
  pads->add_dims(8);
  for (int i = 0; i < 8; ++i) pads->add_int64_data(i == 2 || i == 7 ? 1 : 0);
  int clips = 0;
  for (auto& n : *g->mutable_node()) {
    if (n.op_type() != "Relu") continue;
    n.set_op_type("Clip");
    n.add_input("relu6_min");
    n.add_input("relu6_max");
    ++clips;
  }
  // A Pad of the input with "" as its constant_value, before the first node.
  onnx::NodeProto pad;
  pad.set_op_type("Pad");
  pad.set_name("pad_input");
  pad.add_input(g->input(0).name());
  pad.add_input("zero_pads");
  pad.add_input("");
  pad.add_output("padded_input");
  for (auto& n : *g->mutable_node())
    for (auto& in : *n.mutable_input())
      if (in == g->input(0).name()) in = "padded_input";
  *g->add_node() = pad;
  g->mutable_node()->SwapElements(0, g->node_size() - 1);
  for (int i = g->node_size() - 1; i > 1; --i) g->mutable_node()->SwapElements(i, i - 1);
  const fs::path file = dir_ / "relu6_pad.onnx";
  std::ofstream(file, std::ios::binary) << m.SerializeAsString();

  const Tensor input = random_input({1, 3, 64, 64}, 4);
  const Tensor ref = run("onnxruntime", file, input);
  nlohmann::json effect;
  const Tensor got = run("opencv", file, input, {}, &effect);
  ASSERT_EQ(got.shape, ref.shape);
  EXPECT_LT(difference(ref, got).relative(), 1e-3);
  ASSERT_TRUE(effect.contains("importer_rewrites")) << effect.dump();
  const std::string steps = effect["importer_rewrites"].dump();
  EXPECT_NE(steps.find("Clip bounds as attributes: " + std::to_string(clips) + " nodes"),
            std::string::npos)
      << steps;
  EXPECT_NE(steps.find("empty trailing optional inputs dropped: 1 nodes"), std::string::npos)
      << steps;
  // A model the importer reads as it is is not rewritten.
  nlohmann::json plain;
  run("opencv", small_model("resnet50"), input, {}, &plain);
  EXPECT_EQ(plain["importer_rewrites"], nlohmann::json::array()) << plain.dump();
}

// OpenCV 4.6 imports ONNX Mul broadcasting [N, C, 1, 1] (squeeze-excitation) as a Scale
// layer that takes the second input as per-channel weights: batch 1 only. A load for batch
// 2 says so; a dynamic engine refuses batch 2 and still runs batch 1 afterwards.
TEST_F(OpenCv, SqueezeExcitationRunsOnlyAtBatchOne) {
  const fs::path model = small_model("efficientnet_b0");
  try {
    load("opencv", model, 2);
    ADD_FAILURE() << "OpenCV loaded EfficientNet-B0 for batch 2; has it learnt to batch Scale?";
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("opencv: cannot load '" + model.string() + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("batch 1 only"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Scale"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  auto engine = load("opencv", model, 0);
  Tensor out;
  EXPECT_THROW(engine->run(view(random_input({2, 3, 64, 64}, 3)), out), Unsupported);
  engine->run(view(random_input({1, 3, 64, 64}, 3)), out);
  EXPECT_EQ(out.shape, (std::vector<int64_t>{1, 1000}));
}

// OpenCV 4.6's importer folds a comparison whose inputs are all constant at import time and
// crashes doing it (SIGSEGV), as in PyTorch's vision transformers with a dynamic batch: the
// batch read with Shape -> Gather -> Unsqueeze -> Concat, compared with Equal. The plugin
// refuses that form before calling the importer; loaded here in this process, so a pre-flight
// that let it through would crash the test. Comparing the input itself still loads.
class ComparisonGraph {
 public:
  explicit ComparisonGraph(const std::string& batch) {
    auto* g = m_.mutable_graph();
    m_.set_ir_version(8);
    auto* opset = m_.add_opset_import();
    opset->set_domain("");
    opset->set_version(14);
    g->set_name("comparison");
    auto value = [](onnx::ValueInfoProto* v, const std::string& name, const std::string& batch) {
      v->set_name(name);
      auto* t = v->mutable_type()->mutable_tensor_type();
      t->set_elem_type(onnx::TensorProto::FLOAT);
      auto* d = t->mutable_shape()->add_dim();
      if (batch.empty() || std::isdigit(static_cast<unsigned char>(batch[0])))
        d->set_dim_value(batch.empty() ? 1 : std::stoll(batch));
      else
        d->set_dim_param(batch);
      for (int64_t s : {3, 8, 8}) t->mutable_shape()->add_dim()->set_dim_value(s);
    };
    value(g->add_input(), "x", batch);
    value(g->add_output(), "y", batch);
  }
  onnx::GraphProto& graph() { return *m_.mutable_graph(); }
  void int64s(const std::string& name, const std::vector<int64_t>& dims,
              const std::vector<int64_t>& values) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
  }
  void floats(const std::string& name, const std::vector<int64_t>& dims, float v) {
    auto* t = graph().add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) t->add_float_data(v);
  }
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& in,
                        const std::string& out) {
    auto* n = graph().add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  // The batch as PyTorch reads it for a dynamic batch: Concat(Unsqueeze(Gather(Shape(x), 0)),
  // [-1]), named "batch_and_rest".
  void shape_chain() {
    int64s("index0", {}, {0});
    int64s("axes0", {1}, {0});
    int64s("minus1", {1}, {-1});
    node("Shape", {"x"}, "shape");
    node("Gather", {"shape", "index0"}, "batch")->add_attribute()->set_name("axis");
    auto* axis = graph().mutable_node(graph().node_size() - 1)->mutable_attribute(0);
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(0);
    node("Unsqueeze", {"batch", "axes0"}, "batch_1d");
    node("Concat", {"batch_1d", "minus1"}, "batch_and_rest");
    auto* cat = graph().mutable_node(graph().node_size() - 1)->add_attribute();
    cat->set_name("axis");
    cat->set_type(onnx::AttributeProto::INT);
    cat->set_i(0);
  }
  // y = x + Cast(compared, float): the comparison's result feeds the output.
  void output_from(const std::string& compared) {
    auto* cast = node("Cast", {compared}, "compared_float");
    auto* to = cast->add_attribute();
    to->set_name("to");
    to->set_type(onnx::AttributeProto::INT);
    to->set_i(onnx::TensorProto::FLOAT);
    node("Add", {"x", "compared_float"}, "y");
  }
  std::filesystem::path save(const std::filesystem::path& file) const {
    std::ofstream(file, std::ios::binary) << m_.SerializeAsString();
    return file;
  }

 private:
  onnx::ModelProto m_;
};

TEST_F(OpenCv, ComparisonsOfImportTimeConstantsAreRefusedBeforeTheImporterCrashes) {
  const std::string version = registry_.get("opencv").info().version;
  if (version.rfind("4.6.", 0) != 0)
    GTEST_SKIP() << "the pre-flight's forms are those of OpenCV 4.6; this is " << version;
  for (const char* op : {"Equal", "Greater", "Less"}) {
    for (const char* batch : {"batch", "2"}) {
      SCOPED_TRACE(std::string(op) + " at batch " + batch);
      ComparisonGraph m(batch);
      m.shape_chain();
      m.int64s("minus1s", {2}, {-1, -1});
      m.node(op, {"batch_and_rest", "minus1s"}, "compared");
      m.output_from("compared");
      const fs::path file = m.save(dir_ / (std::string(op) + "_" + batch + "_shape.onnx"));
      try {
        load("opencv", file, 0);
        ADD_FAILURE() << "loaded";
      } catch (const Unsupported& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("opencv: refused before loading '" + file.string() + "'"),
                  std::string::npos)
            << msg;
        EXPECT_NE(msg.find("crashes (SIGSEGV) on " + std::string(op) +
                           " with all inputs constant at import time"),
                  std::string::npos)
            << msg;
        EXPECT_NE(msg.find("'batch_and_rest', 'minus1s'"), std::string::npos) << msg;
      }
    }
    // Two initializers compared: the same crash, without any Shape.
    {
      ComparisonGraph m("1");
      m.int64s("a", {3}, {1, 2, 3});
      m.int64s("b", {3}, {1, 2, 3});
      m.node(op, {"a", "b"}, "compared");
      m.node("Relu", {"x"}, "y");
      EXPECT_THROW(load("opencv", m.save(dir_ / (std::string(op) + "_constants.onnx")), 0),
                   Unsupported)
          << op;
    }
    // Close, and loads: the comparison takes the input, computed at run time.
    {
      ComparisonGraph m("1");
      m.floats("zeros", {1, 3, 8, 8}, 0.0f);
      m.node(op, {"x", "zeros"}, "compared");
      m.output_from("compared");
      const fs::path file = m.save(dir_ / (std::string(op) + "_runtime.onnx"));
      EXPECT_NO_THROW(load("opencv", file, 1)) << op;
    }
  }
  // An Identity of a constant before the comparison: the importer throws there, before it
  // would reach the comparison, so the file gets the importer's own refusal.
  ComparisonGraph m("1");
  m.shape_chain();
  m.int64s("minus1s", {2}, {-1, -1});
  m.node("Identity", {"minus1s"}, "minus1s_copy");
  m.node("Equal", {"batch_and_rest", "minus1s_copy"}, "compared");
  m.output_from("compared");
  try {
    load("opencv", m.save(dir_ / "identity_first.onnx"), 0);
    ADD_FAILURE() << "loaded";
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find("refused before loading"), std::string::npos) << msg;
    EXPECT_NE(msg.find("operator Identity"), std::string::npos) << msg;
  }
}

TEST_F(OpenCv, ThreadsAndCacheAreReadBack) {
  const fs::path model = small_model("resnet50");
  const Tensor input = random_input({1, 3, 64, 64}, 1);
  {
    auto engine = load("opencv", model, 1, {{"threads", "1"}});
    Tensor out;
    engine->run(view(input), out);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("threads"), 1) << e.dump();
    EXPECT_EQ(e.at("threads_from"), "setting") << e.dump();
    EXPECT_EQ(e.at("cache"), "none") << e.dump();
    EXPECT_EQ(e.at("backend"), "opencv") << e.dump();
    EXPECT_EQ(e.at("target"), "cpu") << e.dump();
  }
  {
    auto engine = load("opencv", model, 1, {}, 2);
    const nlohmann::json e = engine->settings_in_effect();
    EXPECT_EQ(e.at("threads"), 2) << e.dump();
    EXPECT_EQ(e.at("threads_from"), "harness") << e.dump();
  }
  // Threads are process-wide in OpenCV: an engine sets its own count again when it runs.
  auto one = load("opencv", model, 1, {{"threads", "1"}});
  auto two = load("opencv", model, 1, {{"threads", "2"}});
  Tensor a, b;
  one->run(view(input), a);
  EXPECT_EQ(one->settings_in_effect().at("threads"), 1);
  two->run(view(input), b);
  EXPECT_EQ(two->settings_in_effect().at("threads"), 2);
  EXPECT_EQ(a.shape, b.shape);
}

// setup_at_load=false leaves OpenCV's lazy setup to the first run, with the same result.
TEST_F(OpenCv, SetupAtLoadDoesNotChangeResults) {
  const fs::path model = small_model("densenet201");
  const Tensor input = random_input({2, 3, 64, 64}, 4);
  nlohmann::json lazy_effect;
  const Tensor eager = run("opencv", model, input);
  const Tensor lazy = run("opencv", model, input, {{"setup_at_load", "false"}}, &lazy_effect);
  EXPECT_EQ(eager.data, lazy.data);
  EXPECT_TRUE(lazy_effect.contains("setup_note")) << lazy_effect.dump();
}

}  // namespace
}  // namespace infermark
