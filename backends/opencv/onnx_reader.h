#pragma once

// The ONNX file's interface (its inputs and outputs, with their element types and shapes) for
// the OpenCV plugin: OpenCV does not expose the model's declared input shape, so the plugin
// reads it from the file itself with a small protobuf wire-format reader that seeks over the
// weights. Kept apart from opencv_backend.cc so that each file stays short.

#include <cstdint>
#include <filesystem>
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

std::string model_shape_string(const ValueInfo& v);

}  // namespace infermark::opencv_detail
