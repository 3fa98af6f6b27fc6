#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/tensor.h"
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

// The image shape [C, H, W] of an ONNX file's input.
std::vector<int64_t> image_shape(const std::filesystem::path& onnx_file);

// The --set values for one backend, validated against its specs (defaults filled in).
// Throws Error for a --set naming a backend not in `backends`, an unknown key or bad value.
Settings settings_for(BackendRegistry& registry, const std::string& backend,
                      const std::vector<std::string>& sets,
                      const std::vector<std::string>& backends);

}  // namespace infermark::cli
