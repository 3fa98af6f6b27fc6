#include "backends/openvino/profile.h"

#include <sstream>
#include <vector>

namespace infermark {

void OpenVinoProfile::after_run(const ov::InferRequest& request) {
  if (++runs_ <= skip_) return;
  for (const auto& info : request.get_profiling_info()) {
    if (info.status != ov::ProfilingInfo::Status::EXECUTED) continue;
    Sum& s = sums_[info.node_name];
    s.type = info.node_type;
    s.exec_type = info.exec_type;
    s.ms += static_cast<double>(info.real_time.count()) / 1000.0;
    ++s.calls;
  }
}

KernelProfile OpenVinoProfile::take(const ov::CompiledModel& compiled) const {
  // The runtime graph's nodes: which original nodes each holds.
  std::map<std::string, std::vector<std::string>> original;
  try {
    for (const auto& op : compiled.get_runtime_model()->get_ordered_ops()) {
      const auto& rt = op->get_rt_info();
      const auto it = rt.find("originalLayersNames");
      if (it == rt.end()) continue;
      std::vector<std::string> names;
      std::stringstream list(it->second.as<std::string>());
      for (std::string name; std::getline(list, name, ',');)
        if (!name.empty()) names.push_back(name);
      original[op->get_friendly_name()] = std::move(names);
    }
  } catch (const std::exception&) {
    // No runtime graph: the counters' own names are matched instead.
  }
  KernelProfile p;
  p.profiler = "OpenVINO's performance counters (ov::enable_profiling)";
  p.runs = std::max<int64_t>(0, runs_ - skip_);
  for (const auto& [name, s] : sums_) {
    KernelTime k;
    k.name = name;
    k.kind = s.type + (s.exec_type.empty() ? "" : " (" + s.exec_type + ")");
    if (const auto it = original.find(name); it != original.end()) k.nodes = it->second;
    k.ms = s.ms;
    k.calls = s.calls;
    p.kernels.push_back(std::move(k));
  }
  return p;
}

}  // namespace infermark
