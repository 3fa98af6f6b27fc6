#include "core/explain_row.h"

#include <algorithm>

#include "core/error.h"
#include "core/jsonl.h"

namespace infermark {
using nlohmann::json;

json to_json(const ExplainReport& report, const FrameworkExplain& f) {
  json nodes = json::array();
  for (const auto& n : f.nodes)
    nodes.push_back({{"node", n.node},
                     {"op_type", n.op_type},
                     {"class", n.cls},
                     {"ms", n.ms},
                     {"flops", n.flops},
                     {"bytes", n.bytes},
                     {"kernels", n.kernels}});
  return {{"schema", kExplainSchema},
          {"model", report.model},
          {"backend", f.backend},
          {"batch", report.batch},
          {"precision", report.precision},
          {"peak_flops", report.limits.peak_flops},
          {"peak_what", report.limits.peak_what},
          {"bandwidth_bytes_s", report.limits.bandwidth_bytes_s},
          {"status", f.status},
          {"reason", f.reason},
          {"profiler", f.profiler},
          {"prepared", f.prepared},
          {"costs_note", f.costs_note},
          {"runs", f.runs},
          {"latency_ms", f.latency_ms},
          {"latency_low_ms", f.latency_low_ms},
          {"latency_high_ms", f.latency_high_ms},
          {"profiled_ms", f.profiled_ms},
          {"kernel_ms", f.kernel_ms},
          {"overhead_ms", f.overhead_ms},
          {"kernels", f.kernels},
          {"unmapped", f.unmapped},
          {"classes", f.classes},
          {"nodes", nodes},
          {"settings_in_effect",
           f.settings_in_effect.is_null() ? json::object() : f.settings_in_effect}};
}

FrameworkExplain explain_from_json(const json& j, ExplainReport* report) {
  if (!j.is_object() || !j.contains("schema") || !j["schema"].is_string() ||
      j["schema"].get<std::string>() != kExplainSchema)
    throw Error(std::string("not an explain line (schema ") + kExplainSchema + ")");
  for (const char* key : {"batch", "runs", "kernels", "unmapped"})
    if (j.contains(key) && !converts_to<int64_t>(j[key]))
      throw Error(std::string("a field of the wrong type ('") + key +
                  "' outside an integer's range)");
  FrameworkExplain f;
  try {
    if (report) {
      report->model = j.at("model").get<std::string>();
      report->batch = j.value("batch", int64_t{1});
      report->precision = j.value("precision", "fp32");
      report->limits.peak_flops = j.value("peak_flops", 0.0);
      report->limits.peak_what = j.value("peak_what", "");
      report->limits.bandwidth_bytes_s = j.value("bandwidth_bytes_s", 0.0);
    }
    f.backend = j.at("backend").get<std::string>();
    f.status = j.at("status").get<std::string>();
    f.reason = j.value("reason", "");
    f.profiler = j.value("profiler", "");
    f.prepared = j.value("prepared", std::vector<std::string>{});
    f.costs_note = j.value("costs_note", "");
    f.runs = j.value("runs", int64_t{0});
    f.latency_ms = j.value("latency_ms", 0.0);
    f.latency_low_ms = j.value("latency_low_ms", 0.0);
    f.latency_high_ms = j.value("latency_high_ms", 0.0);
    f.profiled_ms = j.value("profiled_ms", 0.0);
    f.kernel_ms = j.value("kernel_ms", 0.0);
    f.overhead_ms = j.value("overhead_ms", 0.0);
    f.kernels = j.value("kernels", int64_t{0});
    f.unmapped = j.value("unmapped", int64_t{0});
    f.classes = j.value("classes", std::map<std::string, double>{});
    for (const auto& n : j.value("nodes", json::array())) {
      NodeTime t;
      t.node = n.at("node").get<std::string>();
      t.op_type = n.value("op_type", "");
      t.cls = n.value("class", "other");
      t.ms = n.at("ms").get<double>();
      t.flops = n.value("flops", 0.0);
      t.bytes = n.value("bytes", 0.0);
      t.kernels = n.value("kernels", std::vector<std::string>{});
      f.nodes.push_back(std::move(t));
    }
    f.settings_in_effect = j.value("settings_in_effect", json::object());
  } catch (const json::exception& e) {
    throw Error(std::string("a field missing or of the wrong type (") + e.what() + ")");
  }
  return f;
}

bool is_explain_file(const std::filesystem::path& file) {
  return first_line_has_schema(file, "infermark-explain/");
}

std::vector<ExplainReport> read_explain(const std::vector<std::filesystem::path>& files) {
  struct Line {
    ExplainReport report;  // its model, batch, precision and limits
    FrameworkExplain framework;
  };
  const std::vector<Line> lines = read_rows<Line>(files, "explain", [](const json& j) {
    Line l;
    l.framework = explain_from_json(j, &l.report);
    return l;
  });
  std::vector<ExplainReport> reports;
  for (const auto& l : lines) {
    auto same = [&](const ExplainReport& r) {
      return r.model == l.report.model && r.batch == l.report.batch &&
             r.precision == l.report.precision;
    };
    auto it = std::find_if(reports.begin(), reports.end(), same);
    if (it == reports.end()) it = reports.insert(reports.end(), l.report);
    it->limits = l.report.limits;  // the latest line's measurement
    auto& fs = it->frameworks;
    const auto old = std::find_if(fs.begin(), fs.end(), [&](const FrameworkExplain& f) {
      return f.backend == l.framework.backend;
    });
    if (old != fs.end())
      *old = l.framework;
    else
      fs.push_back(l.framework);
  }
  return reports;
}

}  // namespace infermark
