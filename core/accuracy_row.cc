#include "core/accuracy_row.h"

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/jsonl.h"

namespace infermark {
using nlohmann::json;

json to_json(const AccuracyRow& r) {
  json j = {{"schema", r.schema},           {"model", r.model},           {"images", r.images},
            {"image_files", r.image_files}, {"preprocess", r.preprocess}, {"backend", r.backend},
            {"precision", r.precision},     {"reference", r.reference},   {"status", r.status}};
  if (!r.message.empty()) j["message"] = r.message;
  if (!r.output_tail.empty()) j["output_tail"] = r.output_tail;
  if (!r.prepared.empty()) j["prepared"] = r.prepared;
  if (!r.ok()) return j;
  j["precision_in_effect"] =
      r.precision_in_effect.empty() ? json(nullptr) : json(r.precision_in_effect);
  j["top5_predictions"] = r.top5_predictions;
  if (r.top1_agreement) j["top1_agreement"] = *r.top1_agreement;
  if (r.max_rel_diff) j["max_rel_diff"] = *r.max_rel_diff;
  j["disagreements"] = r.disagreements;
  if (r.top1_accuracy) j["top1_accuracy"] = *r.top1_accuracy;
  if (r.top5_accuracy) j["top5_accuracy"] = *r.top5_accuracy;
  return j;
}

AccuracyRow accuracy_row_from_json(const json& j) {
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
      j["schema"].get<std::string>().rfind("infermark-accuracy/", 0) != 0)
    throw Error("not an infermark accuracy line");
  for (const char* key : {"backend", "precision", "status"})
    if (!j.contains(key) || !j[key].is_string())
      throw Error(std::string("no '") + key + "' string");
  if ((j.contains("images") && !converts_to<int64_t>(j["images"])) ||
      (j.contains("top5_predictions") &&
       !converts_to<std::vector<std::vector<int64_t>>>(j["top5_predictions"])))
    throw Error("a field of the wrong type (a number outside an integer's range)");
  AccuracyRow r;
  try {
    r.schema = j["schema"].get<std::string>();
    r.model = j.value("model", "");
    r.images = j.value("images", int64_t{0});
    r.image_files = j.value("image_files", std::vector<std::string>{});
    r.preprocess = j.value("preprocess", "");
    r.backend = j["backend"].get<std::string>();
    r.precision = j["precision"].get<std::string>();
    r.reference = j.value("reference", "");
    r.status = j["status"].get<std::string>();
    r.message = j.value("message", "");
    r.output_tail = j.value("output_tail", "");
    r.prepared = j.value("prepared", json::object());
    if (j.contains("precision_in_effect") && j["precision_in_effect"].is_string())
      r.precision_in_effect = j["precision_in_effect"].get<std::string>();
    r.top5_predictions = j.value("top5_predictions", std::vector<std::vector<int64_t>>{});
    const auto number = [&](const char* key) -> std::optional<double> {
      if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
      return std::nullopt;
    };
    r.top1_agreement = number("top1_agreement");
    r.max_rel_diff = number("max_rel_diff");
    r.top1_accuracy = number("top1_accuracy");
    r.top5_accuracy = number("top5_accuracy");
    r.disagreements = j.value("disagreements", std::vector<std::string>{});
  } catch (const json::exception& e) {
    throw Error(std::string("a field of the wrong type (") + e.what() + ")");
  }
  return r;
}

bool is_accuracy_file(const std::filesystem::path& file) {
  return first_line_has_schema(file, "infermark-accuracy/");
}

std::vector<AccuracyRow> read_accuracy(const std::vector<std::filesystem::path>& files) {
  return read_rows<AccuracyRow>(files, "accuracy", accuracy_row_from_json);
}

}  // namespace infermark
