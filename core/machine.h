#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace infermark {

// The machine as a result file records it.
struct Machine {
  std::string cpu_model;
  int logical_cores = 0;  // online CPUs
  int cores_used = 0;     // CPUs this process may run on (affinity mask)
  double cpu_mhz = 0;     // nominal or current clock as the kernel reports it
  std::map<std::string, bool> isa;  // features that matter for inference
  int64_t memory_bytes = 0;
  std::string os;
  std::string kernel;
  std::string compiler;
  std::string tool_version;
  std::string git_revision;
  double peak_fp32_flops = 0;  // estimate, see peak_formula
  std::string peak_formula;
};

// Reads /proc and /sys. Missing facts stay empty or zero; never throws.
Machine read_machine();

// Peak FP32 FLOP/s: cores x clock x SIMD lanes x 2 (fused multiply-add) x FMA units.
// Returns the value and writes the formula with the numbers used.
double estimate_peak_fp32(int cores, double mhz, const std::map<std::string, bool>& isa,
                          std::string* formula);

nlohmann::json to_json(const Machine& m);
std::string format_machine(const Machine& m);

}  // namespace infermark
