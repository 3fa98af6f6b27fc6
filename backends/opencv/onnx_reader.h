#pragma once

// The ONNX file's interface (its inputs and outputs, with their element types and shapes) for
// the OpenCV plugin: OpenCV does not expose the model's declared input shape, so the plugin
// reads it from the file itself with a small protobuf wire-format reader that seeks over the
// weights. Kept apart from opencv_backend.cc so that each file stays short. The same reader
// gives the pre-flight (preflight.h) the graph's nodes, without attributes or weights.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace infermark::opencv_detail {

// Element type and shape of one graph input or output; dims are -1 where free.
struct ValueInfo {
  std::string name;
  int elem_type = 0;  // onnx.TensorProto.DataType; 1 = FLOAT
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> symbols;
};

struct OnnxInterface {
  std::vector<ValueInfo> inputs;  // initializers listed as inputs (IR < 4) left out
  std::vector<ValueInfo> outputs;
};

// The graph's inputs and outputs read from file; Error when it is not an ONNX model.
OnnxInterface read_onnx_interface(const std::filesystem::path& file);

// One node of the main graph as the pre-flight needs it: its operator, names and, for a
// Constant node, the element count of its value (-1 when not a tensor of known dims).
struct OnnxNode {
  std::string op_type, domain, name;
  std::vector<std::string> inputs, outputs;
  int64_t constant_elements = -1;
};

struct OnnxGraph {
  OnnxInterface io;
  std::vector<OnnxNode> nodes;                  // in file order (topological in valid ONNX)
  std::map<std::string, int64_t> initializers;  // name -> element count (-1: dims unread)
};

// The reader's bound on hostile files: at most this many nodes, names, initializers, graph
// inputs and outputs and their dims in all (each string is at most 1 MiB), beyond which the
// file is an Error. The largest vision models have some tens of thousands.
constexpr uint64_t kMaxGraphEntries = 1u << 22;

// The graph's nodes (attributes, subgraphs and weights sought over) and initializers besides
// its interface; Error when it is not an ONNX model or exceeds kMaxGraphEntries.
OnnxGraph read_onnx_graph(const std::filesystem::path& file);

std::string model_shape_string(const ValueInfo& v);

}  // namespace infermark::opencv_detail
