#include "core/model_stats.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/onnx_io.h"
#include "core/text.h"

namespace infermark {
namespace {

// Operators that do no multiply-accumulate work the statistics count; any other operator
// of the default domain is refused, so that a number is never silently wrong.
const std::unordered_set<std::string> kZeroMacOps = {"Abs",
                                                     "Add",
                                                     "AveragePool",
                                                     "BatchNormalization",
                                                     "Cast",
                                                     "Ceil",
                                                     "Clip",
                                                     "Concat",
                                                     "Constant",
                                                     "ConstantOfShape",
                                                     "Div",
                                                     "DequantizeLinear",
                                                     "Dropout",
                                                     "Elu",
                                                     "Equal",
                                                     "Erf",
                                                     "Exp",
                                                     "Expand",
                                                     "Flatten",
                                                     "Floor",
                                                     "Gather",
                                                     "GlobalAveragePool",
                                                     "GlobalMaxPool",
                                                     "HardSigmoid",
                                                     "HardSwish",
                                                     "Identity",
                                                     "InstanceNormalization",
                                                     "LayerNormalization",
                                                     "LeakyRelu",
                                                     "Log",
                                                     "LogSoftmax",
                                                     "LRN",
                                                     "Max",
                                                     "MaxPool",
                                                     "Mean",
                                                     "Min",
                                                     "Mul",
                                                     "Neg",
                                                     "Pad",
                                                     "Pow",
                                                     "PRelu",
                                                     "QuantizeLinear",
                                                     "Range",
                                                     "Reciprocal",
                                                     "ReduceMax",
                                                     "ReduceMean",
                                                     "ReduceSum",
                                                     "Relu",
                                                     "Reshape",
                                                     "Resize",
                                                     "Selu",
                                                     "Shape",
                                                     "Sigmoid",
                                                     "Slice",
                                                     "Softmax",
                                                     "Softplus",
                                                     "Split",
                                                     "Sqrt",
                                                     "Squeeze",
                                                     "Sub",
                                                     "Sum",
                                                     "Tanh",
                                                     "Tile",
                                                     "Transpose",
                                                     "Unsqueeze",
                                                     "Upsample",
                                                     "Where"};
const std::unordered_set<std::string> kWeightedOps = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
const std::unordered_set<std::string> kMergeOps = {"Add", "Sum", "Mul", "Concat"};

bool is_float(int32_t elem_type) {
  using T = onnx::TensorProto;
  return elem_type == T::FLOAT || elem_type == T::FLOAT16 || elem_type == T::BFLOAT16 ||
         elem_type == T::DOUBLE;
}

int64_t element_bytes(int32_t elem_type) {
  using T = onnx::TensorProto;
  switch (elem_type) {
    case T::DOUBLE:
    case T::INT64:
    case T::UINT64:
      return 8;
    case T::FLOAT:
    case T::INT32:
    case T::UINT32:
      return 4;
    case T::FLOAT16:
    case T::BFLOAT16:
    case T::INT16:
    case T::UINT16:
      return 2;
    default:
      return 1;
  }
}

// Elements of a shape; -1 for a negative dimension or a count past int64_t (a file's claim,
// not a tensor any model here has).
int64_t numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  return n;
}

std::vector<int64_t> dims_of(const onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

// A copy of the graph's structure for shape inference: initializers keep their type and
// dims, but large floating-point data stays behind (shape inference needs only small
// integer constants such as Reshape targets).
onnx::ModelProto structure_only(const onnx::ModelProto& model) {
  onnx::ModelProto m;
  m.set_ir_version(model.ir_version());
  *m.mutable_opset_import() = model.opset_import();
  const auto& src = model.graph();
  auto* g = m.mutable_graph();
  g->set_name(src.name());
  *g->mutable_node() = src.node();
  *g->mutable_input() = src.input();
  *g->mutable_output() = src.output();
  for (const auto& init : src.initializer()) {
    auto* t = g->add_initializer();
    t->set_name(init.name());
    t->set_data_type(init.data_type());
    *t->mutable_dims() = init.dims();
    if (!is_float(init.data_type()) || numel(dims_of(init)) <= 64) t->CopyFrom(init);
  }
  return m;
}

struct Tensor {
  std::vector<int64_t> shape;  // empty when unknown
  bool known = false;
  int32_t elem_type = 0;
};

}  // namespace

int max_supported_opset() {
  return onnx::OpSchemaRegistry::DomainToVersionRange::Instance()
      .Map()
      .at(onnx::ONNX_DOMAIN)
      .second;
}

ModelStats compute_stats(const onnx::ModelProto& model, const std::string& name,
                         std::optional<int64_t> input_size, int64_t batch) {
  ModelStats st;
  st.name = name;
  const auto& graph = model.graph();
  auto fail = [&](const std::string& what) -> Unsupported {
    return Unsupported("model '" + name + "': " + what);
  };

  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") st.opset = static_cast<int>(op.version());
  if (st.opset == 0) throw fail("imports no opset of the default ONNX domain");
  if (st.opset < 7 || st.opset > max_supported_opset())
    throw fail("uses opset " + std::to_string(st.opset) + "; statistics support opsets 7 to " +
               std::to_string(max_supported_opset()));
  if (batch < 1 || batch > 65536)
    throw Error("batch " + std::to_string(batch) + " is out of range (1 to 65536)");
  st.costs_batch = batch;
  if (input_size && (*input_size < 1 || *input_size > 8192))
    throw Error("input size " + std::to_string(*input_size) + " is out of range (1 to 8192)");

  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  for (const auto& t : graph.initializer()) initializers[t.name()] = &t;

  // The image input: the one graph input that is not an initializer and is a rank-4 float.
  const onnx::ValueInfoProto* image = nullptr;
  int real_inputs = 0;
  for (const auto& in : graph.input()) {
    if (initializers.count(in.name())) continue;
    ++real_inputs;
    const auto& tt = in.type().tensor_type();
    if (!image && is_float(tt.elem_type()) && tt.shape().dim_size() == 4) image = &in;
  }
  if (!image)
    throw Error("model '" + name + "' has no image-like input (a rank-4 float tensor, NCHW)");
  if (real_inputs > 1)
    throw fail("has " + std::to_string(real_inputs) +
               " inputs; statistics need a single image input");
  const auto& idims = image->type().tensor_type().shape().dim();
  // NCHW, or NHWC as TensorFlow's exporters write it: where the 1 or 3 channels sit.
  auto fixed = [&](int i, std::initializer_list<int64_t> values) {
    return idims[i].has_dim_value() &&
           std::find(values.begin(), values.end(), idims[i].dim_value()) != values.end();
  };
  const bool nhwc = !fixed(1, {1, 3}) && fixed(3, {1, 3});
  const int c = nhwc ? 3 : 1, h = nhwc ? 1 : 2, w = nhwc ? 2 : 3;
  if (!idims[c].has_dim_value())
    throw fail("input '" + image->name() + "' has no fixed channel count");
  int64_t height = 224, width = 224;
  if (input_size) {
    height = width = *input_size;
  } else {
    if (idims[h].has_dim_value()) height = idims[h].dim_value();
    if (idims[w].has_dim_value()) width = idims[w].dim_value();
    if (idims[h].has_dim_value() != idims[w].has_dim_value())
      height = width = idims[h].has_dim_value() ? height : width;
  }
  st.input_name = image->name();
  st.fixed_batch = idims[0].has_dim_value() ? idims[0].dim_value() : 0;
  st.free_image = !idims[h].has_dim_value() || !idims[w].has_dim_value();
  st.layout = nhwc ? "NHWC" : "NCHW";
  st.input_shape = nhwc ? std::vector<int64_t>{height, width, idims[c].dim_value()}
                        : std::vector<int64_t>{idims[c].dim_value(), height, width};
  if (*std::min_element(st.input_shape.begin(), st.input_shape.end()) < 1)
    throw fail("input '" + image->name() + "' has a channel count, height or width below 1");
  const int64_t size = height;  // in messages

  // Before shape inference, what the ONNX library's inference (1.12) trusts and crashes on
  // otherwise: every operator one the statistics know (an unknown one leaves its outputs
  // without a type), every input produced by something, and the nodes in topological order
  // (ONNX requires it, exporters usually comply; sort anyway), in which inference visits them.
  for (const auto& node : graph.node()) {
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      throw fail("operator '" + node.domain() + "::" + node.op_type() +
                 "' is not supported by the statistics");
    if (!kWeightedOps.count(node.op_type()) && !kZeroMacOps.count(node.op_type()))
      throw fail("operator '" + node.op_type() + "' is not supported by the statistics");
  }
  const int n_nodes = graph.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n_nodes; ++i)
    for (const auto& o : graph.node(i).output()) producer[o] = i;
  std::unordered_set<std::string> sources;  // graph inputs and initializers
  for (const auto& in : graph.input()) sources.insert(in.name());
  for (const auto& [n, t] : initializers) sources.insert(n);
  std::vector<int> pending(n_nodes, 0);
  std::vector<std::vector<int>> consumers(n_nodes);
  for (int i = 0; i < n_nodes; ++i)
    for (const auto& in : graph.node(i).input()) {
      auto it = producer.find(in);
      if (it == producer.end()) {
        if (!in.empty() && !sources.count(in))
          throw fail("input '" + in + "' of node '" + graph.node(i).name() + "' (" +
                     graph.node(i).op_type() + ") is produced by no node, input or initializer");
        continue;
      }
      if (it->second == i) throw fail("the graph has a cycle");
      ++pending[i];
      consumers[it->second].push_back(i);
    }
  std::vector<int> order;
  for (int i = 0; i < n_nodes; ++i)
    if (pending[i] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k)
    for (int c : consumers[order[k]])
      if (--pending[c] == 0) order.push_back(c);
  if (static_cast<int>(order.size()) != n_nodes) throw fail("the graph has a cycle");

  // Shape inference at the batch and the chosen size.
  onnx::ModelProto shaped = structure_only(model);
  auto* nodes = shaped.mutable_graph()->mutable_node();
  nodes->Clear();
  for (int idx : order) *nodes->Add() = graph.node(idx);
  for (auto& in : *shaped.mutable_graph()->mutable_input()) {
    if (in.name() != image->name()) continue;
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    shape->clear_dim();
    shape->add_dim()->set_dim_value(batch);
    for (int64_t d : st.input_shape) shape->add_dim()->set_dim_value(d);
  }
  for (auto& out : *shaped.mutable_graph()->mutable_output())
    out.mutable_type()->mutable_tensor_type()->clear_shape();
  try {
    infer_shapes(shaped, onnx::ShapeInferenceOptions(false, 1, true));
  } catch (const Error& e) {
    throw fail("shape inference failed at input size " + std::to_string(size) + ": " + e.what());
  }

  std::unordered_map<std::string, Tensor> tensors;
  auto record = [&](const onnx::ValueInfoProto& vi) {
    const auto& tt = vi.type().tensor_type();
    Tensor t;
    t.elem_type = tt.elem_type();
    t.known = tt.has_shape();
    for (const auto& d : tt.shape().dim()) {
      if (!d.has_dim_value()) t.known = false;
      t.shape.push_back(d.dim_value());
    }
    tensors[vi.name()] = t;
  };
  for (const auto& vi : shaped.graph().input()) record(vi);
  for (const auto& vi : shaped.graph().value_info()) record(vi);
  for (const auto& vi : shaped.graph().output()) record(vi);
  for (const auto& [n, t] : initializers) tensors[n] = Tensor{dims_of(*t), true, t->data_type()};

  std::unordered_set<std::string> constant;  // initializers and what is computed from them only
  for (const auto& [n, t] : initializers) constant.insert(n);
  std::unordered_map<std::string, int> depth;   // weighted layers on the longest path
  std::unordered_map<std::string, int> anchor;  // last weighted layer or merge a value comes from
  for (int i = 0; i < graph.input_size(); ++i) anchor[graph.input(i).name()] = -1 - i;
  std::unordered_set<std::string> counted;  // each initializer once, even if shared

  for (int idx : order) {
    const auto& node = graph.node(idx);
    const std::string where = "node '" + node.name() + "' (" + node.op_type() + ")";
    const bool weighted_op = kWeightedOps.count(node.op_type()) > 0;

    std::vector<std::string> dynamic;
    for (const auto& in : node.input())
      if (!in.empty() && !constant.count(in)) dynamic.push_back(in);

    auto shape = [&](const std::string& t) -> const std::vector<int64_t>& {
      auto it = tensors.find(t);
      if (it == tensors.end() || !it->second.known)
        // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
        throw fail("cannot infer the shape of '" + t + "' at " + where);
      return it->second.shape;
    };

    // What the statistics read of a node, checked: a file can claim anything (no output, a
    // weight of rank 0, dimensions whose product leaves int64_t).
    if (node.output_size() == 0) throw fail(where + " has no output");
    if (weighted_op && node.input_size() < 2) throw fail(where + " has fewer than 2 inputs");
    auto count = [&](const std::vector<int64_t>& dims) {
      const int64_t n = numel(dims);
      if (n < 0) throw fail("a tensor at " + where + " has a negative or too large dimension");
      return n;
    };
    auto add = [&](int64_t& sum, int64_t a, int64_t b) {  // sum += a * b
      int64_t p = 0;
      if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(sum, p, &sum))
        throw fail("its statistics pass 2^63 at " + where);
    };
    auto rank = [&](const std::vector<int64_t>& dims, size_t at_least) -> const auto& {
      if (dims.size() < at_least)
        throw fail("an input of rank " + std::to_string(dims.size()) + " at " + where);
      return dims;
    };

    NodeCost cost;
    cost.name = node.name();
    cost.op_type = node.op_type();
    const int64_t macs_before = st.macs;
    for (const auto& in : node.input()) {
      const auto it = tensors.find(in);
      if (!in.empty() && !constant.count(in)) cost.inputs.push_back(in);
      if (in.empty() || it == tensors.end() || !it->second.known) continue;
      add(constant.count(in) ? cost.weight_bytes : cost.activation_bytes, count(it->second.shape),
          element_bytes(it->second.elem_type));
    }
    for (const auto& o : node.output()) {
      cost.outputs.push_back(o);
      const auto it = tensors.find(o);
      if (o.empty() || it == tensors.end() || !it->second.known) continue;
      add(cost.activation_bytes, count(it->second.shape), element_bytes(it->second.elem_type));
    }

    bool weighted = false;
    if (node.op_type() == "Conv" || node.op_type() == "ConvTranspose") {
      weighted = constant.count(node.input(1)) > 0;
      const auto& w = rank(shape(node.input(1)), 1);
      if (w[0] < 1) throw fail("a weight of " + std::to_string(w[0]) + " filters at " + where);
      const int64_t per_output = count(w) / w[0];  // Cin/group * kernel
      if (node.op_type() == "Conv") {
        add(st.macs, count(shape(node.output(0))), per_output);
      } else {
        add(st.macs, count(shape(node.input(0))), per_output);
      }
    } else if (node.op_type() == "Gemm") {
      weighted = constant.count(node.input(0)) || constant.count(node.input(1));
      const auto& a = rank(shape(node.input(0)), 2);
      bool trans_a = false;
      for (const auto& at : node.attribute())
        if (at.name() == "transA") trans_a = at.i() != 0;
      const int64_t k = trans_a ? a[0] : a[1];
      add(st.macs, count(shape(node.output(0))), k);
    } else if (node.op_type() == "MatMul") {
      weighted = constant.count(node.input(0)) || constant.count(node.input(1));
      const auto& a = rank(shape(node.input(0)), 1);
      add(st.macs, count(shape(node.output(0))), a.back());
    }
    cost.macs = st.macs - macs_before;
    st.node_costs.push_back(std::move(cost));

    for (int i = 0; i < node.input_size(); ++i) {
      const auto it = initializers.find(node.input(i));
      if (it == initializers.end() || !counted.insert(it->first).second) continue;
      const auto& t = *it->second;
      const int64_t n = count(dims_of(t));
      add(st.weight_bytes, n, element_bytes(t.data_type()));
      if (!is_float(t.data_type()) || t.dims_size() == 0) continue;
      add(node.op_type() == "BatchNormalization" && i >= 3 ? st.buffers : st.parameters, n, 1);
    }

    int d = 0;
    for (const auto& in : node.input())
      if (auto it = depth.find(in); it != depth.end()) d = std::max(d, it->second);
    if (weighted) {
      ++d;
      ++st.weighted_nodes;
    }

    std::set<int> anchors;
    for (const auto& in : dynamic)
      if (auto it = anchor.find(in); it != anchor.end()) anchors.insert(it->second);
    const auto out_type = tensors.count(node.output(0)) ? tensors[node.output(0)].elem_type : 0;
    const bool jump = kMergeOps.count(node.op_type()) && dynamic.size() >= 2 &&
                      anchors.size() >= 2 && is_float(out_type);
    if (jump) {
      ++st.jumps[lower(node.op_type())];
      ++st.jumps_total;
    }
    const int out_anchor = (weighted || jump || anchors.size() != 1) ? idx : *anchors.begin();

    const bool all_constant = dynamic.empty() && node.op_type() != "Shape";
    for (const auto& o : node.output()) {
      if (o.empty()) continue;
      depth[o] = d;
      anchor[o] = out_anchor;
      if (all_constant) constant.insert(o);
    }
    ++st.nodes;
  }

  for (const auto& out : graph.output())
    if (auto it = depth.find(out.name()); it != depth.end())
      st.layers = std::max(st.layers, it->second);
  st.macs /= batch;  // per image: every MAC count above scales with the batch
  if (__builtin_mul_overflow(st.macs, 2, &st.flops))
    throw fail("its statistics pass 2^63 (" + std::to_string(st.macs) + " MACs)");
  st.parameters_per_layer = st.layers > 0 ? static_cast<double>(st.parameters) / st.layers : 0.0;
  return st;
}

nlohmann::json to_json(const ModelStats& s) {
  return {{"name", s.name},
          {"opset", s.opset},
          {"input",
           {{"name", s.input_name},
            {"shape", s.input_shape},
            {"layout", s.layout},
            {"fixed_batch", s.fixed_batch},
            {"free_image", s.free_image}}},
          {"parameters", s.parameters},
          {"buffers", s.buffers},
          {"layers", s.layers},
          {"weighted_nodes", s.weighted_nodes},
          {"jumps", {{"total", s.jumps_total}, {"by_type", s.jumps}}},
          {"parameters_per_layer", s.parameters_per_layer},
          {"macs_per_image", s.macs},
          {"flops_per_image", s.flops},
          {"weight_bytes", s.weight_bytes},
          {"nodes", s.nodes}};
}

std::string format_stats_table(const std::vector<ModelStats>& rows) {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-18s %7s %14s %10s %6s %-18s %12s %9s %9s %10s\n", "model",
                "input", "parameters", "buffers", "layers", "jumps", "params/layer", "GMACs",
                "GFLOPs", "weights_MB");
  out << line;
  for (const auto& s : rows) {
    std::string jumps = std::to_string(s.jumps_total);
    if (!s.jumps.empty()) {
      jumps += " (";
      bool first = true;
      for (const auto& [op, n] : s.jumps) {
        jumps += (first ? "" : ",") + op + " " + std::to_string(n);
        first = false;
      }
      jumps += ")";
    }
    const bool nhwc = s.layout == "NHWC";
    const std::string input = std::to_string(s.input_shape[nhwc ? 0 : 1]) + "x" +
                              std::to_string(s.input_shape[nhwc ? 1 : 2]);
    std::snprintf(line, sizeof line,
                  "%-18s %7s %14lld %10lld %6d %-18s %12.0f %9.3f %9.3f %10.1f\n", s.name.c_str(),
                  input.c_str(), static_cast<long long>(s.parameters),
                  static_cast<long long>(s.buffers), s.layers, jumps.c_str(),
                  s.parameters_per_layer, s.macs / 1e9, s.flops / 1e9, s.weight_bytes / 1e6);
    out << line;
  }
  return out.str();
}

}  // namespace infermark
