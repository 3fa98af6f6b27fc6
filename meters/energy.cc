#include "meters/energy.h"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "core/error.h"
#include "core/metrics.h"

namespace infermark {
namespace {

// The first line of a small sysfs file; throws Error naming the file and the errno reason.
std::string read_line(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) {
    const int err = errno;
    std::string why = std::strerror(err);
    if ((err == EACCES || err == EPERM) && path.filename() == "energy_uj")
      why += "; energy_uj is root-only on kernels since 5.10: run as root or make it readable";
    throw Error(path.string() + ": cannot read (" + why + ")");
  }
  char buf[256] = {};
  errno = 0;
  const bool got = std::fgets(buf, sizeof buf, f) != nullptr;
  const int err = errno;
  std::fclose(f);
  if (!got)
    throw Error(path.string() + ": cannot read (" + (err ? std::strerror(err) : "empty") + ")");
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

uint64_t read_u64(const std::filesystem::path& path) {
  const std::string s = read_line(path);
  size_t used = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || s.front() == '-')
    throw Error(path.string() + ": '" + s + "' is not a non-negative integer");
  return v;
}

// "intel-rapl:N" or "amd-rapl:N": a package, not a subzone (intel-rapl:N:M) nor mmio.
bool is_package_zone(const std::string& dir_name) {
  for (const std::string prefix : {"intel-rapl:", "amd-rapl:"}) {
    if (dir_name.size() <= prefix.size() || dir_name.compare(0, prefix.size(), prefix) != 0)
      continue;
    return std::all_of(dir_name.begin() + static_cast<std::ptrdiff_t>(prefix.size()),
                       dir_name.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  return false;
}

}  // namespace

// ---- RAPL ----------------------------------------------------------------------------------

std::vector<RaplZone> find_rapl_packages(const std::filesystem::path& powercap_root) {
  std::vector<RaplZone> zones;
  std::error_code ec;
  std::filesystem::directory_iterator it(powercap_root, ec);
  if (ec) return zones;
  for (const auto& entry : it) {
    const std::string dir_name = entry.path().filename().string();
    if (!is_package_zone(dir_name)) continue;
    RaplZone z;
    z.dir = entry.path();
    try {
      z.name = read_line(z.dir / "name");
    } catch (const Error&) {
      z.name = dir_name;
    }
    if (z.name.empty()) z.name = dir_name;
    try {
      z.max_energy_range_uj = read_u64(z.dir / "max_energy_range_uj");
    } catch (const Error&) {
      z.max_energy_range_uj = 0;
    }
    zones.push_back(std::move(z));
  }
  std::sort(zones.begin(), zones.end(), [](const RaplZone& a, const RaplZone& b) {
    return a.dir.filename().string() < b.dir.filename().string();
  });
  return zones;
}

uint64_t read_energy_uj(const RaplZone& zone) { return read_u64(zone.dir / "energy_uj"); }

uint64_t energy_delta_uj(uint64_t start_uj, uint64_t end_uj, uint64_t max_range_uj) {
  if (end_uj >= start_uj) return end_uj - start_uj;
  if (max_range_uj == 0)
    throw Error("RAPL energy counter wrapped (" + std::to_string(start_uj) + " -> " +
                std::to_string(end_uj) + " uJ) and max_energy_range_uj is unknown");
  if (start_uj > max_range_uj)
    throw Error("RAPL energy counter read " + std::to_string(start_uj) +
                " uJ, above its max_energy_range_uj " + std::to_string(max_range_uj));
  return (max_range_uj - start_uj) + end_uj;
}

RaplMeter::RaplMeter(std::filesystem::path powercap_root) : root_(std::move(powercap_root)) {}

void RaplMeter::start() {
  started_ = true;
  error_.clear();
  start_uj_.clear();
  zones_ = find_rapl_packages(root_);
  if (zones_.empty()) {
    std::error_code ec;
    error_ = "no powercap RAPL zones under " + root_.string();
    if (!std::filesystem::exists(root_, ec))
      error_ += " (it does not exist: no RAPL driver here, e.g. a VM or a non-x86 CPU)";
    return;
  }
  try {
    for (const auto& z : zones_) start_uj_.push_back(read_energy_uj(z));
  } catch (const Error& e) {
    error_ = e.what();
  }
}

void RaplMeter::stop(nlohmann::json& metrics) {
  auto unmeasured = [&](const std::string& reason) {
    metrics[metric::kEnergyJ] = nullptr;
    metrics["energy_reason"] = reason;
  };
  if (!started_) return unmeasured("RAPL meter stopped without being started");
  started_ = false;
  if (!error_.empty()) return unmeasured(error_);
  uint64_t total_uj = 0;
  nlohmann::json domains = nlohmann::json::array();
  try {
    for (size_t i = 0; i < zones_.size(); ++i) {
      const uint64_t end = read_energy_uj(zones_[i]);
      total_uj += energy_delta_uj(start_uj_[i], end, zones_[i].max_energy_range_uj);
      domains.push_back(zones_[i].name);
    }
  } catch (const Error& e) {
    return unmeasured(e.what());
  }
  metrics[metric::kEnergyJ] = static_cast<double>(total_uj) / 1e6;
  metrics["energy_source"] = "rapl";
  metrics["energy_domains"] = domains;
}

// ---- NVML ----------------------------------------------------------------------------------

// The few NVML declarations used, written out here so that no NVML header is needed
// (nvml.h: nvmlReturn_t is an enum, NVML_SUCCESS = 0; nvmlDevice_t an opaque pointer).
struct NvmlMeter::Api {
  using Return = int;
  using Device = struct nvmlDevice_st*;
  struct Memory {
    unsigned long long total, free, used;
  };
  Return (*init)() = nullptr;
  Return (*shutdown)() = nullptr;
  Return (*device_count)(unsigned int*) = nullptr;
  Return (*device_handle)(unsigned int, Device*) = nullptr;
  Return (*total_energy)(Device, unsigned long long*) = nullptr;  // millijoules
  Return (*memory_info)(Device, Memory*) = nullptr;
  Return (*device_name)(Device, char*, unsigned int) = nullptr;
  const char* (*error_string)(Return) = nullptr;  // optional

  std::string describe(Return r) const {
    const char* s = error_string ? error_string(r) : nullptr;
    return s ? std::string(s) + " (" + std::to_string(r) + ")" : "NVML error " + std::to_string(r);
  }
};

namespace {

template <typename F>
bool bind(void* handle, const char* symbol, F& fn) {
  fn = reinterpret_cast<F>(dlsym(handle, symbol));
  return fn != nullptr;
}

}  // namespace

NvmlMeter::NvmlMeter(std::string library) : library_(std::move(library)) {}

NvmlMeter::~NvmlMeter() {
  if (initialized_ && api_ && api_->shutdown) api_->shutdown();
  if (handle_) dlclose(handle_);
}

bool NvmlMeter::load() {
  if (initialized_) return true;
  if (!error_.empty()) return false;  // failed before: the library does not appear later
  handle_ = dlopen(library_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    error_ = library_ + " not found (no NVIDIA driver)";
    return false;
  }
  api_ = std::make_unique<Api>();
  const char* missing = nullptr;
  if (!bind(handle_, "nvmlInit_v2", api_->init))
    missing = "nvmlInit_v2";
  else if (!bind(handle_, "nvmlShutdown", api_->shutdown))
    missing = "nvmlShutdown";
  else if (!bind(handle_, "nvmlDeviceGetCount_v2", api_->device_count))
    missing = "nvmlDeviceGetCount_v2";
  else if (!bind(handle_, "nvmlDeviceGetHandleByIndex_v2", api_->device_handle))
    missing = "nvmlDeviceGetHandleByIndex_v2";
  else if (!bind(handle_, "nvmlDeviceGetTotalEnergyConsumption", api_->total_energy))
    missing = "nvmlDeviceGetTotalEnergyConsumption";
  else if (!bind(handle_, "nvmlDeviceGetMemoryInfo", api_->memory_info))
    missing = "nvmlDeviceGetMemoryInfo";
  else if (!bind(handle_, "nvmlDeviceGetName", api_->device_name))
    missing = "nvmlDeviceGetName";
  bind(handle_, "nvmlErrorString", api_->error_string);
  if (missing) {
    error_ = library_ + " lacks " + missing + " (driver too old)";
    return false;
  }
  if (const auto r = api_->init(); r != 0) {
    error_ = "nvmlInit_v2 failed: " + api_->describe(r);
    return false;
  }
  initialized_ = true;
  return true;
}

void NvmlMeter::start() {
  started_ = true;
  energy_error_.clear();
  start_mj_.clear();
  if (!load()) return;
  unsigned int count = 0;
  if (const auto r = api_->device_count(&count); r != 0) {
    energy_error_ = "nvmlDeviceGetCount_v2 failed: " + api_->describe(r);
    return;
  }
  if (count == 0) {
    energy_error_ = "NVML sees no NVIDIA GPU";
    return;
  }
  for (unsigned int i = 0; i < count; ++i) {
    Api::Device dev = nullptr;
    unsigned long long mj = 0;
    if (const auto r = api_->device_handle(i, &dev); r != 0) {
      energy_error_ =
          "nvmlDeviceGetHandleByIndex_v2(" + std::to_string(i) + ") failed: " + api_->describe(r);
      return;
    }
    if (const auto r = api_->total_energy(dev, &mj); r != 0) {
      energy_error_ = "nvmlDeviceGetTotalEnergyConsumption on GPU " + std::to_string(i) +
                      " failed: " + api_->describe(r) + " (needs a Volta or newer GPU)";
      return;
    }
    start_mj_.push_back(mj);
  }
}

void NvmlMeter::stop(nlohmann::json& metrics) {
  metrics["gpu_energy_j"] = nullptr;
  metrics["gpu_memory_used_bytes"] = nullptr;
  auto unmeasured = [&](const std::string& reason) {
    metrics["gpu_energy_reason"] = reason;
    metrics["gpu_memory_reason"] = reason;
  };
  if (!started_) return unmeasured("NVML meter stopped without being started");
  started_ = false;
  if (!initialized_) return unmeasured(error_);

  unsigned int count = 0;
  if (const auto r = api_->device_count(&count); r != 0 || count == 0)
    return unmeasured(r != 0 ? "nvmlDeviceGetCount_v2 failed: " + api_->describe(r)
                             : "NVML sees no NVIDIA GPU");

  nlohmann::json names = nlohmann::json::array();
  unsigned long long used = 0, energy_mj = 0;
  std::string memory_error, energy_error = energy_error_;
  if (energy_error.empty() && start_mj_.size() != count)
    energy_error = "the number of GPUs changed during the region";
  for (unsigned int i = 0; i < count; ++i) {
    Api::Device dev = nullptr;
    if (const auto r = api_->device_handle(i, &dev); r != 0) {
      return unmeasured("nvmlDeviceGetHandleByIndex_v2(" + std::to_string(i) +
                        ") failed: " + api_->describe(r));
    }
    char name[96] = {};
    if (api_->device_name(dev, name, sizeof name) != 0)
      std::snprintf(name, sizeof name, "GPU %u", i);
    names.push_back(std::string(name));

    Api::Memory mem{};
    if (const auto r = api_->memory_info(dev, &mem); r != 0) {
      if (memory_error.empty())
        memory_error =
            "nvmlDeviceGetMemoryInfo on GPU " + std::to_string(i) + " failed: " + api_->describe(r);
    } else {
      used += mem.used;
    }

    if (energy_error.empty()) {
      unsigned long long mj = 0;
      if (const auto r = api_->total_energy(dev, &mj); r != 0)
        energy_error = "nvmlDeviceGetTotalEnergyConsumption on GPU " + std::to_string(i) +
                       " failed: " + api_->describe(r);
      else if (mj < start_mj_[i])
        energy_error =
            "GPU " + std::to_string(i) + " energy counter went backwards (driver reloaded?)";
      else
        energy_mj += mj - start_mj_[i];
    }
  }
  metrics["gpu_devices"] = names;
  metrics["gpu_energy_source"] = "nvml";
  if (energy_error.empty())
    metrics["gpu_energy_j"] = static_cast<double>(energy_mj) / 1e3;
  else
    metrics["gpu_energy_reason"] = energy_error;
  if (memory_error.empty())
    metrics["gpu_memory_used_bytes"] = used;
  else
    metrics["gpu_memory_reason"] = memory_error;
}

// ---- factory -------------------------------------------------------------------------------

std::vector<std::unique_ptr<Meter>> make_energy_meters(const std::filesystem::path& powercap_root) {
  std::vector<std::unique_ptr<Meter>> meters;
  meters.push_back(std::make_unique<RaplMeter>(powercap_root));
  meters.push_back(std::make_unique<NvmlMeter>());
  return meters;
}

void add_energy_per_image(nlohmann::json& m) {
  const double images =
      m.contains("images") && m["images"].is_number() ? m["images"].get<double>() : 0;
  if (!(images > 0)) return;
  for (const auto& [energy, per_image] : {std::pair{metric::kEnergyJ, metric::kEnergyPerImageJ},
                                          std::pair{"gpu_energy_j", metric::kGpuEnergyPerImageJ}})
    if (m.contains(energy) && m[energy].is_number())
      m[per_image] = m[energy].get<double>() / images;
}

}  // namespace infermark
