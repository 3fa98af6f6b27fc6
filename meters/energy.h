#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "meters/meter.h"

namespace infermark {

// ---- CPU packages: RAPL through the Linux powercap sysfs tree ----------------------------

// One top-level package zone, e.g. <root>/intel-rapl:0 (AMD CPUs appear as intel-rapl too;
// "amd-rapl:N" is accepted as well). Subzones (intel-rapl:0:0) and the mmio duplicates
// (intel-rapl-mmio:0) are not packages and are left out.
struct RaplZone {
  std::string name;  // the zone's `name` file (package-0), else the dir name
  std::filesystem::path dir;
  uint64_t max_energy_range_uj = 0;  // 0 when unreadable
};

// The package zones under root, sorted by directory name; empty when there are none.
std::vector<RaplZone> find_rapl_packages(const std::filesystem::path& powercap_root);

// Reads <zone>/energy_uj. Throws Error naming the file and why (permission: root-only on
// kernels since 5.10, after the PLATYPUS side channel).
uint64_t read_energy_uj(const RaplZone& zone);

// Energy between two readings of a counter that wraps at max_range_uj (end < start: it
// wrapped once). Throws Error when it wrapped and the range is unknown (0).
uint64_t energy_delta_uj(uint64_t start_uj, uint64_t end_uj, uint64_t max_range_uj);

// Energy of all CPU packages over the region: energy_j (sum over packages), energy_source
// "rapl", energy_domains [zone names]. When it cannot measure: "energy_j": null and
// energy_reason saying why.
class RaplMeter : public Meter {
 public:
  explicit RaplMeter(std::filesystem::path powercap_root = "/sys/class/powercap");
  std::string name() const override { return "rapl"; }
  void start() override;
  void stop(nlohmann::json& metrics) override;

 private:
  std::filesystem::path root_;
  std::vector<RaplZone> zones_;
  std::vector<uint64_t> start_uj_;
  std::string error_;  // from start()
  bool started_ = false;
};

// ---- NVIDIA GPUs: NVML, loaded at run time ------------------------------------------------

// GPU energy and memory through NVML, dlopen()ed at start() (no link-time dependency):
// gpu_energy_j (total energy consumption of all GPUs over the region, summed),
// gpu_memory_used_bytes (summed over GPUs, at stop), gpu_devices [names], gpu_energy_source
// "nvml". Unmeasurable values are null with gpu_energy_reason / gpu_memory_reason, e.g.
// "libnvidia-ml.so.1 not found (no NVIDIA driver)".
class NvmlMeter : public Meter {
 public:
  explicit NvmlMeter(std::string library = "libnvidia-ml.so.1");
  ~NvmlMeter() override;
  NvmlMeter(const NvmlMeter&) = delete;
  NvmlMeter& operator=(const NvmlMeter&) = delete;
  std::string name() const override { return "nvml"; }
  void start() override;
  void stop(nlohmann::json& metrics) override;

  struct Api;  // the NVML entry points used (defined in energy.cc)

 private:
  bool load();  // dlopen + nvmlInit once; false with error_ set when it cannot

  std::string library_;
  void* handle_ = nullptr;
  std::unique_ptr<Api> api_;
  bool initialized_ = false;
  bool started_ = false;
  std::string error_;               // why NVML is unusable (library, init, no device)
  std::string energy_error_;        // why energy is unusable (e.g. not supported)
  std::vector<uint64_t> start_mj_;  // per device
};

// energy_per_image_j (and gpu_energy_per_image_j) from energy_j and images in the same
// object, where both are numbers and images > 0: energy and images of one window.
void add_energy_per_image(nlohmann::json& metrics);

// The energy meters for this machine: RAPL (CPU packages) and NVML (NVIDIA GPUs). Each one
// reports null with a reason where it cannot measure.
std::vector<std::unique_ptr<Meter>> make_energy_meters(
    const std::filesystem::path& powercap_root = "/sys/class/powercap");

}  // namespace infermark
