#pragma once

// What a framework's own profiler timed, in the framework's own vocabulary: `infermark explain`
// (explain/explain.h) maps these records onto the ONNX nodes of the prepared model.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace infermark {

// One kernel, layer or fused group the profiler timed, summed over the profiled runs.
struct KernelTime {
  std::string name;  // the framework's name for it (a node name, a layer or function name)
  std::string kind;  // the framework's type for it ("Conv", "Convolution", "fused_nn_conv2d")
  // The ONNX nodes or tensors it ran, where the framework says (OpenVINO's original layer
  // names of a fused node); empty: explain matches `name` against the model's nodes.
  std::vector<std::string> nodes;
  double ms = 0;      // total over the profiled runs
  int64_t calls = 0;  // over the profiled runs
};

struct KernelProfile {
  std::string profiler;  // which of the framework's tools measured it
  int64_t runs = 0;      // the profiled runs the times are summed over
  std::vector<KernelTime> kernels;
};

void to_json(nlohmann::json& j, const KernelTime& k);
void from_json(const nlohmann::json& j, KernelTime& k);
void to_json(nlohmann::json& j, const KernelProfile& p);
void from_json(const nlohmann::json& j, KernelProfile& p);

}  // namespace infermark
