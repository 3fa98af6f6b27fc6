#include "zoo/zoo.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/onnx_io.h"
#include "infermark/version.h"

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
      {"vgg19",
       "VGG19 (torchvision vgg19): 16 conv + 3 fully connected, no jumps",
       {},
       build_vgg19},
      {"resnet50",
       "ResNet50 v1.5 (torchvision resnet50): bottlenecks, 16 residual additions",
       {},
       build_resnet50},
      {"densenet201",
       "DenseNet201 (torchvision densenet201): 98 concatenations",
       {},
       build_densenet201},
      {"efficientnet_b0",
       "EfficientNetB0 (torchvision efficientnet_b0): MBConv, SiLU, squeeze-excitation",
       {},
       build_efficientnet_b0},
      {"ensemble3",
       "VGG19 + ResNet50 + DenseNet201 in one process (the paper's memory study)",
       {"vgg19", "resnet50", "densenet201"},
       nullptr},
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
  if (!e.build) throw Error("'" + name + "' is an ensemble of several models; build its members");
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

namespace infermark::zoo {
namespace fs = std::filesystem;

fs::path default_model_cache() { return cache_root() / "models"; }

namespace {
bool is_zoo_name(const std::string& name) {
  return std::any_of(entries().begin(), entries().end(),
                     [&](const Entry& e) { return e.name == name; });
}
}  // namespace

void check_model_source(const std::string& name_or_path) {
  std::error_code ec;  // a name too long for a path is an error of its own, not an exception
  if (is_zoo_name(name_or_path) || fs::exists(name_or_path, ec)) return;
  if (ec) throw Error("model file '" + name_or_path + "' cannot be looked at: " + ec.message());
  if (name_or_path.find('/') == std::string::npos &&
      name_or_path.find(".onnx") == std::string::npos)
    find(name_or_path);  // throws: unknown model, with the known names
  throw Error("model file '" + name_or_path + "' does not exist");
}

fs::path model_file(const std::string& name_or_path, const Options& options,
                    const fs::path& cache_dir) {
  check_model_source(name_or_path);
  if (!is_zoo_name(name_or_path)) return name_or_path;
  options.validate();
  std::ostringstream key;
  key << name_or_path << "-s" << options.input_size << "-w" << options.width << "-seed"
      << options.seed << "-" << kGitRevision << ".onnx";
  fs::path file = cache_dir / key.str();
  if (!fs::exists(file)) save_onnx(build(name_or_path, options), file);
  return file;
}

}  // namespace infermark::zoo
