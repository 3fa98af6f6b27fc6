#pragma once

// Forms of ONNX nodes that OpenCV 4.6's importer cannot read although it runs the operator,
// rewritten into forms it reads, with the same meaning:
//   - Clip with its bounds as inputs (opset >= 11, how PyTorch writes ReLU6): the importer
//     reads the bounds only as the attributes of opset < 11; constant scalar bounds become
//     those attributes.
//   - a node whose last optional inputs are given as "" (Pad's constant_value, as PyTorch's
//     exporter writes it): the importer looks the empty name up as a constant and fails;
//     trailing empty inputs are dropped, which ONNX defines as the same.
// The plugin tries the file as it is first and rewrites only after the importer refused it,
// so no other model pays for reading the file twice.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace infermark::opencv_detail {

struct RewrittenModel {
  std::vector<char> bytes;         // the model, serialized; empty when nothing was rewritten
  std::vector<std::string> steps;  // what was rewritten, for settings_in_effect
};

// Error when the file is not an ONNX model.
RewrittenModel rewrite_importer_forms(const std::filesystem::path& file);

}  // namespace infermark::opencv_detail
