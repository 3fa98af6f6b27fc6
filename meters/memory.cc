#include "meters/memory.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/metrics.h"

namespace infermark {
namespace {

std::filesystem::path pid_dir(int pid, const std::filesystem::path& proc_root) {
  return proc_root / (pid == 0 ? std::string("self") : std::to_string(pid));
}

// "VmRSS:\t  1964 kB" -> bytes; nullopt when the key is absent.
std::optional<int64_t> kb_field(const std::string& text, const std::string& key,
                                const std::string& what) {
  std::istringstream in(text);
  std::string line;
  const std::string prefix = key + ":";
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream value(line.substr(prefix.size()));
    long long kb = -1;
    std::string unit;
    if (!(value >> kb) || kb < 0 || !(value >> unit) || unit != "kB")
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      throw Error(what + ": malformed " + key + " line '" + line + "' (expected '<n> kB')");
    return static_cast<int64_t>(kb) * 1024;
  }
  return std::nullopt;
}

}  // namespace

MemoryReading parse_proc_status(const std::string& text, const std::string& what) {
  MemoryReading r;
  const auto rss = kb_field(text, "VmRSS", what);
  if (!rss) throw Error(what + ": no VmRSS line (a kernel thread or an exited process?)");
  r.rss_bytes = *rss;
  r.rss_peak_bytes = kb_field(text, "VmHWM", what).value_or(r.rss_bytes);
  return r;
}

MemoryReading read_memory(int pid, const std::filesystem::path& proc_root) {
  const auto path = pid_dir(pid, proc_root) / "status";
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot read (" + std::strerror(errno) + ")");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_proc_status(text.str(), path.string());
}

bool reset_peak(int pid, const std::filesystem::path& proc_root) {
  const auto path = pid_dir(pid, proc_root) / "clear_refs";
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  const bool wrote = std::fputs("5", f) >= 0;
  const bool closed = std::fclose(f) == 0;  // the kernel reports a refused write at flush
  return wrote && closed;
}

MemoryMeter::MemoryMeter(int pid, std::filesystem::path proc_root)
    : pid_(pid), proc_root_(std::move(proc_root)) {}

void MemoryMeter::start() {
  started_ = true;
  error_.clear();
  peak_reset_ = reset_peak(pid_, proc_root_);
  try {
    before_ = read_memory(pid_, proc_root_);
  } catch (const Error& e) {
    error_ = e.what();
  }
}

void MemoryMeter::stop(nlohmann::json& metrics) {
  auto unmeasured = [&](const std::string& reason) {
    for (const char* k :
         {"rss_before_bytes", "rss_after_bytes", metric::kRssPeakBytes, "rss_delta_bytes"})
      metrics[k] = nullptr;
    metrics["rss_reason"] = reason;
  };
  if (!started_) return unmeasured("memory meter stopped without being started");
  started_ = false;
  if (!error_.empty()) return unmeasured(error_);
  MemoryReading after;
  try {
    after = read_memory(pid_, proc_root_);
  } catch (const Error& e) {
    return unmeasured(e.what());
  }
  metrics["rss_before_bytes"] = before_.rss_bytes;
  metrics["rss_after_bytes"] = after.rss_bytes;
  // The high-water mark covers the region only if it was reset at start(); it is never
  // below what was seen at either end.
  metrics[metric::kRssPeakBytes] =
      std::max({after.rss_peak_bytes, before_.rss_bytes, after.rss_bytes});
  metrics["rss_delta_bytes"] = after.rss_bytes - before_.rss_bytes;
  metrics["rss_peak_reset"] = peak_reset_;
}

}  // namespace infermark
