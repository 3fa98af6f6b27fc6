// libFuzzer target for ONNX model files as a study reads them before any framework does
// (core/onnx_io.h, core/model_stats.h): load_onnx (the protobuf parse and its checks), then
// what describe_model does with the model, compute_stats (the graph's checks and order, shape
// inference at batch 1 in a child process, the statistics' walk): at the file's own image size
// for inputs of even length, at 32 x 32 for odd ones. The input is the file's bytes.
//
// Error (or Unsupported) is the expected answer to a bad model. A finding is a crash, a
// sanitizer report, an allocation past libFuzzer's limit, any other exception, or statistics
// that cannot be true: a negative count, an image side below 1.

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/model_stats.h"
#include "core/onnx_io.h"
#include "fuzz_input.h"

namespace {

using infermark::fuzz::finding;

void stats(const onnx::ModelProto& model, std::optional<int64_t> input_size) {
  infermark::ModelStats s;
  try {
    s = infermark::compute_stats(model, "m", input_size);
  } catch (const infermark::Error&) {
    return;  // the statistics' answer to a model they cannot analyse
  }
  if (s.parameters < 0 || s.buffers < 0 || s.macs < 0 || s.flops < 0 || s.weight_bytes < 0 ||
      s.layers < 0 || s.jumps_total < 0 || s.nodes < 0)
    finding("statistics that cannot be true", to_json(s).dump());
  for (int64_t d : s.input_shape)
    if (d < 1) finding("an input shape that cannot be true", to_json(s).dump());
  infermark::format_stats_table({s});
}

}  // namespace

// Protobuf logs every message it refuses (invalid UTF-8 in a string field): noise here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path file = infermark::fuzz::write_input("input.onnx", data, size);
  try {
    onnx::ModelProto model;
    try {
      model = infermark::load_onnx(file);
    } catch (const infermark::Error&) {
      return 0;  // the loader's answer to a bad file
    }
    stats(model, size % 2 == 0 ? std::nullopt : std::optional<int64_t>(32));
  } catch (const std::exception& e) {
    finding("an exception other than Error escaped", e.what());
  }
  return 0;
}
