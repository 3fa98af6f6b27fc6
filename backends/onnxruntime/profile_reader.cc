#include "backends/onnxruntime/profile_reader.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace infermark {

KernelProfile read_ort_profile(const std::filesystem::path& file, int64_t skip_runs) {
  using nlohmann::json;
  std::ifstream in(file);
  const json events = in ? json::parse(in, nullptr, false) : json();
  if (!events.is_array())
    throw Error("onnxruntime: the profile " + file.string() + " is not a JSON array of events");
  std::vector<double> run_starts;  // microseconds since the profile began
  for (const auto& e : events)
    if (e.is_object() && e.value("cat", "") == "Session" && e.value("name", "") == "model_run")
      run_starts.push_back(e.value("ts", 0.0));
  std::sort(run_starts.begin(), run_starts.end());
  KernelProfile p;
  p.profiler = "ONNX Runtime's session profiler (SessionOptions::EnableProfiling)";
  p.runs = std::max<int64_t>(0, static_cast<int64_t>(run_starts.size()) - skip_runs);
  if (p.runs == 0) return p;
  const double from = run_starts[static_cast<size_t>(skip_runs)];
  static constexpr std::string_view kSuffix = "_kernel_time";
  std::map<std::string, size_t> at;  // name -> index in p.kernels
  for (const auto& e : events) {
    if (!e.is_object() || e.value("cat", "") != "Node" || e.value("ts", 0.0) < from) continue;
    std::string name = e.value("name", "");
    if (name.size() <= kSuffix.size() ||
        name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      continue;  // the fences before and after each kernel
    name.resize(name.size() - kSuffix.size());
    auto [it, added] = at.emplace(name, p.kernels.size());
    if (added) {
      KernelTime k;
      k.name = name;
      const json args = e.value("args", json::object());
      k.kind = args.is_object() ? args.value("op_name", "") : "";
      p.kernels.push_back(std::move(k));
    }
    KernelTime& k = p.kernels[it->second];
    k.ms += e.value("dur", 0.0) / 1000.0;
    ++k.calls;
  }
  return p;
}

}  // namespace infermark
