#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/image.h"
#include "core/tensor.h"
#include "core/text.h"
#include "zoo/zoo.h"

namespace infermark::cli {

// --model NAME|FILE with the zoo's --input-size/--width/--seed, shared by the commands
// that run models.
struct ModelArgs {
  std::string model;
  zoo::Options zoo;
  std::vector<std::string> sets;  // --set backend.key=value

  void add_to(CLI::App& cmd);
  std::filesystem::path file() const;  // the ONNX file to load
};

// --images FILE|FOLDER and --preprocess, shared by the commands that run real images.
struct ImageArgs {
  std::string images;      // a JPEG/PNG file or a folder of them; empty: not given
  std::string preprocess;  // core/image.h's KEY=VALUE list over torchvision's recipe

  void add_to(CLI::App& cmd);
  bool given() const { return !images.empty(); }
  // The images as one batch for the model, checked against its input's [C, H, W]; `files`
  // receives the files in batch order.
  Tensor load(const std::filesystem::path& model_file,
              std::vector<std::filesystem::path>& files) const;
  std::string describe() const;  // the preprocessing in words
  ImagePreprocess preprocessing() const;
};

// --memory-limit: bytes, or a size like 512M, 4G (K, M, G, KiB, MiB, GiB). Throws Error naming
// the text when it is none of those.
int64_t parse_memory_limit(const std::string& text);

// The image shape [C, H, W] of an ONNX file's input.
std::vector<int64_t> image_shape(const std::filesystem::path& onnx_file);

// --backends: the frameworks named, or for "all" every one this build has available.
std::vector<std::string> backends_named(BackendRegistry& registry, const std::string& text);

// The --set values for one backend, validated against its specs (defaults filled in).
// Throws Error for a --set naming a backend not in `backends`, an unknown key or bad value.
Settings settings_for(BackendRegistry& registry, const std::string& backend,
                      const std::vector<std::string>& sets,
                      const std::vector<std::string>& backends);

}  // namespace infermark::cli
