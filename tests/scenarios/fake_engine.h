#pragma once

// Test doubles for the scenario drivers (test folder only).

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"
#include "scenarios/clock.h"

namespace infermark::testing {

// An engine whose service time is a + b * batch seconds. With a VirtualClock it advances
// that clock instead of sleeping (exact and fast); without one it busy-waits on
// steady_clock. Output: [N, classes], out[i][j] = scale * (first input value of image i) +
// offset + j. Counts calls, batch sizes and output resizes.
class FakeEngine final : public Engine {
 public:
  FakeEngine(VirtualClock* clock, double a_s, double b_s) : clock_(clock), a_s_(a_s), b_s_(b_s) {}

  double service_s(int64_t batch) const { return a_s_ + b_s_ * static_cast<double>(batch); }

  void run(const TensorView& input, Tensor& output) override {
    const int64_t n = input.shape[0];
    ++calls;
    batch_sizes.push_back(n);
    if (output.shape.size() != 2 || output.shape[0] != n || output.shape[1] != classes) {
      output.resize({n, classes});
      ++resizes;
    }
    const int64_t per_image = input.numel() / n;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < classes; ++j)
        output.data[static_cast<size_t>(i * classes + j)] =
            scale * input.data[i * per_image] + offset + static_cast<float>(j);
    const double t = service_s(n);
    if (clock_ != nullptr) {
      clock_->advance(t);
    } else {
      const auto end = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(t));
      while (std::chrono::steady_clock::now() < end) {
      }
    }
  }
  nlohmann::json settings_in_effect() const override { return {{"engine", "fake"}}; }

  int64_t classes = 4;
  float scale = 1, offset = 0;
  int64_t calls = 0, resizes = 0;
  std::vector<int64_t> batch_sizes;

 private:
  VirtualClock* clock_;
  double a_s_, b_s_;
};

// [n, c, h, w] with image i's values all i + 1.
inline Tensor make_images(int64_t n, int64_t c = 3, int64_t h = 4, int64_t w = 4) {
  Tensor t;
  t.resize({n, c, h, w});
  const int64_t per = c * h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < per; ++k)
      t.data[static_cast<size_t>(i * per + k)] = static_cast<float>(i + 1);
  return t;
}

}  // namespace infermark::testing
