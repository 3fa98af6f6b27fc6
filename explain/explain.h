#pragma once

// `infermark explain`: why one framework is slower than another, layer by layer. Each
// framework runs the model in a process of its own, in a plain engine and then in one with its
// own profiler on; its kernel records are mapped onto the ONNX
// nodes of the prepared model it ran, and from there onto an operator class, the node's
// FLOPs and its least memory traffic. docs/explain.md describes the method and the result
// lines (schema infermark-explain/1).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/model_stats.h"
#include "core/profile.h"

namespace infermark {

class BackendRegistry;

inline constexpr const char* kExplainSchema = "infermark-explain/1";

// The operator classes, in the order tables and figures show them.
inline constexpr const char* kOperatorClasses[] = {
    "convolution", "matrix product", "element-wise", "normalisation",
    "pooling",     "data movement",  "other"};

// The class of an operator or kernel type, ONNX's ("Conv") or a framework's ("FusedConv",
// "Convolution", "fused_nn_conv2d_add_nn_relu", "Reorder"), by the words in it.
std::string operator_class(const std::string& type);

struct ExplainOptions {
  std::filesystem::path model;  // the ONNX file
  std::string model_label;      // as the user named it
  std::vector<std::string> backends;
  std::map<std::string, Settings> settings;  // per backend, validated
  std::string prepare = "simplify";
  std::string precision = "fp32";
  int64_t batch = 1;
  int threads = 0;
  int runs = 30;  // timed runs of each engine
  int warmup = 5;
  double timeout_s = 0;  // each framework's process; 0: none
};

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
  std::string status = "ok";  // ok, or why there is no profile: unsupported, error, crash...
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
  int64_t unmapped = 0;         // records that matched no node (their time is in class "other")
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

// Maps one framework's kernel records onto the model's nodes: a record's own node names
// (KernelTime::nodes), else its name; each name matches a node's name or one of its outputs,
// exactly or as the longest such name it starts with (frameworks append to names:
// "Conv_0_nchwc"). A fused record's time goes to its node with the most work (MACs, then
// bytes). The costs are those of the batch run. What matches nothing stays unmapped, its time
// kept under class "other" with the record's name.
void map_profile(const KernelProfile& profile, const std::vector<NodeCost>& costs,
                 FrameworkExplain& into);

// Runs the model on each framework with its profiler. Throws Error for what the options get
// wrong; a framework's failure or lack of a profiler is its row.
ExplainReport run_explain(BackendRegistry& registry, const ExplainOptions& options,
                          const std::function<void(const std::string&)>& progress = {});

// The nodes ordered by how much of the latency difference b - a (the plain engines') they
// explain, time outside the kernels as one more row, with the share covered so far.
struct NodeDifference {
  std::string node, op_type, cls;
  double a_ms = 0, b_ms = 0, cumulative_share = 0;
};
std::vector<NodeDifference> explain_difference(const FrameworkExplain& a,
                                               const FrameworkExplain& b);

// Result lines: one per framework, schema kExplainSchema.
nlohmann::json to_json(const ExplainReport& report, const FrameworkExplain& f);
FrameworkExplain explain_from_json(const nlohmann::json& line);

// The tables `infermark explain` prints: per framework its classes and top nodes, then the
// classes side by side, then (with compare) the nodes behind the difference of two frameworks.
void print_explain(const ExplainReport& report, int top, const std::string& a, const std::string& b,
                   std::FILE* out);

}  // namespace infermark
