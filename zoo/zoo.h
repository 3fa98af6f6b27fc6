#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace infermark::zoo {

// How to build a model. At the defaults the models are exactly torchvision's.
struct Options {
  int64_t input_size = 224;  // square image side, pixels
  double width = 1.0;        // channel multiplier; 1.0 is the published network
  uint64_t seed = 1;         // weights are a pure function of (model, options, seed)

  // Throws Error naming the value and the valid range.
  void validate() const;
};

struct Entry {
  std::string name;
  std::string description;
  std::vector<std::string> members;  // an ensemble: the models it loads; empty for a model
  std::function<onnx::ModelProto(const Options&)> build;  // empty for an ensemble
};

// Every model and ensemble of the zoo, in a fixed order.
const std::vector<Entry>& entries();

// The entry of that name; throws Error listing the known names otherwise.
const Entry& find(const std::string& name);

// Builds a model (not an ensemble). Validates the options first.
onnx::ModelProto build(const std::string& name, const Options& options);

// Channel count scaled by the width multiplier, rounded to a multiple of 8 as torchvision's
// _make_divisible does (never below 8, never more than 10% under the exact value).
int64_t scaled_channels(int64_t channels, double width);

onnx::ModelProto build_vgg19(const Options& o);
onnx::ModelProto build_resnet50(const Options& o);
onnx::ModelProto build_densenet201(const Options& o);
onnx::ModelProto build_efficientnet_b0(const Options& o);

}  // namespace infermark::zoo

namespace infermark::zoo {

// Where zoo models are written for frameworks to load: $INFERMARK_CACHE_DIR/models, else
// $XDG_CACHE_HOME/infermark/models, else ~/.cache/infermark/models.
std::filesystem::path default_model_cache();

// Throws Error naming `name_or_path` when it is neither a zoo name nor an existing file (a
// typo), without building or reading anything: a command checks its models before it runs.
void check_model_source(const std::string& name_or_path);

// The ONNX file of a model given as a zoo name (written once into cache_dir, keyed by the
// name and options, and reused) or as a path to an existing file. Throws Error naming it.
std::filesystem::path model_file(const std::string& name_or_path, const Options& options,
                                 const std::filesystem::path& cache_dir = default_model_cache());

}  // namespace infermark::zoo
