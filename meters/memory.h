#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "meters/meter.h"

namespace infermark {

// Resident memory of one process, from /proc/<pid>/status (VmRSS, VmHWM), in bytes.
struct MemoryReading {
  int64_t rss_bytes = 0;
  int64_t rss_peak_bytes = 0;  // VmHWM: the high-water mark since start or the last reset
};

// Parses the text of a /proc/<pid>/status file; `what` names it in errors. Throws Error
// when VmRSS is missing or malformed; a missing VmHWM reads as the current RSS.
MemoryReading parse_proc_status(const std::string& text, const std::string& what);

// Reads <proc_root>/<pid>/status; pid 0 means this process ("self"). Throws Error naming
// the file when it cannot be read.
MemoryReading read_memory(int pid = 0, const std::filesystem::path& proc_root = "/proc");

// Resets this process's (pid 0) or pid's VmHWM to its current RSS by writing "5" to
// <proc_root>/<pid>/clear_refs. Returns whether the write succeeded (it can be refused,
// e.g. for another user's process or a read-only /proc); never throws.
bool reset_peak(int pid = 0, const std::filesystem::path& proc_root = "/proc");

// Resident memory around a region: start() resets the peak (when it can) and records the
// RSS; stop() writes rss_before_bytes, rss_after_bytes, rss_peak_bytes, rss_delta_bytes
// (after - before) and rss_peak_reset (false: the peak is the process's lifetime peak, which
// may predate the region). When /proc cannot be read they are null, with rss_reason.
class MemoryMeter : public Meter {
 public:
  explicit MemoryMeter(int pid = 0, std::filesystem::path proc_root = "/proc");
  std::string name() const override { return "memory"; }
  void start() override;
  void stop(nlohmann::json& metrics) override;

 private:
  int pid_;
  std::filesystem::path proc_root_;
  bool started_ = false;
  bool peak_reset_ = false;
  MemoryReading before_;
  std::string error_;  // from start(), when it could not read
};

}  // namespace infermark
