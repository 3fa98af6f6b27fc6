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
#include "core/explain_row.h"
#include "core/model_stats.h"
#include "core/profile.h"

namespace infermark {

class BackendRegistry;

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

// The tables `infermark explain` prints: per framework its classes and top nodes, then the
// classes side by side, then (with compare) the nodes behind the difference of two frameworks.
void print_explain(const ExplainReport& report, int top, const std::string& a, const std::string& b,
                   std::FILE* out);

}  // namespace infermark
