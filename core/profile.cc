#include "core/profile.h"

#include <nlohmann/json.hpp>

namespace infermark {

void to_json(nlohmann::json& j, const KernelTime& k) {
  j = {{"name", k.name}, {"kind", k.kind}, {"nodes", k.nodes}, {"ms", k.ms}, {"calls", k.calls}};
}

void from_json(const nlohmann::json& j, KernelTime& k) {
  k.name = j.at("name").get<std::string>();
  k.kind = j.value("kind", "");
  k.nodes = j.value("nodes", std::vector<std::string>{});
  k.ms = j.at("ms").get<double>();
  k.calls = j.value("calls", int64_t{0});
}

void to_json(nlohmann::json& j, const KernelProfile& p) {
  j = {{"profiler", p.profiler}, {"runs", p.runs}, {"kernels", p.kernels}};
}

void from_json(const nlohmann::json& j, KernelProfile& p) {
  p.profiler = j.value("profiler", "");
  p.runs = j.at("runs").get<int64_t>();
  p.kernels = j.at("kernels").get<std::vector<KernelTime>>();
}

}  // namespace infermark
