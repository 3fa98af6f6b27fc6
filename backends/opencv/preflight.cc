// The OpenCV plugin's pre-flight (see preflight.h): constant propagation as OpenCV 4.6's
// importer folds, over the node list read by onnx_reader.h.

#include "backends/opencv/preflight.h"

#include <map>
#include <set>
#include <string>

namespace infermark::opencv_detail {
namespace {

bool default_domain(const OnnxNode& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

// Operators the importer folds into a constant when all their inputs are constant (each
// reproduced ahead of a comparison). Squeeze only with its axes as an attribute (one input):
// with axes as an input the importer throws instead; Gather only with a single index, the
// only one the importer folds.
bool folded_when_constant(const OnnxNode& n,
                          const std::map<std::string, int64_t>& constant_elements) {
  static const std::set<std::string> ops = {
      "Unsqueeze", "Concat", "Cast", "Reshape", "Flatten", "Slice",           "Transpose",
      "Add",       "Sub",    "Mul",  "Div",     "Squeeze", "ConstantOfShape", "Gather"};
  if (!ops.count(n.op_type)) return false;
  if (n.op_type == "Squeeze") return n.inputs.size() == 1;
  if (n.op_type == "Gather") {
    if (n.inputs.size() != 2) return false;
    const auto it = constant_elements.find(n.inputs[1]);
    return it != constant_elements.end() && it->second == 1;
  }
  return true;
}

}  // namespace

bool preflight_applies(int major, int minor) { return major == 4 && minor == 6; }

std::string importer_crash_form(const OnnxGraph& graph) {
  // Constant at import time, with its element count where known (-1 where not).
  std::map<std::string, int64_t> constant = graph.initializers;
  for (const OnnxNode& n : graph.nodes) {
    if (!default_domain(n)) continue;
    bool inputs_constant = false;
    for (const auto& in : n.inputs) {
      if (in.empty()) continue;
      if (!constant.count(in)) {
        inputs_constant = false;
        break;
      }
      inputs_constant = true;
    }
    // The importer throws on these with constant inputs (its Identity and Neg layers want a
    // run-time input): it stops there, before any comparison after them.
    if ((n.op_type == "Identity" || n.op_type == "Neg") && inputs_constant) return "";
    if ((n.op_type == "Equal" || n.op_type == "Greater" || n.op_type == "Less") &&
        inputs_constant) {
      std::string ins;
      for (const auto& in : n.inputs) ins += (ins.empty() ? "'" : ", '") + in + "'";
      return "OpenCV 4.6's importer crashes (SIGSEGV) on " + n.op_type +
             " with all inputs constant at import time (node '" + n.name + "', inputs " + ins +
             ": initializers, Constant nodes and Shape, or what the importer folds from them, "
             "as PyTorch writes a comparison on a dynamic batch)";
    }
    if (n.op_type == "Constant") {
      for (const auto& out : n.outputs) constant[out] = n.constant_elements;
    } else if (n.op_type == "Shape" || (inputs_constant && folded_when_constant(n, constant))) {
      for (const auto& out : n.outputs)
        if (!out.empty()) constant[out] = -1;
    }
  }
  return "";
}

}  // namespace infermark::opencv_detail
