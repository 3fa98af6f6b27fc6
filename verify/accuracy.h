#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/accuracy_row.h"
#include "core/backend.h"
#include "core/image.h"
#include "core/tensor.h"

namespace infermark {

class BackendRegistry;

// `infermark accuracy`: real images through each framework and precision, each in a process of
// its own, against the fp32 reference framework (top-1 agreement, largest relative difference
// of the outputs) and, where labels are given, against the labels (top-1 and top-5 accuracy).
struct AccuracyOptions {
  std::filesystem::path model;            // the ONNX file
  std::string model_label;                // how the user named it (recorded as the row's model)
  Tensor images;                          // preprocessed, [N, C, H, W]
  std::vector<std::string> image_files;   // their names, in batch order
  std::string preprocess;                 // the preprocessing in words
  ImagePreprocess preprocessing;          // for calibration images
  std::map<std::string, int64_t> labels;  // image name -> class; empty: none
  std::filesystem::path calibration;      // int8: images to calibrate on; empty: seeded values
  std::vector<std::string> backends;      // the reference may be among them
  std::string reference = "onnxruntime";
  std::vector<std::string> precisions = {"fp32"};
  std::map<std::string, Settings> settings;  // per backend (the reference's too), validated
  std::string prepare = "simplify";
  int64_t batch = 8;
  int threads = 0;
  double timeout_s = 0;       // each framework's load and runs; 0: none
  std::filesystem::path out;  // appends one line per run; empty: none
};

// "FILE CLASS" (or "FILE,CLASS") per line, FILE an image's name; '#' starts a comment. Throws
// Error naming the file and line of anything else.
std::map<std::string, int64_t> read_labels(const std::filesystem::path& path);

// The rows, printed as they come (to `out`, when not null) and appended to options.out. The
// reference runs first, in fp32; a framework that fails (the reference included) is a row and
// the others still run. Throws Error for what the options get wrong before anything loads.
std::vector<AccuracyRow> run_accuracy(BackendRegistry& registry, const AccuracyOptions& options,
                                      std::FILE* out);

}  // namespace infermark
