#pragma once

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace infermark {

// A dense float32 tensor in row-major order (images are NCHW). Allocated and filled before
// any timed region; engines write outputs into a Tensor they may resize once.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  int64_t numel() const {
    return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  }
  void resize(std::vector<int64_t> new_shape) {
    shape = std::move(new_shape);
    data.resize(static_cast<size_t>(numel()));
  }
};

// A read-only window on float32 data owned elsewhere: what engines read inputs from, so
// that a batch of the first N images of a larger tensor needs no copy.
struct TensorView {
  const float* data = nullptr;
  std::vector<int64_t> shape;

  int64_t numel() const {
    return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  }
};

// The whole tensor, or its first `batch` entries along dimension 0.
inline TensorView view(const Tensor& t) { return {t.data.data(), t.shape}; }
inline TensorView view(const Tensor& t, int64_t batch) {
  TensorView v{t.data.data(), t.shape};
  v.shape[0] = batch;
  return v;
}

// "[1, 3, 224, 224]"
inline std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace infermark
