#pragma once

// What the CPU plugin's runtime model (ov::CompiledModel::get_runtime_model) tells of a
// compiled model: the input's internal layout, the layers computing in int8.

#include <cstdint>
#include <map>
#include <openvino/openvino.hpp>
#include <string>

namespace infermark {

// The memory layout the CPU plugin really uses for the input image: the layout of the
// Reorder it inserts after the Input node (its first convolution's choice), else the
// Input node's own layout. Empty when the device exposes no runtime model rt_info.
std::string internal_input_layout(const ov::CompiledModel& compiled);

// The layers of the compiled model that compute in int8, by type: the runtime model's
// convolutions and matrix products whose runtimePrecision is i8 or u8.
std::map<std::string, int64_t> int8_layers(const ov::CompiledModel& compiled);

}  // namespace infermark
