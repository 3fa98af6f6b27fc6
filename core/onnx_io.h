#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>

namespace infermark {

// Reads an ONNX model file. Throws Error naming the file when it is missing, unreadable,
// not a protobuf ModelProto, truncated, or has no graph.
onnx::ModelProto load_onnx(const std::filesystem::path& path);

// Writes a model; throws Error naming the file on failure. Writes to a temporary file and
// renames, so an interrupted write never leaves a half model under the final name.
void save_onnx(const onnx::ModelProto& model, const std::filesystem::path& path);

// Runs the ONNX checker (full check, with shape inference). Throws Error with its message.
void check_onnx(const onnx::ModelProto& model);

}  // namespace infermark
