#include "backends/opencv/importer_forms.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <map>

#include "core/error.h"

namespace infermark::opencv_detail {
namespace {

// The value of a constant scalar float: an initializer or a Constant node's output.
bool scalar_value(const std::map<std::string, const onnx::TensorProto*>& constants,
                  const std::string& name, float& value) {
  auto it = constants.find(name);
  if (it == constants.end()) return false;
  const onnx::TensorProto& t = *it->second;
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  if (n != 1 || t.data_type() != onnx::TensorProto::FLOAT) return false;
  if (t.float_data_size() == 1) {
    value = t.float_data(0);
    return true;
  }
  if (t.raw_data().size() != sizeof(float)) return false;
  std::memcpy(&value, t.raw_data().data(), sizeof(float));
  return true;
}

}  // namespace

RewrittenModel rewrite_importer_forms(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto model;
  if (!in || !model.ParseFromIstream(&in))
    throw Error("opencv: cannot read '" + file.string() + "' as an ONNX model");
  onnx::GraphProto& graph = *model.mutable_graph();
  std::map<std::string, const onnx::TensorProto*> constants;
  for (const auto& t : graph.initializer()) constants[t.name()] = &t;
  for (const auto& n : graph.node())
    if (n.op_type() == "Constant" && n.output_size() == 1)
      for (const auto& a : n.attribute())
        if (a.name() == "value" && a.has_t()) constants[n.output(0)] = &a.t();

  int clips = 0, trimmed = 0;
  for (auto& n : *graph.mutable_node()) {
    if (n.op_type() == "Clip" && n.input_size() > 1) {
      float lo = 0, hi = 0;
      const bool has_lo = n.input_size() > 1 && !n.input(1).empty();
      const bool has_hi = n.input_size() > 2 && !n.input(2).empty();
      if ((has_lo && !scalar_value(constants, n.input(1), lo)) ||
          (has_hi && !scalar_value(constants, n.input(2), hi)))
        continue;  // bounds computed at run time: left for the importer to refuse
      if (has_lo) {
        auto* a = n.add_attribute();
        a->set_name("min");
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(lo);
      }
      if (has_hi) {
        auto* a = n.add_attribute();
        a->set_name("max");
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(hi);
      }
      n.mutable_input()->DeleteSubrange(1, n.input_size() - 1);
      ++clips;
      continue;
    }
    bool dropped = false;
    while (n.input_size() > 1 && n.input(n.input_size() - 1).empty()) {
      n.mutable_input()->RemoveLast();
      dropped = true;
    }
    trimmed += dropped;
  }
  RewrittenModel r;
  if (clips == 0 && trimmed == 0) return r;
  if (clips) r.steps.push_back("Clip bounds as attributes: " + std::to_string(clips) + " nodes");
  if (trimmed)
    r.steps.push_back("empty trailing optional inputs dropped: " + std::to_string(trimmed) +
                      " nodes");
  const std::string bytes = model.SerializeAsString();
  r.bytes.assign(bytes.begin(), bytes.end());
  return r;
}

}  // namespace infermark::opencv_detail
