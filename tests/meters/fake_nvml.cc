// A stand-in for libnvidia-ml.so.1 with the few entry points NvmlMeter uses: two GPUs whose
// energy counters advance by a known amount on every read, so the meter's arithmetic can be
// checked on a machine without an NVIDIA driver.
#include <cstdio>
#include <cstring>

namespace {
struct Memory {
  unsigned long long total, free, used;
};
unsigned long long g_energy_mj[2] = {10'000, 20'000};
int g_inits = 0;
}  // namespace

extern "C" {

int nvmlInit_v2() {
  ++g_inits;
  return 0;
}
int nvmlShutdown() {
  --g_inits;
  return 0;
}
int nvmlDeviceGetCount_v2(unsigned int* count) {
  if (g_inits <= 0) return 1;  // NVML_ERROR_UNINITIALIZED
  *count = 2;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (index >= 2) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *device = &g_energy_mj[index];
  return 0;
}
// Each read returns the counter, then advances it: GPU 0 by 1500 mJ, GPU 1 by 3000 mJ.
int nvmlDeviceGetTotalEnergyConsumption(void* device, unsigned long long* energy_mj) {
  auto* counter = static_cast<unsigned long long*>(device);
  *energy_mj = *counter;
  *counter += counter == &g_energy_mj[0] ? 1500 : 3000;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* device, Memory* memory) {
  const unsigned long long gib = 1ull << 30;
  memory->total = 80 * gib;
  memory->used = device == &g_energy_mj[0] ? gib : 2 * gib;
  memory->free = memory->total - memory->used;
  return 0;
}
int nvmlDeviceGetName(void* device, char* name, unsigned int length) {
  std::snprintf(name, length, "Fake GPU %d", device == &g_energy_mj[0] ? 0 : 1);
  return 0;
}
const char* nvmlErrorString(int result) { return result == 0 ? "Success" : "Fake error"; }
int fake_nvml_inits() { return g_inits; }

}  // extern "C"
