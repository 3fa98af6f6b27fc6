#include "core/machine.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "infermark/version.h"

namespace infermark {
namespace {

// AVX2's own VNNI, VNNI-INT8 and NE-CONVERT (Intel's E-core CPUs have them without AVX-512)
// decide, like AVX-512's BF16 and VNNI, which kernels and precision some frameworks pick
// (TensorFlow's oneDNN default, OpenVINO's bf16).
const char* const kIsaFlags[] = {"sse4_2",      "avx",           "avx2",           "fma",
                                 "avx_vnni",    "avx_vnni_int8", "avx_ne_convert", "avx512f",
                                 "avx512_bf16", "avx512_vnni",   "avx512_fp16",    "amx_tile",
                                 "amx_bf16",    "amx_int8"};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\"");
  const auto e = s.find_last_not_of(" \t\"\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// First value of "key : value" lines in a /proc-style file.
std::string field(const std::string& path, const std::string& key, char sep = ':') {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto pos = line.find(sep);
    if (pos != std::string::npos && trim(line.substr(0, pos)) == key) return trim(line.substr(pos + 1));
  }
  return "";
}

}  // namespace

double estimate_peak_fp32(int cores, double mhz, const std::map<std::string, bool>& isa,
                          std::string* formula) {
  auto has = [&](const char* f) {
    auto it = isa.find(f);
    return it != isa.end() && it->second;
  };
  int lanes = 4;
  std::string simd = "sse";
  if (has("avx512f")) {
    lanes = 16;
    simd = "avx512f";
  } else if (has("avx2") || has("avx")) {
    lanes = 8;
    simd = has("avx2") ? "avx2" : "avx";
  }
  const int fma = has("fma") || has("avx512f") ? 2 : 1;
  const int units = 2;  // two vector FMA pipes per core on current x86 server cores
  const double peak = cores * mhz * 1e6 * lanes * fma * units;
  if (formula) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%d cores x %.3f GHz x %d fp32 lanes (%s) x %d (%s) x %d vector units = %.1f "
                  "GFLOP/s",
                  cores, mhz / 1000.0, lanes, simd.c_str(), fma, fma == 2 ? "fma" : "no fma",
                  units, peak / 1e9);
    *formula = buf;
  }
  return peak;
}

Machine read_machine() {
  Machine m;
  m.cpu_model = field("/proc/cpuinfo", "model name");
  const std::string mhz = field("/proc/cpuinfo", "cpu MHz");
  if (!mhz.empty()) m.cpu_mhz = std::stod(mhz);
  {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    double khz = 0;
    if (f >> khz && khz > 0) m.cpu_mhz = khz / 1000.0;
  }
  std::set<std::string> flags;
  {
    std::istringstream in(field("/proc/cpuinfo", "flags"));
    std::string f;
    while (in >> f) flags.insert(f);
  }
  for (const char* f : kIsaFlags) m.isa[f] = flags.count(f) > 0;
  m.logical_cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  cpu_set_t set;
  CPU_ZERO(&set);
  m.cores_used = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : m.logical_cores;
  const std::string mem = field("/proc/meminfo", "MemTotal");
  if (!mem.empty()) m.memory_bytes = std::stoll(mem) * 1024;
  m.os = field("/etc/os-release", "PRETTY_NAME", '=');
  utsname u{};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
#if defined(__clang__)
  m.compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  m.compiler = std::string("g++ ") + __VERSION__;
#endif
  m.tool_version = kVersion;
  m.git_revision = kGitRevision;
  m.peak_fp32_flops = estimate_peak_fp32(m.cores_used, m.cpu_mhz, m.isa, &m.peak_formula);
  return m;
}

nlohmann::json to_json(const Machine& m) {
  return {{"cpu_model", m.cpu_model},     {"logical_cores", m.logical_cores},
          {"cores_used", m.cores_used},   {"cpu_mhz", m.cpu_mhz},
          {"isa", m.isa},                 {"memory_bytes", m.memory_bytes},
          {"os", m.os},                   {"kernel", m.kernel},
          {"compiler", m.compiler},       {"tool_version", m.tool_version},
          {"git_revision", m.git_revision}, {"peak_fp32_flops", m.peak_fp32_flops},
          {"peak_formula", m.peak_formula}};
}

std::string format_machine(const Machine& m) {
  std::ostringstream out;
  out << "cpu:        " << m.cpu_model << "\n"
      << "cores:      " << m.cores_used << " used of " << m.logical_cores << " online\n"
      << "clock:      " << m.cpu_mhz << " MHz\n"
      << "isa:       ";
  for (const auto& [f, on] : m.isa)
    if (on) out << " " << f;
  out << "\n"
      << "memory:     " << m.memory_bytes / (1024 * 1024) << " MiB\n"
      << "os:         " << m.os << " (" << m.kernel << ")\n"
      << "compiler:   " << m.compiler << "\n"
      << "infermark:  " << m.tool_version << " (" << m.git_revision << ")\n"
      << "peak fp32:  " << m.peak_formula << "\n";
  return out.str();
}

}  // namespace infermark
