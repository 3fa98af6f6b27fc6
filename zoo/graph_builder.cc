#include "zoo/graph_builder.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.h"
#include "core/hash.h"
#include "infermark/version.h"

namespace infermark::zoo {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256**: fast, and the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [-1, 1).
  double symmetric() { return static_cast<double>(next() >> 11) * 0x1.0p-52 - 1.0; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// E[f(X)] and Var[f(X)] for X ~ N(mean, var), by quadrature over +-8 standard deviations.
void gaussian_moments(double (*f)(double), double mean, double var, double* out_mean,
                      double* out_var) {
  const double sd = std::sqrt(std::max(var, 0.0));
  if (sd < 1e-12) {
    *out_mean = f(mean);
    *out_var = 0;
    return;
  }
  constexpr int kSteps = 320;
  constexpr double kRange = 8.0;
  double m1 = 0, m2 = 0, wsum = 0;
  for (int i = 0; i <= kSteps; ++i) {
    const double z = -kRange + 2 * kRange * i / kSteps;
    const double w = std::exp(-0.5 * z * z) * ((i == 0 || i == kSteps) ? 0.5 : 1.0);
    const double y = f(mean + sd * z);
    m1 += w * y;
    m2 += w * y * y;
    wsum += w;
  }
  *out_mean = m1 / wsum;
  *out_var = std::max(m2 / wsum - *out_mean * *out_mean, 0.0);
}

double relu_f(double x) { return x > 0 ? x : 0; }
double sigmoid_f(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double silu_f(double x) { return x * sigmoid_f(x); }

constexpr double kBiasScale = 0.1;  // biases: small, zero-mean
}  // namespace

GraphBuilder::GraphBuilder(std::string model_name, uint64_t seed)
    : model_name_(std::move(model_name)), seed_(seed) {
  model_.set_ir_version(8);
  model_.set_producer_name("infermark");
  model_.set_producer_version(kVersion);
  auto* opset = model_.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  model_.mutable_graph()->set_name(model_name_);
}

const GraphBuilder::Value& GraphBuilder::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw std::logic_error("zoo builder: unknown tensor '" + name + "'");
  return it->second;
}

std::string GraphBuilder::fresh(const std::string& op) {
  return op + "_" + std::to_string(counters_[op]++);
}

onnx::NodeProto* GraphBuilder::node(const std::string& op, const std::vector<std::string>& inputs,
                                    const std::string& output) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(output);
  for (const auto& in : inputs) n->add_input(in);
  n->add_output(output);
  return n;
}

float* GraphBuilder::add_initializer(const std::string& name, const std::vector<int64_t>& dims) {
  auto* t = model_.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  std::string* raw = t->mutable_raw_data();
  raw->resize(static_cast<size_t>(n) * sizeof(float));  // x86-64 and aarch64: little-endian
  return reinterpret_cast<float*>(raw->data());
}

void GraphBuilder::fill_uniform(float* data, int64_t n, double stddev, const std::string& name) {
  Rng rng(seed_ ^ fnv1a(model_name_ + "/" + name));
  const double a = stddev * std::sqrt(3.0);
  for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(a * rng.symmetric());
}

namespace {
void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void set_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
}  // namespace

std::string GraphBuilder::input(int64_t channels, int64_t size) {
  auto* in = model_.mutable_graph()->add_input();
  in->set_name("input");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  shape->add_dim()->set_dim_param("batch");
  for (int64_t d : {channels, size, size}) shape->add_dim()->set_dim_value(d);
  values_["input"] =
      Value{channels, size, std::vector<double>(channels, 0.0), std::vector<double>(channels, 1.0)};
  return "input";
}

std::string GraphBuilder::conv(const std::string& x, const std::string& prefix,
                               int64_t out_channels, int64_t kernel, int64_t stride, int64_t pad,
                               int64_t groups, bool bias) {
  const Value in = value(x);
  const int64_t in_per_group = in.channels / groups;
  const int64_t out_per_group = out_channels / groups;
  const int64_t taps = in_per_group * kernel * kernel;

  double second = 0;  // mean second moment of the input channels
  for (int64_t c = 0; c < in.channels; ++c) second += in.var[c] + in.mean[c] * in.mean[c];
  second /= static_cast<double>(in.channels);
  const double stddev = 1.0 / std::sqrt(static_cast<double>(taps) * std::max(second, 1e-12));

  const std::string wname = prefix + ".weight";
  float* w = add_initializer(wname, {out_channels, in_per_group, kernel, kernel});
  fill_uniform(w, out_channels * taps, stddev, wname);
  std::vector<std::string> inputs = {x, wname};
  float* b = nullptr;
  if (bias) {
    const std::string bname = prefix + ".bias";
    b = add_initializer(bname, {out_channels});
    fill_uniform(b, out_channels, kBiasScale, bname);
    inputs.push_back(bname);
  }

  Value out;
  out.channels = out_channels;
  out.size = (in.size + 2 * pad - kernel) / stride + 1;
  out.mean.assign(out_channels, 0.0);
  out.var.assign(out_channels, 0.0);
  const int64_t k2 = kernel * kernel;
  for (int64_t oc = 0; oc < out_channels; ++oc) {
    const int64_t first_in = (oc / out_per_group) * in_per_group;
    const float* wc = w + oc * taps;
    double m = b ? b[oc] : 0.0, v = 0;
    for (int64_t ic = 0; ic < in_per_group; ++ic)
      for (int64_t t = 0; t < k2; ++t) {
        const double wt = wc[ic * k2 + t];
        m += wt * in.mean[first_in + ic];
        v += wt * wt * in.var[first_in + ic];
      }
    out.mean[oc] = m;
    out.var[oc] = v;
  }

  const std::string& y = prefix;  // the output is named after the layer
  auto* n = node("Conv", inputs, y);
  set_ints(n, "kernel_shape", {kernel, kernel});
  set_ints(n, "strides", {stride, stride});
  set_ints(n, "pads", {pad, pad, pad, pad});
  set_ints(n, "dilations", {1, 1});
  set_int(n, "group", groups);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::batch_norm(const std::string& x, const std::string& prefix, double eps) {
  const Value in = value(x);
  const int64_t c = in.channels;
  const std::string names[4] = {prefix + ".weight", prefix + ".bias", prefix + ".running_mean",
                                prefix + ".running_var"};
  float* gamma = add_initializer(names[0], {c});
  float* beta = add_initializer(names[1], {c});
  float* mean = add_initializer(names[2], {c});
  float* var = add_initializer(names[3], {c});
  // Trained-looking affine parameters: scale around 1, shift around 0.
  fill_uniform(gamma, c, 0.1, names[0]);
  fill_uniform(beta, c, 0.1, names[1]);
  Value out = in;
  for (int64_t i = 0; i < c; ++i) {
    gamma[i] += 1.0f;
    mean[i] = static_cast<float>(in.mean[i]);
    var[i] = static_cast<float>(std::max(in.var[i], 1e-6));
    out.mean[i] = beta[i];
    out.var[i] = gamma[i] * gamma[i] * in.var[i] / (var[i] + eps);
  }
  const std::string& y = prefix;  // the output is named after the layer
  auto* n = node("BatchNormalization", {x, names[0], names[1], names[2], names[3]}, y);
  set_float(n, "epsilon", static_cast<float>(eps));
  set_float(n, "momentum", 0.9f);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::unary(const std::string& x, const std::string& op, double (*f)(double)) {
  Value out = value(x);
  for (size_t i = 0; i < out.mean.size(); ++i)
    gaussian_moments(f, out.mean[i], out.var[i], &out.mean[i], &out.var[i]);
  std::string y = fresh(op);
  node(op, {x}, y);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::relu(const std::string& x) { return unary(x, "Relu", relu_f); }
std::string GraphBuilder::sigmoid(const std::string& x) { return unary(x, "Sigmoid", sigmoid_f); }

std::string GraphBuilder::silu(const std::string& x) {
  const std::string s = sigmoid(x);
  Value out = value(x);  // x and sigmoid(x) are not independent: take SiLU's moments directly
  for (size_t i = 0; i < out.mean.size(); ++i)
    gaussian_moments(silu_f, out.mean[i], out.var[i], &out.mean[i], &out.var[i]);
  std::string y = fresh("Mul");
  node("Mul", {x, s}, y);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::max_pool(const std::string& x, int64_t kernel, int64_t stride,
                                   int64_t pad) {
  Value out = value(x);
  out.size = (out.size + 2 * pad - kernel) / stride + 1;
  // The maximum of correlated neighbours: its mean rises by about half a standard
  // deviation; its spread is kept (an upper bound, as for the average pool).
  for (size_t i = 0; i < out.mean.size(); ++i) out.mean[i] += 0.5 * std::sqrt(out.var[i]);
  std::string y = fresh("MaxPool");
  auto* n = node("MaxPool", {x}, y);
  set_ints(n, "kernel_shape", {kernel, kernel});
  set_ints(n, "strides", {stride, stride});
  set_ints(n, "pads", {pad, pad, pad, pad});
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::avg_pool(const std::string& x, int64_t kernel, int64_t stride) {
  Value out = value(x);
  out.size = (out.size - kernel) / stride + 1;
  // Neighbouring activations are strongly correlated: assume the variance survives
  // averaging (an upper bound, so that later layers never grow from an underestimate).
  std::string y = fresh("AveragePool");
  auto* n = node("AveragePool", {x}, y);
  set_ints(n, "kernel_shape", {kernel, kernel});
  set_ints(n, "strides", {stride, stride});
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::global_avg_pool(const std::string& x) {
  Value out = value(x);
  out.size = 1;
  for (auto& v : out.var) v *= 0.25;  // what differs between images survives; noise averages out
  std::string y = fresh("GlobalAveragePool");
  node("GlobalAveragePool", {x}, y);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::flatten(const std::string& x) {
  const Value& in = value(x);
  Value out;
  const int64_t per_channel = in.size * in.size;
  out.channels = in.channels * per_channel;
  out.size = 0;
  for (int64_t c = 0; c < in.channels; ++c) {
    out.mean.insert(out.mean.end(), per_channel, in.mean[c]);
    out.var.insert(out.var.end(), per_channel, in.var[c]);
  }
  std::string y = fresh("Flatten");
  auto* n = node("Flatten", {x}, y);
  set_int(n, "axis", 1);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::linear(const std::string& x, const std::string& prefix,
                                 int64_t out_features) {
  const Value in = value(x);
  const int64_t k = in.channels;
  double second = 0;
  for (int64_t i = 0; i < k; ++i) second += in.var[i] + in.mean[i] * in.mean[i];
  second /= static_cast<double>(k);
  const double stddev = 1.0 / std::sqrt(static_cast<double>(k) * std::max(second, 1e-12));
  const std::string wname = prefix + ".weight", bname = prefix + ".bias";
  float* w = add_initializer(wname, {out_features, k});
  fill_uniform(w, out_features * k, stddev, wname);
  float* b = add_initializer(bname, {out_features});
  fill_uniform(b, out_features, kBiasScale, bname);
  Value out;
  out.channels = out_features;
  out.mean.assign(out_features, 0.0);
  out.var.assign(out_features, 0.0);
  for (int64_t o = 0; o < out_features; ++o) {
    double m = b[o], v = 0;
    const float* row = w + o * k;
    for (int64_t i = 0; i < k; ++i) {
      m += row[i] * in.mean[i];
      v += static_cast<double>(row[i]) * row[i] * in.var[i];
    }
    out.mean[o] = m;
    out.var[o] = v;
  }
  const std::string& y = prefix;  // the output is named after the layer
  auto* n = node("Gemm", {x, wname, bname}, y);
  set_int(n, "transB", 1);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::add(const std::string& a, const std::string& b) {
  const Value &va = value(a), &vb = value(b);
  Value out = va;
  for (size_t i = 0; i < out.mean.size(); ++i) {
    out.mean[i] += vb.mean[i];
    // Branches of a residual block see the same input and are positively correlated:
    // assume fully so (sd adds), which bounds the variance from above.
    out.var[i] = std::pow(std::sqrt(out.var[i]) + std::sqrt(vb.var[i]), 2);
  }
  std::string y = fresh("Add");
  node("Add", {a, b}, y);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::mul(const std::string& a, const std::string& b) {
  const Value &va = value(a), &vb = value(b);
  Value out = va;  // b may be [C, 1, 1] broadcast over a's map: per channel moments match
  for (size_t i = 0; i < out.mean.size(); ++i) {
    const double sa = va.var[i] + va.mean[i] * va.mean[i];
    const double sb = vb.var[i] + vb.mean[i] * vb.mean[i];
    out.mean[i] = va.mean[i] * vb.mean[i];
    out.var[i] = std::max(sa * sb - out.mean[i] * out.mean[i], 0.0);
  }
  std::string y = fresh("Mul");
  node("Mul", {a, b}, y);
  values_[y] = std::move(out);
  return y;
}

std::string GraphBuilder::concat(const std::vector<std::string>& xs) {
  Value out;
  out.size = value(xs.front()).size;
  for (const auto& x : xs) {
    const Value& v = value(x);
    out.channels += v.channels;
    out.mean.insert(out.mean.end(), v.mean.begin(), v.mean.end());
    out.var.insert(out.var.end(), v.var.begin(), v.var.end());
  }
  std::string y = fresh("Concat");
  auto* n = node("Concat", xs, y);
  set_int(n, "axis", 1);
  values_[y] = std::move(out);
  return y;
}

onnx::ModelProto GraphBuilder::finish(const std::string& output) {
  const Value& v = value(output);
  const std::string name = "logits";
  for (auto& n : *model_.mutable_graph()->mutable_node())
    for (auto& o : *n.mutable_output())
      if (o == output) o = name;
  auto* out = model_.mutable_graph()->add_output();
  out->set_name(name);
  auto* tt = out->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  tt->mutable_shape()->add_dim()->set_dim_value(v.channels);
  return std::move(model_);
}

}  // namespace infermark::zoo
