#pragma once

// LibTorch's ONNX interpreter: the ONNX file read with Debian's libonnx_proto and its graph
// translated, operator by operator, into a list of PyTorch (ATen) steps over slots. Kept apart
// from libtorch_backend.cc (the engine, the settings, load and run) so that each file stays
// short; only the plugin uses it.

#include <ATen/ATen.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace infermark::libtorch_detail {

// The ONNX model at path, parsed; Error when it is missing, unreadable or not ONNX.
onnx::ModelProto read_model(const std::filesystem::path& path);

// The version of the default (ai.onnx) operator set the model imports; 0 when none.
int64_t default_opset(const onnx::ModelProto& m);

// Element type and shape of the graph's input or output; dims are -1 where free.
struct ValueInfo {
  std::string name;
  int elem_type = 0;
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> symbols;
};

ValueInfo value_info(const onnx::ValueInfoProto& v);
std::string model_shape_string(const ValueInfo& v);

// ---------------------------------------------------------------- the interpreter

enum class Op {
  kConv,
  kBatchNorm,
  kRelu,
  kSigmoid,
  kMul,
  kAdd,
  kConcat,
  kMaxPool,
  kAveragePool,
  kGlobalAveragePool,
  kFlatten,
  kGemm,
  kPad,
  kReduceMean,
  kTranspose,
  kReshape,
  kClip,
  kHardSigmoid,
  kHardSwish,
};

// An operand of a step: a value computed at run time (a slot) or a constant.
struct Operand {
  int slot = -1;
  at::Tensor value;
};

struct Step {
  Op op = Op::kRelu;
  std::string node;         // the ONNX node's name, for messages
  std::string op_type;      // the ONNX node's operator
  std::string produces;     // the ONNX value it writes
  std::vector<Operand> in;  // run-time operands (data inputs)
  int out = -1;             // slot written
  // Parameters, by operator.
  at::Tensor weight, bias, mean, var;
  std::vector<int64_t> kernel, stride, pad, dilation, shape;
  std::vector<int64_t> pre_pad;  // asymmetric pads applied first (at::constant_pad_nd order)
  double pad_value = 0;
  int pad_mode = 0;      // Pad: 0 constant, 1 reflect, 2 edge
  bool keepdims = true;  // ReduceMean (its axes in `shape`)
  int64_t group = 1, axis = 1;
  bool ceil_mode = false, count_include_pad = false, allow_zero = false;
  double eps = 1e-5, alpha = 1, beta = 0, lo = 0, hi = 0;
  bool has_lo = false, has_hi = false;
  std::vector<int> release;  // slots whose last reader this step is
};

// The graph as steps over slots. Slot 0 holds the input.
struct Program {
  std::vector<Step> steps;
  int slots = 1;
  int output_slot = -1;
  at::Tensor output_constant;  // a graph whose output is constant (never in practice)
  int batchnorms_folded = 0;
  std::map<std::string, int> operators;  // ONNX operator -> count, as run (after folding)
};

// The graph as steps: each node one PyTorch operator, constant subgraphs evaluated, each
// BatchNormalization that only follows a Conv folded into it when fold_batchnorm (the caller
// holds an InferenceMode guard). Unsupported names an operator outside the list.
Program translate(const onnx::GraphProto& g, int64_t opset, bool fold_batchnorm,
                  const std::string& input_name, const std::string& output_name);

// Runs one step on the slots' values.
at::Tensor execute(const Step& s, const std::vector<at::Tensor>& slots);

}  // namespace infermark::libtorch_detail
