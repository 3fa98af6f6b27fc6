#pragma once

// The lines of `infermark explain --out` (schema infermark-explain/1, docs/explain.md): one
// framework's profile of one model, mapped onto the model's nodes and operator classes. Written
// by explain/, read back by `report`.

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

inline constexpr const char* kExplainSchema = "infermark-explain/1";

// The operator classes, in the order tables and figures show them.
inline constexpr const char* kOperatorClasses[] = {
    "convolution", "matrix product", "element-wise", "normalisation",
    "pooling",     "data movement",  "other"};

// The machine's limits the figures are read against.
struct MachineLimits {
  double peak_flops = 0;         // of the precision run (fp32 or bf16 as `env` measures it)
  std::string peak_what;         // which peak: "fp32 FMA peak"
  double bandwidth_bytes_s = 0;  // sustained, a triad loop (measure_bandwidth)
};

// One ONNX node's time in one framework: the kernels mapped to it.
struct NodeTime {
  std::string node;  // its name in the prepared model
  std::string op_type;
  std::string cls;   // operator class
  double ms = 0;     // per run
  double flops = 0;  // per run (the batch's)
  double bytes = 0;  // least memory traffic per run (activations of the batch, weights once)
  std::vector<std::string> kernels;  // the framework's names of what ran it
};

// One framework's profile, mapped.
struct FrameworkExplain {
  std::string backend;
  // ok, or why there is no profile: unsupported, error, crashed, timeout, oom, interrupted.
  std::string status = "ok";
  std::string reason;
  std::string profiler;
  std::vector<std::string> prepared;  // the preparation's steps
  std::string costs_note;  // why nodes have no FLOPs or bytes (the statistics refused the model)
  int64_t runs = 0;
  double latency_ms = 0, latency_low_ms = 0, latency_high_ms = 0;  // plain engine, median (95%)
  double profiled_ms = 0;                                          // profiled engine, median
  double kernel_ms = 0;         // sum of the kernel times per run
  double overhead_ms = 0;       // latency_ms minus kernel_ms: time outside the kernels
  int64_t kernels = 0;          // records the profiler gave
  int64_t unmapped = 0;         // records that matched no node (kept as nodes of their own)
  std::vector<NodeTime> nodes;  // by time, largest first
  std::map<std::string, double> classes;  // ms per run by operator class
  nlohmann::json settings_in_effect;
};

struct ExplainReport {
  std::string model;
  int64_t batch = 1;
  std::string precision;
  MachineLimits limits;
  std::vector<FrameworkExplain> frameworks;  // in the order of the options' backends
  bool interrupted = false;
};

// One line per framework: the framework's row with its report's model, batch, precision and
// machine limits.
nlohmann::json to_json(const ExplainReport& report, const FrameworkExplain& f);

// A line read back; the report's fields go into `report` when given. Throws Error saying what
// is missing or of the wrong type (the line is outside input).
FrameworkExplain explain_from_json(const nlohmann::json& line, ExplainReport* report = nullptr);

bool is_explain_file(const std::filesystem::path& file);

// The lines of the files, one report per model, batch and precision, in the order first met;
// a framework explained again on the same one replaces its earlier line. A torn last line is
// left out with a warning; Error names the file and line that is not an explain line.
std::vector<ExplainReport> read_explain(const std::vector<std::filesystem::path>& files);

}  // namespace infermark
