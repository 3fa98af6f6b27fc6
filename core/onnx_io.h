#pragma once

#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

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

// The ONNX library's shape inference over `model` (its value_info filled in), run in a child
// process: the library (1.12) reads out of bounds on some malformed graphs (a Conv whose
// input's rank differs from its weight's) and would take this process with it. Throws Error
// with the library's message when it refuses the graph, or saying that it crashed.
void infer_shapes(onnx::ModelProto& model, const onnx::ShapeInferenceOptions& options);

}  // namespace infermark
