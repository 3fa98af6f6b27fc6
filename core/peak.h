#pragma once

// The machine's peak FLOP/s, measured with FMA loops of our own per instruction set (and bf16
// dot products where the CPU has them) instead of computed from a clock and a lane count: a
// formula is wrong on CPUs that split wide vectors (Zen 4 runs 512-bit FMAs on 256-bit
// units). The measurement takes 0.6 s per instruction set, so it is kept in the cache folder
// per machine and read back by later runs.

#include <filesystem>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace infermark {

// Part of the cache key: bump it when a kernel changes in a way that changes its figure, so
// that figures of older kernels are measured again.
inline constexpr int kPeakKernelVersion = 2;  // 2: the int8 kernel

// One kernel (instruction set and data type) measured on a set of CPUs.
struct PeakRun {
  std::string isa;          // "avx512f", "avx2+fma", "scalar", "avx512_bf16", "avx512_vnni"
  std::string dtype;        // "fp32", "bf16" or "int8"
  std::string instruction;  // what one chain step is, e.g. "zmm fma"
  int chains = 0;           // independent accumulators per thread
  int threads = 0;          // one per CPU, each pinned to its CPU
  bool pinned = false;      // every thread could be pinned
  double window_s = 0;      // timed window of each trial
  int trials = 0;           // the best trial counts
  double flops = 0;         // FLOP/s (int8: operations/s) of all threads together in the best trial
};

struct PeakOptions {
  std::vector<int> cpus;  // one thread on each; empty: every CPU of this process's affinity mask
  double window_s = 0.2;
  int trials = 3;
};

// Names of the kernels built into the program: fp32 widest first, then bf16, then int8.
const std::vector<std::string>& peak_kernels();

// Whether this CPU (and the OS, for the wider registers) runs a kernel; asked of CPUID at run
// time, so the program runs on any x86-64.
bool peak_kernel_supported(const std::string& isa);

// Measures one kernel. Throws Error for an unknown kernel or one this CPU lacks.
PeakRun measure_peak_kernel(const std::string& isa, const PeakOptions& options = {});

struct Peak {
  double fp32_flops = 0;  // the best fp32 kernel; 0 if not measured
  double bf16_flops = 0;  // the best bf16 kernel; 0 where the CPU has none
  std::string method;     // how it was measured, or "not measured: <why>"
  std::vector<PeakRun> runs;
  double int8_ops = 0;  // the best int8 kernel (operations: 2 per multiply-add); 0 where none
};

// Measures every kernel this CPU supports. Never throws: a failure is a Peak with zero
// figures and a method that says why.
Peak measure_peak(const PeakOptions& options = {});

// The CPUs of this process's affinity mask, ascending.
std::vector<int> usable_cpus();

// What a measured peak depends on: the CPU model, its feature flags (as /proc/cpuinfo lists
// them), the CPUs used and the kernels' version. A different machine or affinity measures
// again.
nlohmann::json peak_cache_key(const std::string& cpu_model, const std::string& cpu_flags,
                              const std::vector<int>& cpus);

// The cache file of a key, in `dir` (default: <cache root>/machine).
std::filesystem::path peak_cache_file(const nlohmann::json& key);
std::filesystem::path peak_cache_file(const nlohmann::json& key, const std::filesystem::path& dir);

enum class PeakCache { kUse, kRefresh };

// The peak stored in `file` under `key`; on a miss (no file, another key, a file that does not
// parse or holds no positive fp32 figure), or with kRefresh, the result of `measure`, written
// to the file atomically (a figure that was not measured is not stored). Concurrent callers
// on one file measure one at a time, so they do not slow each other's measurement down; an
// unwritable cache folder only costs a measurement per call.
Peak cached_peak(const std::filesystem::path& file, const nlohmann::json& key,
                 const std::function<Peak()>& measure, PeakCache mode = PeakCache::kUse);

nlohmann::json to_json(const PeakRun& r);
nlohmann::json to_json(const Peak& p);

}  // namespace infermark
