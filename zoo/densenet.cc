// DenseNet201 as torchvision's densenet201: growth 32, blocks (6, 12, 48, 32), bottleneck 4.
#include "zoo/graph_builder.h"
#include "zoo/zoo.h"

namespace infermark::zoo {

onnx::ModelProto build_densenet201(const Options& o) {
  const int block_config[] = {6, 12, 48, 32};
  const int64_t growth = scaled_channels(32, o.width);
  constexpr int64_t kBottleneck = 4;
  GraphBuilder b("densenet201", o.seed);
  std::string x = b.input(3, o.input_size);
  x = b.conv(x, "features.conv0", scaled_channels(64, o.width), 7, 2, 3);
  x = b.relu(b.batch_norm(x, "features.norm0"));
  x = b.max_pool(x, 3, 2, 1);
  // Each node's name is built once: clang-tidy takes `y = op(y, p + ".x")` for a string that
  // grows in the loop.
  // NOLINTBEGIN(performance-inefficient-string-concatenation)
  for (int i = 0; i < 4; ++i) {
    const std::string block = "features.denseblock" + std::to_string(i + 1);
    // As torchvision does: each layer reads the concatenation of all earlier features.
    std::vector<std::string> features = {x};
    for (int j = 0; j < block_config[i]; ++j) {
      const std::string p = block + ".denselayer" + std::to_string(j + 1);
      std::string y = features.size() == 1 ? features[0] : b.concat(features);
      y = b.relu(b.batch_norm(y, p + ".norm1"));
      y = b.conv(y, p + ".conv1", kBottleneck * growth, 1, 1, 0);
      y = b.relu(b.batch_norm(y, p + ".norm2"));
      y = b.conv(y, p + ".conv2", growth, 3, 1, 1);
      features.push_back(y);
    }
    x = b.concat(features);
    if (i != 3) {
      const std::string p = "features.transition" + std::to_string(i + 1);
      x = b.relu(b.batch_norm(x, p + ".norm"));
      x = b.conv(x, p + ".conv", b.channels(x) / 2, 1, 1, 0);
      x = b.avg_pool(x, 2, 2);
    }
  }
  // NOLINTEND(performance-inefficient-string-concatenation)
  x = b.relu(b.batch_norm(x, "features.norm5"));
  x = b.flatten(b.global_avg_pool(x));
  x = b.linear(x, "classifier", 1000);
  return b.finish(x);
}

}  // namespace infermark::zoo
