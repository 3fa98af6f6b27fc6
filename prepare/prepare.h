#pragma once

// Model preparation: a stage of its own between a model file and every framework
// (docs/backends.md, "Model preparation"). It fixes what the cell fixes (the image size, the
// batch where a framework compiles one), raises the opset where a framework needs a newer
// one, and, unless turned off, folds what is constant once the input's shape is known
// (onnxsim, with every fusion pass skipped: fusing is the frameworks' job). The prepared
// file is cached; what was done is recorded in every result.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

// The preparation a cell asks for (CellSpec::preparation): "simplify" (the default) folds
// and cleans the graph; "none" keeps the file as exported, changed only where a framework
// cannot load it otherwise (an opset it needs, a batch it compiles).
inline const std::vector<std::string> kPreparations = {"simplify", "none"};

struct PrepareOptions {
  bool simplify = true;
  int64_t height = 0, width = 0;  // the input's free spatial dimensions fixed; 0: as the file
  int64_t batch = 0;              // the batch fixed; 0: kept as the file declares it
  int opset_at_least = 0;         // the default domain's opset raised to this; 0: as it is
  // Post-training static quantization, last: "" (none) or "int8", ONNX Runtime's
  // quantization tooling writing a QDQ model (per-channel int8 weights, uint8 activations,
  // MinMax ranges) that every framework declaring int8 runs. Calibrated on
  // `calibration_images` images of N(0, 1) values drawn with `calibration_seed` (the set is
  // part of the cache key); `reduce_range` (7-bit weights) where the CPU multiplies uint8 by
  // int8 without VNNI and could saturate, as ONNX Runtime advises.
  std::string quantize;
  int calibration_images = 16;
  uint64_t calibration_seed = 1;
  bool reduce_range = false;
  // Real calibration images instead: an .npy of preprocessed images [N, C, H, W]
  // (calibration_set() makes it); its content is part of the cache key.
  std::filesystem::path calibration_npy;
};

// The calibration set of a folder of images, preprocessed as the model's input, cached as
// an .npy under the cache folder (keyed by the images' contents and the preprocessing):
// sets options.calibration_npy and calibration_images. Error naming what cannot be read.
struct ImagePreprocess;
void use_calibration_images(PrepareOptions& options, const std::filesystem::path& folder,
                            const ImagePreprocess& preprocess);

// The preparation a cell's precision needs, in one place for every command: int8 quantizes
// the model (with reduce_range where the CPU has no VNNI); other precisions need nothing.
void prepare_for_precision(PrepareOptions& options, const std::string& precision);

// A model's interface as the file declares it.
struct ModelInterface {
  std::string input, output, layout, input_type;  // layout: NCHW or NHWC
  std::vector<int64_t> input_dims, output_dims;   // -1 where free
  int opset = 0;
  int64_t nodes = 0;
};

// Its implicit default constructor does not throw: clang-tidy 14 follows nlohmann::json's
// noexcept default constructor to a throw a null value never reaches (as for ModelRef).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct PreparedModel {
  std::filesystem::path file;      // what frameworks load: the original when nothing was done
  std::vector<std::string> steps;  // what was done, in order; empty: the file as given
  nlohmann::json tools;            // versions of the tools that did it
  std::string sha256;              // of the prepared file (16 hex), empty when not prepared
  ModelInterface before, after;
  bool cache_hit = false;
  double seconds = 0;  // spent preparing (0 on a cache hit)
};

nlohmann::json to_json(const PreparedModel& p);

// Options for a preparation by name (kPreparations); Error naming the value otherwise.
PrepareOptions preparation_options(const std::string& preparation);

// The prepared model, from the cache (keyed by the file's path, size and time, the options,
// the helper script and the tools' pinned versions) or made now. Throws Unsupported for a
// model outside what infermark runs (its reason on one line, naming the file), Error when the
// preparation fails.
PreparedModel prepare_model(const std::filesystem::path& model, const PrepareOptions& options);

}  // namespace infermark
