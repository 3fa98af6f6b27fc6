#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "verify/isolated.h"

namespace infermark {

class BackendRegistry;

// `infermark infer`: one batch through one framework, in a process of its own.
struct InferOptions {
  std::filesystem::path model;  // the ONNX file
  std::string backend;
  Settings settings;  // validated
  std::string prepare = "simplify";
  std::string precision = "fp32";
  int threads = 0;
  double timeout_s = 0;  // the framework's load and runs; 0: none
};

struct InferReport {
  IsolatedOutcome outcome;
  std::vector<std::string> prepared;  // what preparation did
};

// Throws Unsupported or Error for what is refused before the framework loads (precision,
// preparation); what the framework does is in the outcome.
InferReport run_infer(BackendRegistry& registry, const InferOptions& options, const Tensor& input);

}  // namespace infermark
