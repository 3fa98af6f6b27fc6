#include "zoo/zoo.h"

#include <cmath>
#include <sstream>

#include "core/error.h"

namespace infermark::zoo {

void Options::validate() const {
  if (!(width > 0) || width > 4 || !std::isfinite(width)) {
    std::ostringstream v;
    v << width;
    throw Error("--width " + v.str() + " is invalid: the width multiplier must be in (0, 4]");
  }
  if (input_size < 32 || input_size > 2048)
    throw Error("--input-size " + std::to_string(input_size) +
                " is invalid: the image side must be between 32 and 2048 pixels");
}

int64_t scaled_channels(int64_t channels, double width) {
  const double v = channels * width;
  int64_t r = std::max<int64_t>(8, static_cast<int64_t>(v + 4) / 8 * 8);
  if (r < 0.9 * v) r += 8;
  return r;
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"vgg19", "VGG19 (torchvision vgg19): 16 conv + 3 fully connected, no jumps", {},
       build_vgg19},
      {"resnet50", "ResNet50 v1.5 (torchvision resnet50): bottlenecks, 16 residual additions",
       {}, build_resnet50},
      {"densenet201", "DenseNet201 (torchvision densenet201): 98 concatenations", {},
       build_densenet201},
      {"efficientnet_b0",
       "EfficientNetB0 (torchvision efficientnet_b0): MBConv, SiLU, squeeze-excitation", {},
       build_efficientnet_b0},
      {"ensemble3", "VGG19 + ResNet50 + DenseNet201 in one process (the paper's memory study)",
       {"vgg19", "resnet50", "densenet201"}, nullptr},
  };
  return kEntries;
}

const Entry& find(const std::string& name) {
  std::string known;
  for (const auto& e : entries()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw Error("unknown zoo model '" + name + "' (known: " + known + ")");
}

onnx::ModelProto build(const std::string& name, const Options& options) {
  const Entry& e = find(name);
  if (!e.build)
    throw Error("'" + name + "' is an ensemble of several models; build its members");
  options.validate();
  onnx::ModelProto m = e.build(options);
  auto meta = [&](const std::string& k, const std::string& v) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  };
  std::ostringstream width;
  width << options.width;
  meta("infermark.zoo.model", name);
  meta("infermark.zoo.input_size", std::to_string(options.input_size));
  meta("infermark.zoo.width", width.str());
  meta("infermark.zoo.seed", std::to_string(options.seed));
  m.set_doc_string(e.description);
  return m;
}

}  // namespace infermark::zoo
