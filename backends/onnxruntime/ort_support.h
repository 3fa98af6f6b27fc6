#pragma once

// ONNX Runtime's messages, log and optimized graphs, as the plugin reads them
// (onnxruntime_backend.cc).

#include <onnxruntime_cxx_api.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace infermark::ort_detail {

namespace fs = std::filesystem;

GraphOptimizationLevel level_of(const std::string& name);

// ORT's message without the source location and function signature that ORT_THROW and
// ORT_ENFORCE put in front ("/src/x.h:46 void f(int, ...) message"), on one line.
std::string ort_message(const char* what);

// Valid models that use what this ORT build cannot run: operators it has no kernel or
// schema for, opsets newer than it supports.
bool is_unsupported(const Ort::Exception& e);

[[noreturn]] void rethrow_load_error(const fs::path& model, const Ort::Exception& e);

// ORT's log lines go to stderr with our prefix (never stdout, which may carry JSON).
void ORT_API_CALL log_to_stderr(void* /*param*/, OrtLoggingLevel severity, const char* /*category*/,
                                const char* /*logid*/, const char* /*code_location*/,
                                const char* message);

// The int8 kernels in an ONNX graph ORT saved after optimizing, by operator type: QDQ
// pairs around a convolution or a matrix product that ORT's QDQ fusions turned into an int8
// kernel. Read from the file's bytes: each NodeProto's op_type is field 4 (tag 0x22), a
// length byte and the name.
std::map<std::string, int64_t> count_int8_kernels(const fs::path& graph);

}  // namespace infermark::ort_detail
