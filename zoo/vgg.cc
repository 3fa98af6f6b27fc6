// VGG19 as torchvision's vgg19 (configuration "E", no batch normalization).
#include "zoo/graph_builder.h"
#include "zoo/zoo.h"

namespace infermark::zoo {

onnx::ModelProto build_vgg19(const Options& o) {
  constexpr int kPool = 0;
  const int cfg[] = {64,  64,  kPool, 128, 128,   kPool, 256, 256, 256, 256,  kPool,
                     512, 512, 512,   512, kPool, 512,   512, 512, 512, kPool};
  GraphBuilder b("vgg19", o.seed);
  std::string x = b.input(3, o.input_size);
  int index = 0;  // torchvision's position in `features`
  for (int c : cfg) {
    if (c == kPool) {
      x = b.max_pool(x, 2, 2, 0);
      index += 1;
    } else {
      x = b.conv(x, "features." + std::to_string(index), scaled_channels(c, o.width), 3, 1, 1, 1,
                 /*bias=*/true);
      x = b.relu(x);
      index += 2;
    }
  }
  // torchvision pools adaptively to 7x7. ONNX has no adaptive pooling: at 224 (7x7) it is
  // the identity, at multiples of 7 a plain average pool; for other sizes (small test
  // variants) the classifier takes the map as it is, so its first layer changes size.
  const int64_t side = b.spatial(x);
  if (side != 7 && side % 7 == 0) x = b.avg_pool(x, side / 7, side / 7);
  x = b.flatten(x);
  const int64_t hidden = scaled_channels(4096, o.width);
  x = b.relu(b.linear(x, "classifier.0", hidden));
  x = b.relu(b.linear(x, "classifier.3", hidden));
  x = b.linear(x, "classifier.6", 1000);
  return b.finish(x);
}

}  // namespace infermark::zoo
