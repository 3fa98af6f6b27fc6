#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/conformance_row.h"

namespace infermark {

class BackendRegistry;

// `infermark conformance`: every model of a set on every framework, each pair in a process of
// its own, against the outputs the exporter computed, one row per pair appended at once and
// resumable. A model is FILE.onnx with FILE.input.npy (its input, a batch of images) and
// FILE.expected.npy (the exporter's outputs for it) beside it, as
// scripts/conformance/export_torchvision.py writes them.
struct ConformanceOptions {
  std::vector<std::filesystem::path> models;
  std::vector<std::string> backends;
  std::map<std::string, Settings> settings;  // per backend, validated
  std::filesystem::path out;                 // appended; pairs already there are skipped
  std::string prepare = "simplify";
  double tolerance = 1e-3;  // on max |out - ref| / max |ref|
  double timeout_s = 1800;  // each pair's load and runs
  int threads = 0;
};

// The models named: FILE.onnx files, or folders whose *.onnx files (sorted) are taken; Error
// naming a path that is neither, or a model without its .input.npy or .expected.npy.
std::vector<std::filesystem::path> conformance_models(const std::vector<std::string>& paths);

// Runs the pairs not yet in options.out, with progress on stderr; returns the rows of the
// pairs run now. Stops early (the rows so far kept) on Ctrl-C, and says so.
std::vector<ConformanceRow> run_conformance(BackendRegistry& registry,
                                            const ConformanceOptions& options,
                                            bool* interrupted = nullptr);

}  // namespace infermark
