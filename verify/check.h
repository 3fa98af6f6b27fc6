#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "prepare/prepare.h"

namespace infermark {

class BackendRegistry;

// `infermark check`: one input through several frameworks, each in a process of its own,
// every output compared with the reference's (a framework, or a file of expected outputs).
struct CheckOptions {
  std::filesystem::path model;  // the ONNX file as given
  std::string model_label;      // how the user named it
  std::vector<std::string> backends;
  std::string reference;                     // one of backends; empty with an expected file
  std::string expected_label;                // the expected outputs' file, when given
  Tensor expected;                           // its outputs, one row per input image
  std::map<std::string, Settings> settings;  // per backend, validated
  std::string prepare = "simplify";
  double tolerance = -1;  // < 0: the default for each backend's precision
  int threads = 0;
  std::string precision = "fp32";  // of every framework but the reference, which runs fp32
  double timeout_s = 0;            // each framework's load and runs; 0: none
};

// Default tolerances on the relative difference (max |out - ref| / max |ref|): float32
// frameworks reorder sums and fuse operators, which moves logits by ~1e-6 to 1e-4 of their
// range; bfloat16 keeps 8 bits of mantissa (~4e-3 per operation), which accumulates over a
// deep net to a few percent; int8 likewise.
inline constexpr double kToleranceF32 = 1e-3;
inline constexpr double kToleranceReduced = 5e-2;

// One framework's verdict: runs (within tolerance of the reference); wrong (beyond it, or
// another output shape); refused (the framework says it cannot: an operator, a model form);
// error (it failed otherwise); crashed, timeout, oom (how its process ended); unchecked (it
// ran, but the reference did not).
struct CheckRow {
  std::string backend;
  std::string verdict;
  std::string reason;  // not runs: why; wrong: what differs
  std::string prepared;
  bool reference = false;
  double max_abs = 0, max_rel = 0, top1 = 0, tolerance = 0, load_ms = 0;
  std::string output_tail;  // the framework's last words, when its process ended badly
};

struct CheckReport {
  std::vector<CheckRow> rows;  // in the order of CheckOptions::backends
  std::string reference;       // the framework, or "expected"
  int64_t batch = 0;
  bool interrupted = false;
  bool all_run() const;
};

// The model prepared for one framework that runs one batch, in one precision: its opset
// raised to what the framework reads, quantized for int8, the batch fixed where that helps the
// framework. Throws Unsupported when the framework does not offer the precision here.
PreparedModel prepare_for_one_batch(const BackendInfo& info, const std::filesystem::path& model,
                                    const std::string& preparation, const std::string& precision,
                                    int64_t batch);

// One framework on one input, in a process of its own.
struct FrameworkRun {
  std::filesystem::path model;  // the ONNX file as given (prepared for the framework here)
  std::string backend;
  Settings settings;  // validated
  std::string prepare = "simplify";
  std::string precision = "fp32";
  int threads = 0;
  double timeout_s = 0;
  double tolerance = -1;  // < 0: the default for the precision
};
// Its row (the verdict left empty when it ran: judge() gives it) and, when it ran, its outputs.
CheckRow run_framework(BackendRegistry& registry, const FrameworkRun& run, const Tensor& input,
                       Tensor& output);
// The verdict of a framework that ran, against the reference's outputs.
void judge(CheckRow& row, const Tensor& output, const Tensor& reference);

// Throws Error for what the options get wrong (before anything loads); a framework's failure,
// the reference's included, is a row.
CheckReport run_check(BackendRegistry& registry, const CheckOptions& options, const Tensor& input);

// The table, one row per framework, as `infermark check` prints it.
void print_check(const CheckOptions& options, const CheckReport& report, std::FILE* out);

}  // namespace infermark
