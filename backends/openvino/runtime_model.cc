#include "backends/openvino/runtime_model.h"

#include <algorithm>
#include <cctype>

namespace infermark {
namespace {

std::string layout_name(const std::string& onednn) {
  // oneDNN format tags as the CPU plugin's runtime model reports them.
  if (onednn == "abcd") return "abcd (NCHW)";
  if (onednn == "acdb") return "acdb (NHWC)";
  if (onednn == "aBcd8b") return "aBcd8b (nChw8c, blocked)";
  if (onednn == "aBcd16b") return "aBcd16b (nChw16c, blocked)";
  return onednn;
}

}  // namespace

std::string internal_input_layout(const ov::CompiledModel& compiled) {
  try {
    auto runtime = compiled.get_runtime_model();
    for (const auto& param : runtime->get_parameters()) {
      const auto& info = param->get_rt_info();
      auto own = info.find("outputLayouts");
      std::string layout = own == info.end() ? "" : own->second.as<std::string>();
      for (const auto& target : param->output(0).get_target_inputs()) {
        const auto& ti = target.get_node()->get_rt_info();
        auto type = ti.find("layerType");
        auto out = ti.find("outputLayouts");
        if (type != ti.end() && out != ti.end() && type->second.as<std::string>() == "Reorder") {
          layout = out->second.as<std::string>();
          break;
        }
      }
      return layout.empty() ? "" : layout_name(layout);
    }
  } catch (const std::exception&) {
  }
  return "";
}

// The layers of the compiled model that compute in int8, by type: the runtime model's
// convolutions and matrix products whose runtimePrecision is i8 or u8.
std::map<std::string, int64_t> int8_layers(const ov::CompiledModel& compiled) {
  std::map<std::string, int64_t> counts;
  try {
    for (const auto& op : compiled.get_runtime_model()->get_ordered_ops()) {
      const auto& info = op->get_rt_info();
      const auto type = info.find("layerType");
      const auto precision = info.find("runtimePrecision");
      if (type == info.end() || precision == info.end()) continue;
      const std::string t = type->second.as<std::string>();
      std::string p = precision->second.as<std::string>();
      std::transform(p.begin(), p.end(), p.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if ((p == "i8" || p == "u8") &&
          (t == "Convolution" || t == "FullyConnected" || t == "MatMul" || t == "GroupConvolution"))
        ++counts[t];
    }
  } catch (const std::exception&) {
  }
  return counts;
}

}  // namespace infermark
