// ResNet50 as torchvision's resnet50 (v1.5: the stride sits on the 3x3 convolution).
#include "zoo/graph_builder.h"
#include "zoo/zoo.h"

namespace infermark::zoo {

onnx::ModelProto build_resnet50(const Options& o) {
  constexpr int kExpansion = 4;
  const int blocks[] = {3, 4, 6, 3};
  const int planes_base[] = {64, 128, 256, 512};
  GraphBuilder b("resnet50", o.seed);
  std::string x = b.input(3, o.input_size);
  x = b.relu(b.batch_norm(b.conv(x, "conv1", scaled_channels(64, o.width), 7, 2, 3), "bn1"));
  x = b.max_pool(x, 3, 2, 1);
  // Each node's name is built once: clang-tidy takes `y = op(y, p + ".x")` for a string that
  // grows in the loop.
  // NOLINTBEGIN(performance-inefficient-string-concatenation)
  for (int layer = 0; layer < 4; ++layer) {
    const int64_t planes = scaled_channels(planes_base[layer], o.width);
    for (int block = 0; block < blocks[layer]; ++block) {
      const std::string p = "layer" + std::to_string(layer + 1) + "." + std::to_string(block);
      const int64_t stride = (block == 0 && layer > 0) ? 2 : 1;
      std::string y = b.relu(b.batch_norm(b.conv(x, p + ".conv1", planes, 1, 1, 0), p + ".bn1"));
      y = b.relu(b.batch_norm(b.conv(y, p + ".conv2", planes, 3, stride, 1), p + ".bn2"));
      y = b.batch_norm(b.conv(y, p + ".conv3", planes * kExpansion, 1, 1, 0), p + ".bn3");
      std::string shortcut = x;
      if (stride != 1 || b.channels(x) != planes * kExpansion) {
        shortcut = b.batch_norm(b.conv(x, p + ".downsample.0", planes * kExpansion, 1, stride, 0),
                                p + ".downsample.1");
      }
      x = b.relu(b.add(y, shortcut));
    }
  }
  // NOLINTEND(performance-inefficient-string-concatenation)
  x = b.flatten(b.global_avg_pool(x));
  x = b.linear(x, "fc", 1000);
  return b.finish(x);
}

}  // namespace infermark::zoo
