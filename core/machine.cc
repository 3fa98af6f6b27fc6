#include "core/machine.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <type_traits>

#include "core/jsonl.h"
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
    if (pos != std::string::npos && trim(line.substr(0, pos)) == key)
      return trim(line.substr(pos + 1));
  }
  return "";
}

std::string gflops(double flops, const char* unit = "GFLOP/s") {
  if (flops <= 0) return "not measured";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", flops / 1e9, unit);
  return buf;
}

}  // namespace

Machine read_machine(PeakCache peak) {
  Machine m;
  m.cpu_model = field("/proc/cpuinfo", "model name");
  const std::string mhz = field("/proc/cpuinfo", "cpu MHz");
  if (!mhz.empty()) m.cpu_mhz = std::stod(mhz);
  {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    double khz = 0;
    if (f >> khz && khz > 0) m.cpu_mhz = khz / 1000.0;
  }
  const std::string flag_line = field("/proc/cpuinfo", "flags");
  std::set<std::string> flags;
  {
    std::istringstream in(flag_line);
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
  try {
    const std::vector<int> cpus = usable_cpus();
    const nlohmann::json key = peak_cache_key(m.cpu_model, flag_line, cpus);
    const Peak p = cached_peak(
        peak_cache_file(key), key, [&] { return measure_peak(PeakOptions{cpus}); }, peak);
    m.peak_fp32_flops = p.fp32_flops;
    m.peak_bf16_flops = p.bf16_flops;
    m.peak_int8_ops = p.int8_ops;
    m.peak_method = p.method;
  } catch (const std::exception& e) {  // no usable cache folder, not even a temporary one
    m.peak_method = std::string("not measured: ") + e.what();
  }
  return m;
}

nlohmann::json to_json(const Machine& m) {
  return {{"cpu_model", m.cpu_model},
          {"logical_cores", m.logical_cores},
          {"cores_used", m.cores_used},
          {"cpu_mhz", m.cpu_mhz},
          {"isa", m.isa},
          {"memory_bytes", m.memory_bytes},
          {"os", m.os},
          {"kernel", m.kernel},
          {"compiler", m.compiler},
          {"tool_version", m.tool_version},
          {"git_revision", m.git_revision},
          {"peak_fp32_flops", m.peak_fp32_flops},
          {"peak_bf16_flops", m.peak_bf16_flops},
          {"peak_int8_ops", m.peak_int8_ops},
          {"peak_method", m.peak_method}};
}

Machine machine_from_json(const nlohmann::json& j) {
  Machine m;
  if (!j.is_object()) return m;
  const auto text = [&](const char* key, std::string& out) {
    if (const auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  const auto number = [&](const char* key, auto& out) {
    using T = std::remove_reference_t<decltype(out)>;
    if (const auto it = j.find(key); it != j.end() && it->is_number() && converts_to<T>(*it))
      out = it->get<T>();
  };
  text("cpu_model", m.cpu_model);
  number("logical_cores", m.logical_cores);
  number("cores_used", m.cores_used);
  number("cpu_mhz", m.cpu_mhz);
  if (const auto it = j.find("isa"); it != j.end() && it->is_object())
    for (const auto& [flag, on] : it->items())
      if (on.is_boolean()) m.isa[flag] = on.get<bool>();
  number("memory_bytes", m.memory_bytes);
  text("os", m.os);
  text("kernel", m.kernel);
  text("compiler", m.compiler);
  text("tool_version", m.tool_version);
  text("git_revision", m.git_revision);
  number("peak_fp32_flops", m.peak_fp32_flops);
  number("peak_bf16_flops", m.peak_bf16_flops);
  number("peak_int8_ops", m.peak_int8_ops);
  text("peak_method", m.peak_method);
  return m;
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
      << "memory:     " << m.memory_bytes / (int64_t{1024} * 1024) << " MiB\n"
      << "os:         " << m.os << " (" << m.kernel << ")\n"
      << "compiler:   " << m.compiler << "\n"
      << "infermark:  " << m.tool_version << " (" << m.git_revision << ")\n"
      << "peak fp32:  " << gflops(m.peak_fp32_flops) << "\n"
      << "peak bf16:  " << gflops(m.peak_bf16_flops) << "\n"
      << "peak int8:  " << gflops(m.peak_int8_ops, "GOP/s") << "\n"
      << "peak how:   " << m.peak_method << "\n";
  return out.str();
}

}  // namespace infermark
