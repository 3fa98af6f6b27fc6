#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace infermark {

inline constexpr const char* kConformanceSchema = "infermark-conformance/1";

// One line of a conformance file (`infermark conformance --out`): one model file on one
// framework, in a process of its own, against the outputs its exporter computed.
// NOLINTNEXTLINE(bugprone-exception-escape): as ResultRow, nlohmann's default constructor
struct ConformanceRow {
  std::string schema = kConformanceSchema;
  std::string model;  // the file's stem: "convnext_tiny"
  std::string file;   // as given
  int opset = 0;      // the default domain's, as exported
  std::string backend;
  // runs, wrong (beyond tolerance, another shape, NaN), refused (the framework says it cannot:
  // operator and form), error, crashed (with its signal), timeout, oom.
  std::string verdict;
  std::string reason;
  std::optional<double> max_rel, top1;  // when it ran
  double tolerance = 0;
  double load_ms = 0;
  std::string prepared;  // what preparation did
  double wall_s = 0;
  std::string time_utc;
  std::string output_tail;  // the end of the framework's output, when its process failed
};

nlohmann::json to_json(const ConformanceRow& r);
// Throws Error saying what is missing.
ConformanceRow conformance_row_from_json(const nlohmann::json& j);

bool is_conformance_file(const std::filesystem::path& file);
// Every line of the files (a torn last line left out with a warning). Throws Error naming the
// file and line of one that is not a conformance line.
std::vector<ConformanceRow> read_conformance(const std::vector<std::filesystem::path>& files);

}  // namespace infermark
