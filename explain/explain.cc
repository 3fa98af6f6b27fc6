#include "explain/explain.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>
#include <unordered_map>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/bandwidth.h"
#include "core/error.h"
#include "core/machine.h"
#include "core/npy.h"
#include "core/onnx_io.h"
#include "core/statistics.h"
#include "core/text.h"
#include "verify/check.h"
#include "verify/isolated.h"

namespace infermark {
namespace {
using nlohmann::json;

bool contains_any(const std::string& lowered, std::initializer_list<const char*> words) {
  return std::any_of(words.begin(), words.end(),
                     [&](const char* w) { return lowered.find(w) != std::string::npos; });
}

std::string status_of(const IsolatedOutcome& o) {
  if (o.status == "crash") return "crashed";
  return o.status;
}

// The prepared model's nodes with their costs; where the statistics refuse the model (an
// operator they do not know), the nodes' names alone, and why in `note`.
std::vector<NodeCost> node_costs_of(const std::filesystem::path& file, const std::string& label,
                                    int64_t batch, std::string& note) {
  const onnx::ModelProto model = load_onnx(file);
  try {
    return compute_stats(model, label, std::nullopt, batch).node_costs;
  } catch (const Error& e) {
    note = std::string("no FLOPs or bytes: ") + e.what();
  }
  std::vector<NodeCost> costs;
  for (const auto& node : model.graph().node()) {
    NodeCost c;
    c.name = node.name();
    c.op_type = node.op_type();
    c.outputs.assign(node.output().begin(), node.output().end());
    costs.push_back(std::move(c));
  }
  return costs;
}

}  // namespace

std::string operator_class(const std::string& type) {
  const std::string t = lower(type);
  // The words of the type ("fused_nn_conv2d_add" -> fused, nn, conv2d, add), for the short
  // names that would match inside longer ones (max in NonMaxSuppression).
  std::vector<std::string> words(1);
  for (const char c : t) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      words.back() += c;
    else if (!words.back().empty())
      words.emplace_back();
  }
  const auto word = [&](std::initializer_list<const char*> names) {
    return std::any_of(names.begin(), names.end(), [&](const char* n) {
      return std::find(words.begin(), words.end(), n) != words.end();
    });
  };
  // Order matters: a fused convolution with its activation is a convolution; a reorder of a
  // convolution's input is data movement; (de)quantization is element-wise, not a product.
  if (contains_any(t, {"reorder", "transpose", "layout_transform", "reshape", "concat", "split",
                       "slice", "gather", "pad", "flatten", "squeeze", "expand", "tile", "identity",
                       "copy", "permute", "shuffle", "strided"}))
    return "data movement";
  if (contains_any(t, {"quantize"})) return "element-wise";
  if (contains_any(t, {"conv"})) return "convolution";
  if (contains_any(t, {"matmul", "gemm", "dense", "fullyconnected", "innerproduct", "inner_product",
                       "attention", "einsum"}) ||
      word({"linear", "mm", "bmm", "addmm"}))
    return "matrix product";
  if (contains_any(t, {"norm", "mvn", "lrn"})) return "normalisation";
  if (contains_any(t, {"pool", "reducemean", "reduce_mean"}) || word({"mean"})) return "pooling";
  if (contains_any(t, {"relu",        "sigmoid",    "swish", "clip",     "tanh",
                       "gelu",        "erf",        "sqrt",  "softmax",  "eltwise",
                       "elementwise", "activation", "prelu", "subgraph", "multiply",
                       "power",       "mish",       "silu",  "softplus", "reciprocal"}) ||
      word({"add",  "mul",   "sub",  "div",     "exp",   "pow",   "elu",  "selu", "max", "min",
            "neg",  "abs",   "cast", "convert", "where", "scale", "bias", "log",  "sum", "floor",
            "ceil", "equal", "less", "greater", "not",   "and",   "or",   "sin",  "cos"}))
    return "element-wise";
  return "other";
}

void map_profile(const KernelProfile& profile, const std::vector<NodeCost>& costs,
                 FrameworkExplain& into) {
  std::unordered_map<std::string, size_t> by_name;   // node names and output names -> node
  std::unordered_map<std::string, size_t> producer;  // output name -> node
  for (size_t i = 0; i < costs.size(); ++i) {
    if (!costs[i].name.empty()) by_name.emplace(costs[i].name, i);
    for (const auto& o : costs[i].outputs)
      if (!o.empty()) {
        by_name.emplace(o, i);
        producer.emplace(o, i);
      }
  }
  const auto find = [&](const std::string& name) -> const NodeCost* {
    if (auto it = by_name.find(name); it != by_name.end()) return &costs[it->second];
    // The longest known name the record's name starts with, ending at a word boundary.
    for (size_t len = name.empty() ? 0 : name.size() - 1; len > 0; --len) {
      if (std::isalnum(static_cast<unsigned char>(name[len]))) continue;
      if (auto it = by_name.find(name.substr(0, len)); it != by_name.end())
        return &costs[it->second];
    }
    return nullptr;
  };
  // A fused kernel is often named after the last node of its group (a convolution with its
  // normalisation and activation, named after the activation): where the kernel's own type is
  // of another class than the node it names, the node of its class a few steps upstream.
  const auto of_kind = [&](const NodeCost* node, const std::string& kind) -> const NodeCost* {
    const std::string want = operator_class(kind);
    if (kind.empty() || want == "other") return node;
    int steps = 0;
    for (const NodeCost* at = node; at != nullptr && steps++ < 8;) {
      if (operator_class(at->op_type) == want) return at;
      if (at != node && at->inputs.size() != 1) break;  // a merge is another group's end
      if (at->inputs.empty()) break;
      const auto it = producer.find(at->inputs.front());
      at = it == producer.end() ? nullptr : &costs[it->second];
    }
    return node;
  };
  const double runs = static_cast<double>(std::max<int64_t>(1, profile.runs));
  std::map<std::string, NodeTime> nodes;
  into.kernels = static_cast<int64_t>(profile.kernels.size());
  for (const auto& k : profile.kernels) {
    const double ms = k.ms / runs;
    into.kernel_ms += ms;
    // The record's nodes; of several (a fused group), the one with the most work.
    const NodeCost* anchor = nullptr;
    for (const auto& n : k.nodes.empty() ? std::vector<std::string>{k.name} : k.nodes) {
      const NodeCost* c = find(n);
      if (c && (!anchor || std::tie(c->macs, c->activation_bytes) >
                               std::tie(anchor->macs, anchor->activation_bytes)))
        anchor = c;
    }
    if (anchor) anchor = of_kind(anchor, k.kind);
    if (!anchor) {
      ++into.unmapped;
      NodeTime& t = nodes["(unmapped) " + k.name];
      t.node = "(unmapped) " + k.name;
      t.op_type = k.kind;
      t.cls = operator_class(k.kind.empty() ? k.name : k.kind);
      t.ms += ms;
      t.kernels.push_back(k.name);
      continue;
    }
    const std::string& key = anchor->name.empty() ? anchor->outputs.at(0) : anchor->name;
    NodeTime& t = nodes[key];
    if (t.node.empty()) {
      t.node = key;
      t.op_type = anchor->op_type;
      t.cls = operator_class(anchor->op_type);
      t.flops = 2.0 * static_cast<double>(anchor->macs);
      t.bytes = static_cast<double>(anchor->activation_bytes + anchor->weight_bytes);
    }
    t.ms += ms;
    t.kernels.push_back(k.name);
  }
  into.nodes.clear();
  for (auto& [name, t] : nodes) {
    into.classes[t.cls] += t.ms;
    into.nodes.push_back(std::move(t));
  }
  std::sort(into.nodes.begin(), into.nodes.end(),
            [](const NodeTime& x, const NodeTime& y) { return x.ms > y.ms; });
}

ExplainReport run_explain(BackendRegistry& registry, const ExplainOptions& o,
                          const std::function<void(const std::string&)>& progress) {
  check_precision_name(o.precision);
  if (o.backends.empty()) throw Error("--backends names no framework");
  if (o.batch < 1) throw Error("--batch " + std::to_string(o.batch) + " is invalid: must be >= 1");
  if (o.runs < 3 || o.runs > 100000)
    throw Error("--runs " + std::to_string(o.runs) + " is out of range (3 to 100000)");
  if (o.warmup < 0 || o.warmup > 100000)
    throw Error("--warmup " + std::to_string(o.warmup) + " is out of range (0 to 100000)");
  for (const auto& b : o.backends) registry.info(b);  // an unknown name, before anything runs

  ExplainReport report;
  report.model = o.model_label.empty() ? o.model.filename().string() : o.model_label;
  report.batch = o.batch;
  report.precision = o.precision;
  const Machine machine = read_machine();
  // The peak of the precision run, as `env` measures it; int8's where the CPU has a kernel for
  // it (VNNI), else fp32's, said so.
  report.limits.peak_flops = machine.peak_fp32_flops;
  report.limits.peak_what = "fp32 FMA peak (env)";
  if (o.precision == "bf16") {
    report.limits.peak_flops = machine.peak_bf16_flops;
    report.limits.peak_what = "bf16 peak (env)";
  } else if (o.precision == "int8") {
    report.limits.peak_flops =
        machine.peak_int8_ops > 0 ? machine.peak_int8_ops : machine.peak_fp32_flops;
    report.limits.peak_what = machine.peak_int8_ops > 0
                                  ? "int8 VNNI peak (env, operations)"
                                  : "fp32 FMA peak (env; no int8 kernel on this CPU)";
  }
  report.limits.bandwidth_bytes_s = measure_bandwidth();

  for (const auto& backend : o.backends) {
    FrameworkExplain f;
    f.backend = backend;
    if (progress) progress(backend);
    try {
      const BackendInfo info = registry.info(backend);
      if (!info.available) throw Unsupported(backend + ": " + info.reason);
      if (info.capabilities.kernel_profiler.empty())
        throw Unsupported(backend + " gives no per-kernel profile here: " +
                          (info.capabilities.no_kernel_profile.empty()
                               ? "its plugin does not read one"
                               : info.capabilities.no_kernel_profile));
      const PreparedModel p = prepare_for_one_batch(info, o.model, o.prepare, o.precision, o.batch);
      f.prepared = p.steps;
      const std::vector<NodeCost> costs =
          node_costs_of(p.file, report.model, o.batch, f.costs_note);
      // The prepared file's input, in its own layout, at the batch.
      std::vector<int64_t> input_shape = p.after.input_dims;
      if (input_shape.size() != 4 ||
          std::any_of(input_shape.begin() + 1, input_shape.end(), [](int64_t d) { return d < 1; }))
        throw Unsupported("explain needs the image's size fixed in the model, '" +
                          o.model.string() +
                          "' leaves it free: " + shape_string(p.after.input_dims));
      input_shape[0] = o.batch;
      IsolatedJob job;
      job.backend = backend;
      const auto it = o.settings.find(backend);
      job.load.model = p.file;
      job.load.settings = it != o.settings.end() ? it->second : Settings{};
      job.load.threads = o.threads;
      job.load.batch = o.batch;
      job.load.precision = o.precision;
      job.mode = IsolatedJob::Mode::kProfile;
      job.runs = o.runs;
      job.warmup = o.warmup;
      job.timeout_s = o.timeout_s;
      const IsolatedOutcome out = run_isolated(job, random_input(input_shape, 1));
      if (out.status == "interrupted") {
        report.interrupted = true;
        f.status = "interrupted";
        f.reason = out.reason;
        report.frameworks.push_back(std::move(f));
        break;
      }
      if (!out.ok()) {
        f.status = status_of(out);
        f.reason = out.reason;
      } else {
        f.profiler = out.profile.profiler;
        f.runs = out.profile.runs;
        f.settings_in_effect = out.settings_in_effect;
        if (const auto a = aggregate(out.plain_ms)) {
          f.latency_ms = a->median;
          f.latency_low_ms = a->low;
          f.latency_high_ms = a->high;
        }
        f.profiled_ms = median(out.profiled_ms);
        map_profile(out.profile, costs, f);
        // Against the plain engine's latency: a profiler's own cost falls mostly between
        // kernels, and the plain engine is what a benchmark measures.
        f.overhead_ms = f.latency_ms - f.kernel_ms;
      }
    } catch (const Unsupported& e) {
      f.status = "unsupported";
      f.reason = e.what();
    } catch (const Error& e) {
      f.status = "error";
      f.reason = e.what();
    }
    report.frameworks.push_back(std::move(f));
  }
  return report;
}

std::vector<NodeDifference> explain_difference(const FrameworkExplain& a,
                                               const FrameworkExplain& b) {
  std::map<std::string, NodeDifference> by_node;
  for (const auto* f : {&a, &b})
    for (const auto& n : f->nodes) {
      NodeDifference& d = by_node[n.node];
      d.node = n.node;
      d.op_type = n.op_type;
      d.cls = n.cls;
      (f == &a ? d.a_ms : d.b_ms) += n.ms;
    }
  std::vector<NodeDifference> rows;
  for (auto& [k, d] : by_node) rows.push_back(d);
  // The whole difference, outside the kernels included (the overhead row).
  NodeDifference overhead;
  overhead.node = "(outside kernels)";
  overhead.cls = "overhead";
  overhead.a_ms = a.overhead_ms;
  overhead.b_ms = b.overhead_ms;
  rows.push_back(overhead);
  const double total = b.latency_ms - a.latency_ms;
  const double sign = total >= 0 ? 1.0 : -1.0;
  std::sort(rows.begin(), rows.end(), [&](const NodeDifference& x, const NodeDifference& y) {
    return sign * (x.b_ms - x.a_ms) > sign * (y.b_ms - y.a_ms);
  });
  double so_far = 0;
  for (auto& r : rows) {
    so_far += r.b_ms - r.a_ms;
    r.cumulative_share = total != 0 ? so_far / total : 0;
  }
  return rows;
}

}  // namespace infermark
