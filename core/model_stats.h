#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace infermark {

// The paper's Table 1 for one ONNX model, per image, at one input size.
// Definitions (docs/statistics.md says why):
// - parameters: learnable floating-point tensors (weights, biases, normalization scale and
//   shift); BatchNormalization running mean and variance are counted apart as buffers.
// - layers: the largest number of weighted layers (Conv, ConvTranspose, Gemm, MatMul with a
//   constant operand) met on one path from the input to an output: the depth of the net.
// - jumps: nodes that merge two or more computed branches (Add, Sum, Mul, Concat on
//   floating-point tensors) whose branches went through different weighted layers since
//   they split; x * sigmoid(x) (SiLU) is therefore not a jump, a residual Add is.
// - macs: multiply-accumulates of the weighted layers for one image; flops = 2 * macs.
// - weight_bytes: bytes of every initializer the graph uses (parameters and buffers).
// One node of the graph: what `infermark explain` maps a framework's kernel times onto.
struct NodeCost {
  std::string name;
  std::string op_type;
  std::vector<std::string> inputs;  // the computed ones (not initializers or constants)
  std::vector<std::string> outputs;
  // At the batch the statistics were computed for (compute_stats' batch), each tensor once.
  int64_t macs = 0;
  // The node's computed inputs and its outputs (activation_bytes), its constant inputs
  // (weight_bytes). Their sum is the least memory traffic of the node: a lower bound, as
  // caches and fusion decide the real traffic.
  int64_t activation_bytes = 0;
  int64_t weight_bytes = 0;
};

struct ModelStats {
  std::string name;
  int opset = 0;
  std::string input_name;
  std::vector<int64_t> input_shape;  // one image, in the file's order: C, H, W or H, W, C
  int64_t fixed_batch = 0;           // the batch the file fixes; 0: free
  bool free_image = false;           // the file leaves the image's height or width free
  std::string layout = "NCHW";       // NCHW, or NHWC (channels last, as TensorFlow exports)
  int64_t parameters = 0;
  int64_t buffers = 0;
  int layers = 0;
  int weighted_nodes = 0;
  std::map<std::string, int> jumps;  // by operator type, only those present
  int jumps_total = 0;
  double parameters_per_layer = 0;
  int64_t macs = 0;
  int64_t flops = 0;
  int64_t weight_bytes = 0;
  int nodes = 0;
  std::vector<NodeCost> node_costs;  // every node, in topological order, at the batch below
  int64_t costs_batch = 1;
};

// Highest default-domain opset the statistics understand (that of the ONNX library used).
int max_supported_opset();

// Computes the statistics. input_size overrides the image height and width (square);
// without it the model's own fixed size is used, or 224 when the model's is symbolic.
// Throws Error / Unsupported naming the model and the reason.
// batch: the batch of the shape inference, that of a file that fixes it (the figures above are
// per image whatever it is; node_costs are for the whole batch).
ModelStats compute_stats(const onnx::ModelProto& model, const std::string& name,
                         std::optional<int64_t> input_size = std::nullopt, int64_t batch = 1);

nlohmann::json to_json(const ModelStats& stats);

// A fixed-width table, one row per model.
std::string format_stats_table(const std::vector<ModelStats>& rows);

}  // namespace infermark
