// LibTorch's ONNX interpreter (see onnx_to_torch.h): reading the ONNX file, its initializers
// as float32 or int64 at::Tensors, and the translation of its nodes into PyTorch steps.

#include "backends/libtorch/onnx_to_torch.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backends/plugin.h"

namespace infermark::libtorch_detail {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRoute = "infermark's ONNX-to-PyTorch route";

}  // namespace

// ---------------------------------------------------------------- reading the model

onnx::ModelProto read_model(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error("no such file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(std::string("cannot open it: ") + std::strerror(errno));
  onnx::ModelProto model;
  bool parsed = false;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(std::numeric_limits<int>::max());
    parsed = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed) throw Error("not an ONNX model (protobuf parse failed: truncated or not ONNX)");
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw Error("not an ONNX model: it has no graph");
  return model;
}

int64_t default_opset(const onnx::ModelProto& m) {
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

ValueInfo value_info(const onnx::ValueInfoProto& v) {
  ValueInfo r;
  r.name = v.name();
  if (!v.type().has_tensor_type()) return r;
  const auto& t = v.type().tensor_type();
  r.elem_type = t.elem_type();
  r.has_shape = t.has_shape();
  for (const auto& d : t.shape().dim()) {
    r.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    r.symbols.push_back(d.has_dim_param() ? d.dim_param() : "");
  }
  return r;
}

std::string model_shape_string(const ValueInfo& v) {
  return v.has_shape ? infermark::model_shape_string(v.dims, v.symbols) : "[unknown shape]";
}

namespace {

// An initializer or a Constant's value: float32 or int64 (shapes), anything else refused.
at::Tensor to_tensor(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    throw Unsupported(what + " keeps its data in an external file, which " + kRoute +
                      " does not read");
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw Error(what + " has a negative dimension");
    n *= d;
  }
  auto copy = [&](at::ScalarType type, size_t elem, const void* repeated, int64_t repeated_n) {
    at::Tensor out = at::empty(dims, at::TensorOptions().dtype(type));
    if (!t.raw_data().empty()) {
      if (t.raw_data().size() != static_cast<size_t>(n) * elem)
        throw Error(what + " has " + std::to_string(t.raw_data().size()) + " bytes of data, " +
                    std::to_string(n * static_cast<int64_t>(elem)) + " expected for " +
                    shape_string(dims));
      std::memcpy(out.data_ptr(), t.raw_data().data(), t.raw_data().size());
    } else {
      if (repeated_n != n)
        throw Error(what + " has " + std::to_string(repeated_n) + " values, " + std::to_string(n) +
                    " expected for " + shape_string(dims));
      if (n) std::memcpy(out.data_ptr(), repeated, static_cast<size_t>(n) * elem);
    }
    return out;
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      return copy(at::kFloat, sizeof(float), t.float_data().data(), t.float_data_size());
    case onnx::TensorProto::INT64:
      return copy(at::kLong, sizeof(int64_t), t.int64_data().data(), t.int64_data_size());
    default:
      throw Unsupported(what + " has ONNX data type " + std::to_string(t.data_type()) + "; " +
                        kRoute + " reads float32 and int64 tensors only");
  }
}

// Attributes of one node, by name.
class Attributes {
 public:
  explicit Attributes(const onnx::NodeProto& n) {
    for (const auto& a : n.attribute()) map_[a.name()] = &a;
  }
  bool has(const std::string& k) const { return map_.count(k) > 0; }
  int64_t i(const std::string& k, int64_t def) const {
    auto it = map_.find(k);
    return it == map_.end() ? def : it->second->i();
  }
  double f(const std::string& k, double def) const {
    auto it = map_.find(k);
    return it == map_.end() ? def : it->second->f();
  }
  std::string s(const std::string& k, const std::string& def) const {
    auto it = map_.find(k);
    return it == map_.end() ? def : it->second->s();
  }
  std::vector<int64_t> ints(const std::string& k, std::vector<int64_t> def) const {
    auto it = map_.find(k);
    if (it == map_.end()) return def;
    return {it->second->ints().begin(), it->second->ints().end()};
  }
  const onnx::AttributeProto* get(const std::string& k) const {
    auto it = map_.find(k);
    return it == map_.end() ? nullptr : it->second;
  }

 private:
  std::map<std::string, const onnx::AttributeProto*> map_;
};
class Translator {
 public:
  Translator(const onnx::GraphProto& g, int64_t opset, bool fold_batchnorm)
      : g_(g), opset_(opset), fold_(fold_batchnorm) {}

  Program translate(const std::string& input_name, const std::string& output_name) {
    for (const auto& init : g_.initializer())
      constants_[init.name()] = to_tensor(init, "initializer '" + init.name() + "'");
    for (const auto& n : g_.node())
      for (const auto& i : n.input()) ++readers_[i];
    for (const auto& o : g_.output()) ++readers_[o.name()];
    slot_of_[input_name] = 0;

    for (int idx = 0; idx < g_.node_size(); ++idx) node(g_.node(idx), idx);

    if (auto it = slot_of_.find(output_name); it != slot_of_.end()) {
      p_.output_slot = it->second;
    } else if (auto c = constants_.find(output_name); c != constants_.end()) {
      p_.output_constant = c->second;
    } else {
      throw Error("the graph's output '" + output_name + "' is produced by no node");
    }
    // Free each intermediate after its last reader (DenseNet's concatenations stay small).
    std::vector<int> last(static_cast<size_t>(p_.slots), -1);
    for (size_t i = 0; i < p_.steps.size(); ++i)
      for (const auto& o : p_.steps[i].in)
        if (o.slot >= 0) last[static_cast<size_t>(o.slot)] = static_cast<int>(i);
    for (int s = 0; s < p_.slots; ++s)
      if (last[static_cast<size_t>(s)] >= 0 && s != p_.output_slot)
        p_.steps[static_cast<size_t>(last[static_cast<size_t>(s)])].release.push_back(s);
    return std::move(p_);
  }

 private:
  [[noreturn]] void unsupported(const onnx::NodeProto& n, const std::string& why) const {
    throw Unsupported(n.op_type() + " (node " + label(n) + "): " + why + " is not supported by " +
                      kRoute);
  }
  std::string label(const onnx::NodeProto& n) const {
    if (!n.name().empty()) return n.name();
    // Appended rather than "#" + ...: GCC 12 warns of a false overlap (-Wrestrict) there.
    std::string l = "#";
    l += std::to_string(index_);
    return l;
  }

  // A data operand: a slot, or a constant.
  Operand input(const onnx::NodeProto& n, int k) const {
    if (k >= n.input_size() || n.input(k).empty())
      throw Error(n.op_type() + " (node " + label(n) + ") lacks input " + std::to_string(k));
    const std::string& name = n.input(k);
    if (auto it = slot_of_.find(name); it != slot_of_.end()) return {it->second, {}};
    if (auto it = constants_.find(name); it != constants_.end()) return {-1, it->second};
    throw Error(n.op_type() + " (node " + label(n) + ") reads '" + name +
                "', which no earlier node produces (the graph is not topologically sorted)");
  }
  // A parameter that must be constant (weights, shapes); undefined when absent and optional.
  at::Tensor constant(const onnx::NodeProto& n, int k, bool optional = false) const {
    if (k >= n.input_size() || n.input(k).empty()) {
      if (optional) return {};
      throw Error(n.op_type() + " (node " + label(n) + ") lacks input " + std::to_string(k));
    }
    auto it = constants_.find(n.input(k));
    if (it == constants_.end())
      unsupported(n, "input '" + n.input(k) + "' computed at run time (a constant is needed)");
    return it->second;
  }
  static at::Tensor as_float(const at::Tensor& t) {
    return t.scalar_type() == at::kFloat ? t : t.to(at::kFloat);
  }

  // Expects only the first output to be used.
  void single_output(const onnx::NodeProto& n) const {
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && readers_.count(n.output(k)))
        unsupported(n, "reading output " + std::to_string(k));
  }

  // 2-D spatial attributes: kernel/strides/dilations of 2 values, pads of 4.
  void spatial(const onnx::NodeProto& n, const Attributes& a, Step& s, bool has_dilations,
               const std::vector<int64_t>& kernel) {
    const std::string auto_pad = a.s("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "VALID") unsupported(n, "auto_pad " + auto_pad);
    if (kernel.size() != 2)
      unsupported(n, "a kernel of " + std::to_string(kernel.size()) + " dimensions");
    s.kernel = kernel;
    s.stride = a.ints("strides", {1, 1});
    s.dilation = has_dilations ? a.ints("dilations", {1, 1}) : std::vector<int64_t>{1, 1};
    std::vector<int64_t> pads =
        auto_pad == "VALID" ? std::vector<int64_t>{0, 0, 0, 0} : a.ints("pads", {0, 0, 0, 0});
    if (s.stride.size() != 2 || s.dilation.size() != 2 || pads.size() != 4)
      unsupported(n, "strides, dilations or pads not of 2-D size");
    // ONNX: [top, left, bottom, right]; PyTorch pads symmetrically.
    if (pads[0] == pads[2] && pads[1] == pads[3]) {
      s.pad = {pads[0], pads[1]};
    } else {
      s.pad = {0, 0};
      s.pre_pad = {pads[1], pads[3], pads[0], pads[2]};  // left, right, top, bottom
    }
  }

  int new_slot(const std::string& name) {
    const int slot = p_.slots++;
    slot_of_[name] = slot;
    return slot;
  }

  void emit(Step s, const onnx::NodeProto& n) {
    s.node = label(n);
    s.op_type = n.op_type();
    single_output(n);
    const std::string& out = n.output(0);
    const bool all_constant =
        std::all_of(s.in.begin(), s.in.end(), [](const Operand& o) { return o.slot < 0; });
    if (all_constant) {  // a constant subgraph: evaluated now
      std::vector<at::Tensor> none;
      constants_[out] = execute(s, none);
      return;
    }
    s.out = new_slot(out);
    s.produces = out;
    ++p_.operators[n.op_type()];
    p_.steps.push_back(std::move(s));
  }

  // The step that last wrote the slot, if the previous step did and nothing else reads it.
  Step* foldable_conv(const std::string& name) {
    auto it = slot_of_.find(name);
    if (it == slot_of_.end() || p_.steps.empty()) return nullptr;
    Step& last = p_.steps.back();
    if (last.op != Op::kConv || last.out != it->second || last.produces != name) return nullptr;
    auto r = readers_.find(name);
    if (r == readers_.end() || r->second != 1) return nullptr;
    return &last;
  }

  void node(const onnx::NodeProto& n, int idx) {
    index_ = idx;
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      throw Unsupported("operator " + n.domain() + "::" + op + " (node " + label(n) +
                        ") is not supported by " + kRoute);
    if (n.output_size() < 1 || n.output(0).empty())
      throw Error(op + " (node " + label(n) + ") has no output");
    const Attributes a(n);
    Step s;

    if (op == "Identity" || op == "Dropout") {
      if (op == "Dropout") single_output(n);
      if (op == "Dropout" && a.i("training_mode", 0) != 0) unsupported(n, "training_mode 1");
      const Operand x = input(n, 0);
      if (x.slot >= 0) {
        slot_of_[n.output(0)] = x.slot;  // an alias: no step
      } else {
        constants_[n.output(0)] = x.value;
      }
      return;
    }
    if (op == "Constant") {
      at::Tensor v;
      if (const auto* t = a.get("value")) {
        v = to_tensor(t->t(), "Constant (node " + label(n) + ")");
      } else if (const auto* t = a.get("value_float")) {
        v = at::scalar_tensor(t->f(), at::kFloat);
      } else if (const auto* t = a.get("value_floats")) {
        v = at::tensor(std::vector<float>(t->floats().begin(), t->floats().end()));
      } else if (const auto* t = a.get("value_int")) {
        v = at::scalar_tensor(static_cast<int64_t>(t->i()), at::kLong);
      } else if (const auto* t = a.get("value_ints")) {
        v = at::tensor(std::vector<int64_t>(t->ints().begin(), t->ints().end()));
      } else {
        unsupported(n, "a value that is not a tensor, float(s) or int(s)");
      }
      constants_[n.output(0)] = v;
      return;
    }

    if (op == "Conv") {
      s.op = Op::kConv;
      s.in = {input(n, 0)};
      s.weight = as_float(constant(n, 1));
      s.bias = n.input_size() > 2 ? constant(n, 2, true) : at::Tensor();
      if (s.bias.defined()) s.bias = as_float(s.bias);
      if (s.weight.dim() != 4) unsupported(n, "a convolution that is not 2-D");
      spatial(n, a, s, true, a.ints("kernel_shape", {s.weight.size(2), s.weight.size(3)}));
      s.group = a.i("group", 1);
    } else if (op == "BatchNormalization") {
      if (a.i("training_mode", 0) != 0) unsupported(n, "training_mode 1");
      if (opset_ > 0 && opset_ < 7 && a.i("spatial", 1) != 1) unsupported(n, "spatial 0");
      s.op = Op::kBatchNorm;
      s.in = {input(n, 0)};
      s.weight = as_float(constant(n, 1));
      s.bias = as_float(constant(n, 2));
      s.mean = as_float(constant(n, 3));
      s.var = as_float(constant(n, 4));
      s.eps = a.f("epsilon", 1e-5);
      if (fold_) {
        if (Step* conv = foldable_conv(n.input(0))) {
          single_output(n);
          fold(*conv, s);
          slot_of_[n.output(0)] = conv->out;
          ++p_.batchnorms_folded;
          return;
        }
      }
    } else if (op == "Relu") {
      s.op = Op::kRelu;
      s.in = {input(n, 0)};
    } else if (op == "Sigmoid") {
      s.op = Op::kSigmoid;
      s.in = {input(n, 0)};
    } else if (op == "Mul" || op == "Add") {
      s.op = op == "Mul" ? Op::kMul : Op::kAdd;
      s.in = {input(n, 0), input(n, 1)};
      for (auto& o : s.in)
        if (o.slot < 0 && o.value.scalar_type() != at::kFloat)
          unsupported(n, "a non-float32 operand");
    } else if (op == "Concat") {
      if (!a.has("axis")) throw Error("Concat (node " + label(n) + ") has no axis");
      s.op = Op::kConcat;
      s.axis = a.i("axis", 1);
      for (int k = 0; k < n.input_size(); ++k) s.in.push_back(input(n, k));
    } else if (op == "MaxPool") {
      if (a.i("storage_order", 0) != 0) unsupported(n, "storage_order 1");
      s.op = Op::kMaxPool;
      s.in = {input(n, 0)};
      spatial(n, a, s, true, a.ints("kernel_shape", {}));
      s.ceil_mode = a.i("ceil_mode", 0) != 0;
      s.pad_value = -std::numeric_limits<double>::infinity();
    } else if (op == "AveragePool") {
      s.op = Op::kAveragePool;
      s.in = {input(n, 0)};
      spatial(n, a, s, false, a.ints("kernel_shape", {}));
      if (a.has("dilations") && a.ints("dilations", {}) != std::vector<int64_t>{1, 1})
        unsupported(n, "dilations");
      if (!s.pre_pad.empty()) unsupported(n, "asymmetric pads");
      s.ceil_mode = a.i("ceil_mode", 0) != 0;
      s.count_include_pad = a.i("count_include_pad", 0) != 0;
    } else if (op == "GlobalAveragePool") {
      s.op = Op::kGlobalAveragePool;
      s.in = {input(n, 0)};
    } else if (op == "Flatten") {
      s.op = Op::kFlatten;
      s.in = {input(n, 0)};
      s.axis = a.i("axis", 1);
      if (s.axis < 0) unsupported(n, "a negative axis");
    } else if (op == "Gemm") {
      s.op = Op::kGemm;
      s.in = {input(n, 0)};
      if (a.i("transA", 0) != 0) unsupported(n, "transA 1");
      const double alpha = a.f("alpha", 1.0), beta = a.f("beta", 1.0);
      at::Tensor b = as_float(constant(n, 1));
      if (b.dim() != 2) unsupported(n, "a B that is not 2-D");
      s.weight = (a.i("transB", 0) != 0 ? b : b.t()).contiguous();
      if (alpha != 1.0) s.weight = s.weight * alpha;
      at::Tensor c = constant(n, 2, true);
      if (c.defined()) {
        c = as_float(c);
        if (c.numel() == s.weight.size(0)) {
          s.bias = c.reshape({-1}).contiguous();
        } else if (c.numel() == 1) {
          s.bias = c.reshape({1}).expand({s.weight.size(0)}).contiguous();
        } else {
          unsupported(n, "a C of shape " + shape_string(c.sizes().vec()));
        }
        if (beta != 1.0) s.bias = s.bias * beta;
      }
    } else if (op == "Reshape") {
      s.op = Op::kReshape;
      s.in = {input(n, 0)};
      const at::Tensor shape = constant(n, 1);
      if (shape.scalar_type() != at::kLong || shape.dim() != 1)
        unsupported(n, "a shape that is not int64 1-D");
      s.shape.assign(shape.data_ptr<int64_t>(), shape.data_ptr<int64_t>() + shape.numel());
      s.allow_zero = a.i("allowzero", 0) != 0;
    } else if (op == "Clip") {
      s.op = Op::kClip;
      s.in = {input(n, 0)};
      if (opset_ > 0 && opset_ < 11) {
        s.has_lo = a.has("min");
        s.has_hi = a.has("max");
        s.lo = a.f("min", 0);
        s.hi = a.f("max", 0);
      } else {
        const at::Tensor lo = constant(n, 1, true), hi = constant(n, 2, true);
        if ((lo.defined() && lo.numel() != 1) || (hi.defined() && hi.numel() != 1))
          unsupported(n, "non-scalar bounds");
        s.has_lo = lo.defined();
        s.has_hi = hi.defined();
        if (s.has_lo) s.lo = lo.to(at::kDouble).item<double>();
        if (s.has_hi) s.hi = hi.to(at::kDouble).item<double>();
      }
    } else if (op == "Pad") {
      // ONNX pads: every axis's begins, then every axis's ends; ATen's: (begin, end) pairs
      // from the last axis back.
      s.op = Op::kPad;
      s.in = {input(n, 0)};
      const std::string mode = a.s("mode", "constant");
      std::vector<int64_t> pads;
      if (opset_ > 0 && opset_ < 11) {
        pads = a.ints("pads", {});
        s.pad_value = a.f("value", 0);
      } else {
        const at::Tensor p = constant(n, 1).to(at::kLong).contiguous();
        pads.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
        const at::Tensor value = constant(n, 2, true);
        if (value.defined()) s.pad_value = value.to(at::kDouble).item<double>();
        if (n.input_size() > 3 && !n.input(3).empty()) unsupported(n, "the axes input");
      }
      const size_t rank = pads.size() / 2;
      if (pads.size() % 2 != 0 || rank == 0) unsupported(n, "pads of odd length");
      for (size_t axis = rank; axis-- > 0;) {
        s.pre_pad.push_back(pads[axis]);
        s.pre_pad.push_back(pads[axis + rank]);
      }
      if (mode == "reflect" || mode == "edge") {
        s.pad_mode = mode == "reflect" ? 1 : 2;
        // ATen's reflection and replication pads take the two spatial axes of NCHW only.
        const bool spatial_only = rank == 4 && std::all_of(s.pre_pad.begin() + 4, s.pre_pad.end(),
                                                           [](int64_t v) { return v == 0; });
        if (!spatial_only) unsupported(n, "mode " + mode + " outside the two spatial axes");
        s.pre_pad.resize(4);
      } else if (mode != "constant") {
        unsupported(n, "mode " + mode);
      }
    } else if (op == "Transpose") {
      s.op = Op::kTranspose;
      s.in = {input(n, 0)};
      s.shape = a.ints("perm", {});  // empty: the axes reversed
    } else if (op == "ReduceMean") {
      s.op = Op::kReduceMean;
      s.in = {input(n, 0)};
      s.keepdims = a.i("keepdims", 1) != 0;
      if (opset_ > 0 && opset_ < 18) {
        s.shape = a.ints("axes", {});
      } else {
        const at::Tensor axes = constant(n, 1, true);
        if (axes.defined()) {
          const at::Tensor p = axes.to(at::kLong).contiguous();
          s.shape.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
        }
        if (a.i("noop_with_empty_axes", 0) != 0) unsupported(n, "noop_with_empty_axes 1");
      }
      if (s.shape.empty()) unsupported(n, "a mean over every axis");
    } else if (op == "HardSigmoid") {
      s.op = Op::kHardSigmoid;
      s.in = {input(n, 0)};
      s.alpha = a.f("alpha", 0.2);
      s.beta = a.f("beta", 0.5);
    } else if (op == "HardSwish") {
      s.op = Op::kHardSwish;
      s.in = {input(n, 0)};
    } else {
      throw Unsupported("operator " + op + " (node " + label(n) + ") is not supported by " +
                        kRoute);
    }
    emit(std::move(s), n);
  }

  // y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta, in double, as
  // torch.nn.utils.fusion.fuse_conv_bn_weights does in the weights' precision.
  static void fold(Step& conv, const Step& bn) {
    const at::Tensor scale = bn.weight.to(at::kDouble) * at::rsqrt(bn.var.to(at::kDouble) + bn.eps);
    const at::Tensor w = conv.weight.to(at::kDouble) * scale.reshape({-1, 1, 1, 1});
    const at::Tensor b0 =
        conv.bias.defined() ? conv.bias.to(at::kDouble) : at::zeros_like(bn.mean, at::kDouble);
    const at::Tensor b = (b0 - bn.mean.to(at::kDouble)) * scale + bn.bias.to(at::kDouble);
    conv.weight = w.to(at::kFloat).contiguous();
    conv.bias = b.to(at::kFloat).contiguous();
  }

  const onnx::GraphProto& g_;
  int64_t opset_;
  bool fold_;
  int index_ = 0;
  Program p_;
  std::unordered_map<std::string, at::Tensor> constants_;
  std::unordered_map<std::string, int> slot_of_;
  std::unordered_map<std::string, int> readers_;
};

}  // namespace

Program translate(const onnx::GraphProto& g, int64_t opset, bool fold_batchnorm,
                  const std::string& input_name, const std::string& output_name) {
  return Translator(g, opset, fold_batchnorm).translate(input_name, output_name);
}

}  // namespace infermark::libtorch_detail
