#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace infermark {

inline constexpr const char* kAccuracySchema = "infermark-accuracy/1";

// One line of an accuracy file (`infermark accuracy --out`): one framework and precision on a
// set of real images, against the fp32 reference framework and, where labels were given, the
// labels. Written by verify/accuracy, read by the report and the tuner.
// NOLINTNEXTLINE(bugprone-exception-escape): as ResultRow, nlohmann's default constructor
struct AccuracyRow {
  std::string schema = kAccuracySchema;
  std::string model;
  int64_t images = 0;
  std::vector<std::string> image_files;
  std::string preprocess;
  std::string backend, precision, reference;
  // ok; unsupported (the framework refused); error; crash, timeout, oom (its process ended so).
  std::string status = "ok";
  std::string message;      // why, when not ok
  std::string output_tail;  // the end of the framework's process output, when it crashed
  nlohmann::json prepared = nlohmann::json::object();  // prepare/prepare.h to_json
  std::string precision_in_effect;                     // empty: the framework cannot say
  std::vector<std::vector<int64_t>> top5_predictions;  // per image, best first
  // Against the reference (absent when the reference itself failed).
  std::optional<double> top1_agreement, max_rel_diff;
  std::vector<std::string> disagreements;              // "FILE CLASS (reference CLASS)"
  std::optional<double> top1_accuracy, top5_accuracy;  // with labels only

  bool ok() const { return status == "ok"; }
};

nlohmann::json to_json(const AccuracyRow& r);
// Throws Error saying what is missing or of the wrong type.
AccuracyRow accuracy_row_from_json(const nlohmann::json& j);

// Whether the file's first line is an accuracy line.
bool is_accuracy_file(const std::filesystem::path& file);
// Every line of the files. Throws Error naming the file and line of one that is not an
// accuracy line.
std::vector<AccuracyRow> read_accuracy(const std::vector<std::filesystem::path>& files);

}  // namespace infermark
