// EfficientNetB0 as torchvision's efficientnet_b0: MBConv blocks with SiLU and
// squeeze-excitation; stochastic depth and dropout are the identity at inference.
#include <algorithm>

#include "zoo/graph_builder.h"
#include "zoo/zoo.h"

namespace infermark::zoo {
namespace {

struct Stage {
  int expand, kernel, stride, in, out, layers;
};

}  // namespace

onnx::ModelProto build_efficientnet_b0(const Options& o) {
  const Stage stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                          {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                          {6, 3, 1, 192, 320, 1}};
  GraphBuilder b("efficientnet_b0", o.seed);
  std::string x = b.input(3, o.input_size);
  x = b.silu(b.batch_norm(b.conv(x, "features.0.0", scaled_channels(32, o.width), 3, 2, 1),
                          "features.0.1"));
  // Each node's name is built once: clang-tidy takes `y = op(y, p + ".x")` for a string that
  // grows in the loop.
  // NOLINTBEGIN(performance-inefficient-string-concatenation)
  for (int s = 0; s < 7; ++s) {
    const Stage& st = stages[s];
    for (int j = 0; j < st.layers; ++j) {
      const std::string p =
          "features." + std::to_string(s + 1) + "." + std::to_string(j) + ".block";
      const int64_t in = scaled_channels(j == 0 ? st.in : st.out, o.width);
      const int64_t out = scaled_channels(st.out, o.width);
      const int64_t expanded = scaled_channels(in * st.expand, 1.0);
      const int64_t stride = j == 0 ? st.stride : 1;
      std::string y = x;
      int part = 0;
      if (expanded != in) {
        const std::string q = p + "." + std::to_string(part++);
        y = b.silu(b.batch_norm(b.conv(y, q + ".0", expanded, 1, 1, 0), q + ".1"));
      }
      {
        const std::string q = p + "." + std::to_string(part++);
        y = b.conv(y, q + ".0", expanded, st.kernel, stride, (st.kernel - 1) / 2, expanded);
        y = b.silu(b.batch_norm(y, q + ".1"));
      }
      {
        const std::string q = p + "." + std::to_string(part++);
        const int64_t squeeze = std::max<int64_t>(1, in / 4);
        std::string s_ = b.global_avg_pool(y);
        s_ = b.silu(b.conv(s_, q + ".fc1", squeeze, 1, 1, 0, 1, /*bias=*/true));
        s_ = b.sigmoid(b.conv(s_, q + ".fc2", expanded, 1, 1, 0, 1, /*bias=*/true));
        y = b.mul(y, s_);
      }
      {
        const std::string q = p + "." + std::to_string(part++);
        y = b.batch_norm(b.conv(y, q + ".0", out, 1, 1, 0), q + ".1");
      }
      if (stride == 1 && in == out) y = b.add(y, x);
      x = y;
    }
  }
  // NOLINTEND(performance-inefficient-string-concatenation)
  const int64_t last = scaled_channels(1280, o.width);
  x = b.silu(b.batch_norm(b.conv(x, "features.8.0", last, 1, 1, 0), "features.8.1"));
  x = b.flatten(b.global_avg_pool(x));
  x = b.linear(x, "classifier.1", 1000);
  return b.finish(x);
}

}  // namespace infermark::zoo
