#include "core/conformance_row.h"

#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/jsonl.h"

namespace infermark {
using nlohmann::json;

json to_json(const ConformanceRow& r) {
  json j = {{"schema", r.schema},     {"model", r.model},         {"file", r.file},
            {"opset", r.opset},       {"backend", r.backend},     {"verdict", r.verdict},
            {"reason", r.reason},     {"tolerance", r.tolerance}, {"load_ms", r.load_ms},
            {"prepared", r.prepared}, {"wall_s", r.wall_s},       {"time_utc", r.time_utc}};
  if (r.max_rel) j["max_rel"] = *r.max_rel;
  if (r.top1) j["top1"] = *r.top1;
  if (!r.output_tail.empty()) j["output_tail"] = r.output_tail;
  return j;
}

ConformanceRow conformance_row_from_json(const json& j) {
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
      j["schema"].get<std::string>().rfind("infermark-conformance/", 0) != 0)
    throw Error("not an infermark conformance line");
  if (j.contains("opset") && !converts_to<int>(j["opset"]))
    throw Error("a field of the wrong type ('opset' outside an integer's range)");
  ConformanceRow r;
  try {
    r.schema = j.at("schema").get<std::string>();
    r.model = j.at("model").get<std::string>();
    r.file = j.value("file", "");
    r.opset = j.value("opset", 0);
    r.backend = j.at("backend").get<std::string>();
    r.verdict = j.at("verdict").get<std::string>();
    r.reason = j.value("reason", "");
    if (j.contains("max_rel") && j["max_rel"].is_number()) r.max_rel = j["max_rel"].get<double>();
    if (j.contains("top1") && j["top1"].is_number()) r.top1 = j["top1"].get<double>();
    r.tolerance = j.value("tolerance", 0.0);
    r.load_ms = j.value("load_ms", 0.0);
    r.prepared = j.value("prepared", "");
    r.wall_s = j.value("wall_s", 0.0);
    r.time_utc = j.value("time_utc", "");
    r.output_tail = j.value("output_tail", "");
  } catch (const json::exception& e) {
    throw Error(std::string("a field missing or of the wrong type (") + e.what() + ")");
  }
  return r;
}

bool is_conformance_file(const std::filesystem::path& file) {
  return first_line_has_schema(file, "infermark-conformance/");
}

std::vector<ConformanceRow> read_conformance(const std::vector<std::filesystem::path>& files) {
  return read_rows<ConformanceRow>(files, "conformance", conformance_row_from_json);
}

}  // namespace infermark
