#include "cli/model_options.h"

#include <algorithm>

#include "backends/settings.h"
#include "core/error.h"
#include "core/image.h"
#include "core/onnx_io.h"

namespace infermark::cli {

void ModelArgs::add_to(CLI::App& cmd) {
  // A typo is refused when the command line is read, before any framework is loaded.
  cmd.add_option("--model", model, "Zoo model name or ONNX file")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& value) {
            try {
              zoo::check_model_source(value);
            } catch (const Error& e) {
              return std::string(e.what());
            }
            return std::string();
          },
          "MODEL"));
  cmd.add_option("--input-size", zoo.input_size, "Image side of a zoo model (default 224)");
  cmd.add_option("--width", zoo.width, "Channel width multiplier of a zoo model (default 1.0)");
  cmd.add_option("--seed", zoo.seed, "Seed of a zoo model's weights and of the input (default 1)");
  cmd.add_option("--set", sets, "Framework setting BACKEND.KEY=VALUE (repeatable)");
}

std::filesystem::path ModelArgs::file() const { return zoo::model_file(model, zoo); }

void ImageArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--images", images,
                 "Real images in: a JPEG or PNG file, or a folder of them (sorted by name)");
  cmd.add_option("--preprocess", preprocess,
                 "Image preprocessing over torchvision's ImageNet recipe, KEY=VALUE,...: "
                 "resize=256 (shorter side), crop=224 (centre), scale=0.00392157, "
                 "mean=0.485:0.456:0.406, std=0.229:0.224:0.225 (RGB order), order=rgb|bgr, "
                 "layout=nchw|nhwc");
}

std::string ImageArgs::describe() const { return preprocessing().describe(); }

ImagePreprocess ImageArgs::preprocessing() const { return parse_image_preprocess(preprocess); }

Tensor ImageArgs::load(const std::filesystem::path& model_file,
                       std::vector<std::filesystem::path>& files) const {
  const ImagePreprocess p = parse_image_preprocess(preprocess);
  files = image_files(images);
  Tensor t = load_images(files, p);
  const std::vector<int64_t> want = image_shape(model_file);
  const std::vector<int64_t> got(t.shape.begin() + 1, t.shape.end());
  if (got != want)
    throw Error("images '" + images + "' come out " + shape_string(got) + " (" + p.describe() +
                "); model '" + model_file.string() + "' takes " + shape_string(want) +
                ": set --preprocess resize=...,crop=...");
  return t;
}

int64_t parse_memory_limit(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "K" || unit == "KiB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MiB")
    scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty())
    used = 0;
  // inf, nan and sizes past what a machine holds (1 PiB) would overflow the byte count.
  if (used == 0 || !(v >= 0) || !(v * scale < 1125899906842624.0))
    throw Error("--memory-limit '" + text + "' is invalid: give bytes or a size like 512M, 4G");
  return static_cast<int64_t>(v * scale);
}

std::vector<int64_t> image_shape(const std::filesystem::path& onnx_file) {
  const onnx::ModelProto m = load_onnx(onnx_file);
  std::vector<std::string> initializers;
  for (const auto& t : m.graph().initializer()) initializers.push_back(t.name());
  for (const auto& in : m.graph().input()) {
    if (std::find(initializers.begin(), initializers.end(), in.name()) != initializers.end())
      continue;
    const auto& dims = in.type().tensor_type().shape().dim();
    if (dims.size() != 4) break;
    std::vector<int64_t> chw;
    for (int i = 1; i < 4; ++i) {
      if (!dims[i].has_dim_value())
        throw Error("model '" + onnx_file.string() + "' input '" + in.name() +
                    "' has a symbolic image dimension; give an input file (--input)");
      chw.push_back(dims[i].dim_value());
    }
    return chw;
  }
  throw Error("model '" + onnx_file.string() + "' has no image-like input (a rank-4 tensor, NCHW)");
}

std::vector<std::string> backends_named(BackendRegistry& registry, const std::string& text) {
  if (text != "all") return split_list(text);
  std::vector<std::string> names;
  for (const auto& b : registry.list())
    if (b.available) names.push_back(b.name);
  return names;
}

Settings settings_for(BackendRegistry& registry, const std::string& backend,
                      const std::vector<std::string>& sets,
                      const std::vector<std::string>& backends) {
  Settings given;
  for (const auto& text : sets) {
    const SettingAssignment a = parse_assignment(text);
    if (std::find(backends.begin(), backends.end(), a.backend) == backends.end())
      throw Error("--set '" + text + "' names backend '" + a.backend +
                  "', which this command does not run");
    if (a.backend == backend) given[a.key] = a.value;
  }
  return validate_settings(registry.info(backend), given);
}

}  // namespace infermark::cli
