#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace infermark::zoo {

// Builds an unfused NCHW float32 ONNX graph (opset 13) with deterministic weights, the way a
// training framework exports it: Conv, BatchNormalization, Relu... as separate nodes.
//
// Weights are calibrated without data: the builder propagates per-channel mean and variance
// of an N(0, 1) input through the graph (Gaussian approximation), draws each weighted layer
// so that its output has unit second moment, and sets every BatchNormalization's running
// mean and variance to the statistics of its input, as training would have left them. So
// activations stay finite and of order one through the whole depth, at any width or depth.
class GraphBuilder {
 public:
  GraphBuilder(std::string model_name, uint64_t seed);

  // The image input "input": [batch, channels, size, size], batch symbolic.
  std::string input(int64_t channels, int64_t size);

  std::string conv(const std::string& x, const std::string& prefix, int64_t out_channels,
                   int64_t kernel, int64_t stride, int64_t pad, int64_t groups = 1,
                   bool bias = false);
  std::string batch_norm(const std::string& x, const std::string& prefix, double eps = 1e-5);
  std::string relu(const std::string& x);
  std::string sigmoid(const std::string& x);
  std::string silu(const std::string& x);  // x * Sigmoid(x), as exporters write it at opset 13
  std::string max_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad);
  std::string avg_pool(const std::string& x, int64_t kernel, int64_t stride);
  std::string global_avg_pool(const std::string& x);
  std::string flatten(const std::string& x);
  std::string linear(const std::string& x, const std::string& prefix, int64_t out_features);
  std::string add(const std::string& a, const std::string& b);
  std::string mul(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs);

  int64_t channels(const std::string& x) const { return value(x).channels; }
  int64_t spatial(const std::string& x) const { return value(x).size; }

  // Names `output` "logits" ([batch, classes]) and returns the model.
  onnx::ModelProto finish(const std::string& output);

 private:
  struct Value {
    int64_t channels = 0;
    int64_t size = 0;          // height = width; 0 once flattened
    std::vector<double> mean;  // per channel (per feature once flattened)
    std::vector<double> var;
  };

  const Value& value(const std::string& name) const;
  std::string fresh(const std::string& op);
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output);
  float* add_initializer(const std::string& name, const std::vector<int64_t>& dims);
  void fill_uniform(float* data, int64_t n, double stddev, const std::string& name);
  std::string unary(const std::string& x, const std::string& op, double (*f)(double));

  std::string model_name_;
  uint64_t seed_;
  onnx::ModelProto model_;
  std::unordered_map<std::string, Value> values_;
  std::unordered_map<std::string, int> counters_;
};

}  // namespace infermark::zoo
