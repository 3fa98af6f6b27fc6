#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/peak.h"

namespace infermark {

// The machine as a result file records it.
struct Machine {
  std::string cpu_model;
  int logical_cores = 0;            // online CPUs
  int cores_used = 0;               // CPUs this process may run on (affinity mask)
  double cpu_mhz = 0;               // nominal or current clock as the kernel reports it
  std::map<std::string, bool> isa;  // features that matter for inference
  int64_t memory_bytes = 0;
  std::string os;
  std::string kernel;
  std::string compiler;
  std::string tool_version;
  std::string git_revision;
  double peak_fp32_flops = 0;  // measured on the cores used (core/peak.h); 0 if not measured
  double peak_bf16_flops = 0;  // 0 where the CPU has no bf16 kernel
  double peak_int8_ops = 0;    // int8 operations per second; 0 where the CPU has no int8 kernel
  std::string peak_method;     // how the peak was measured, or "not measured: <why>"
};

// Reads /proc and /sys, and the measured peak from the cache folder, measuring it (0.6 s per
// instruction set) when this machine and affinity have none stored, or always with
// PeakCache::kRefresh. Missing facts stay empty or zero; never throws.
Machine read_machine(PeakCache peak = PeakCache::kUse);

nlohmann::json to_json(const Machine& m);
// The machine a result row records (its `env`), as hostile as the file it came from: a field
// missing or of another type is left at its default, never an exception.
Machine machine_from_json(const nlohmann::json& j);
std::string format_machine(const Machine& m);

}  // namespace infermark
