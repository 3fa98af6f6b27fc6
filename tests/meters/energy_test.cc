#include "meters/energy.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

// A fake /sys/class/powercap tree in a fresh temporary directory, removed afterwards.
class EnergyFakePowercap : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "infermark_powercap_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(root_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  void zone(const std::string& dir, const std::string& name, uint64_t energy_uj,
            uint64_t max_uj = kMax) {
    fs::create_directories(root_ / dir);
    std::ofstream(root_ / dir / "name") << name << "\n";
    set_energy(dir, energy_uj);
    std::ofstream(root_ / dir / "max_energy_range_uj") << max_uj << "\n";
  }
  void set_energy(const std::string& dir, uint64_t energy_uj) {
    std::ofstream(root_ / dir / "energy_uj") << energy_uj << "\n";
  }
  nlohmann::json measure(RaplMeter& meter, const std::function<void()>& between) {
    meter.start();
    between();
    nlohmann::json m;
    meter.stop(m);
    return m;
  }

  static constexpr uint64_t kMax = 262'143'328'850;  // a real package's max_energy_range_uj
  fs::path root_;
};

TEST_F(EnergyFakePowercap, FindsTopLevelPackagesOnly) {
  fs::create_directories(root_ / "intel-rapl");  // the control type, no counter
  zone("intel-rapl:1", "package-1", 5);
  zone("intel-rapl:0", "package-0", 7);
  zone("intel-rapl:0:0", "core", 3);          // a subzone
  zone("intel-rapl-mmio:0", "package-0", 9);  // the mmio duplicate of package 0
  const auto zones = find_rapl_packages(root_);
  ASSERT_EQ(zones.size(), 2u);
  EXPECT_EQ(zones[0].name, "package-0");
  EXPECT_EQ(zones[0].dir, root_ / "intel-rapl:0");
  EXPECT_EQ(zones[0].max_energy_range_uj, kMax);
  EXPECT_EQ(zones[1].name, "package-1");
  EXPECT_EQ(read_energy_uj(zones[0]), 7u);
  EXPECT_TRUE(find_rapl_packages(root_ / "missing").empty());
}

TEST_F(EnergyFakePowercap, AcceptsAmdRaplZones) {
  zone("amd-rapl:0", "package-0", 1);
  fs::create_directories(root_ / "amd-rapl:1");  // no name file: the directory name stands in
  set_energy("amd-rapl:1", 2);
  const auto zones = find_rapl_packages(root_);
  ASSERT_EQ(zones.size(), 2u);
  EXPECT_EQ(zones[1].name, "amd-rapl:1");
  EXPECT_EQ(zones[1].max_energy_range_uj, 0u);
}

TEST(Energy, DeltaHandlesWraparound) {
  EXPECT_EQ(energy_delta_uj(100, 350, 1000), 250u);
  EXPECT_EQ(energy_delta_uj(900, 100, 1000), 200u);  // 100 to the wrap, 100 after it
  EXPECT_EQ(energy_delta_uj(5, 5, 0), 0u);
  EXPECT_THROW(energy_delta_uj(900, 100, 0), Error);      // wrapped, range unknown
  EXPECT_THROW(energy_delta_uj(2000, 100, 1000), Error);  // reading above the range
}

TEST_F(EnergyFakePowercap, TwoPackagesOneWrapsJoulesExact) {
  zone("intel-rapl:0", "package-0", 1'000'000);
  zone("intel-rapl:1", "package-1", kMax - 328'850);
  zone("intel-rapl:0:0", "core", 0);
  RaplMeter meter(root_);
  EXPECT_EQ(meter.name(), "rapl");
  const nlohmann::json m = measure(meter, [&] {
    set_energy("intel-rapl:0", 3'500'000);     // +2.5 J
    set_energy("intel-rapl:1", 671'150);       // wrapped: 328850 + 671150 uJ = +1 J
    set_energy("intel-rapl:0:0", 99'000'000);  // a subzone: must not be counted
  });
  ASSERT_TRUE(m["energy_j"].is_number()) << m.dump();
  EXPECT_EQ(m["energy_j"].get<double>(), 3.5);
  EXPECT_EQ(m["energy_source"], "rapl");
  EXPECT_EQ(m["energy_domains"], nlohmann::json({"package-0", "package-1"}));
  EXPECT_FALSE(m.contains("energy_reason"));

  // The meter can be used again: the next region starts from the new readings.
  const nlohmann::json again = measure(meter, [&] { set_energy("intel-rapl:0", 3'750'000); });
  EXPECT_EQ(again["energy_j"].get<double>(), 0.25);
}

TEST_F(EnergyFakePowercap, AbsentTreeGivesNullAndReason) {
  RaplMeter meter(root_ / "missing");
  const nlohmann::json m = measure(meter, [] {});
  EXPECT_TRUE(m["energy_j"].is_null());
  const std::string reason = m["energy_reason"].get<std::string>();
  EXPECT_NE(reason.find("no powercap RAPL zones under " + (root_ / "missing").string()),
            std::string::npos)
      << reason;

  RaplMeter empty(root_);  // the directory exists, without RAPL zones
  const nlohmann::json e = measure(empty, [] {});
  EXPECT_TRUE(e["energy_j"].is_null());
  EXPECT_EQ(e["energy_reason"], "no powercap RAPL zones under " + root_.string());
}

TEST_F(EnergyFakePowercap, UnreadableCounterGivesNullAndReason) {
  zone("intel-rapl:0", "package-0", 1);
  fs::remove(root_ / "intel-rapl:0" / "energy_uj");
  fs::create_directories(root_ / "intel-rapl:0" / "energy_uj");  // reads fail, even as root
  RaplMeter meter(root_);
  const nlohmann::json m = measure(meter, [] {});
  EXPECT_TRUE(m["energy_j"].is_null());
  EXPECT_NE(m["energy_reason"].get<std::string>().find("intel-rapl:0/energy_uj: cannot read"),
            std::string::npos)
      << m.dump();
}

TEST_F(EnergyFakePowercap, RootOnlyCounterSaysSo) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads a mode-0400 file anyway";
  zone("intel-rapl:0", "package-0", 1);
  fs::permissions(root_ / "intel-rapl:0" / "energy_uj", fs::perms::none);
  RaplMeter meter(root_);
  const nlohmann::json m = measure(meter, [] {});
  EXPECT_TRUE(m["energy_j"].is_null());
  EXPECT_NE(m["energy_reason"].get<std::string>().find("root-only"), std::string::npos) << m.dump();
}

TEST_F(EnergyFakePowercap, CounterVanishingMidRegionGivesNullAndReason) {
  zone("intel-rapl:0", "package-0", 1);
  RaplMeter meter(root_);
  const nlohmann::json m = measure(meter, [&] { fs::remove_all(root_ / "intel-rapl:0"); });
  EXPECT_TRUE(m["energy_j"].is_null());
  EXPECT_TRUE(m["energy_reason"].is_string());
}

TEST(Energy, NvmlLibraryMissingGivesNullAndReason) {
  NvmlMeter meter("libnvidia-ml-absent-for-test.so.1");
  EXPECT_EQ(meter.name(), "nvml");
  meter.start();
  nlohmann::json m;
  meter.stop(m);
  EXPECT_TRUE(m["gpu_energy_j"].is_null());
  EXPECT_TRUE(m["gpu_memory_used_bytes"].is_null());
  EXPECT_EQ(m["gpu_energy_reason"],
            "libnvidia-ml-absent-for-test.so.1 not found (no NVIDIA driver)");
}

TEST(Energy, NvmlOnThisMachine) {
  NvmlMeter meter;
  meter.start();
  nlohmann::json m;
  meter.stop(m);
  void* nvml = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!nvml) {
    EXPECT_TRUE(m["gpu_energy_j"].is_null());
    EXPECT_TRUE(m["gpu_memory_used_bytes"].is_null());
    EXPECT_EQ(m["gpu_energy_reason"], "libnvidia-ml.so.1 not found (no NVIDIA driver)");
    return;
  }
  dlclose(nvml);
  // A driver is here: either a figure or a reason for each value, and the devices named.
  std::cout << "NVML: " << m.dump() << "\n";
  EXPECT_TRUE(m["gpu_energy_j"].is_number() || m["gpu_energy_reason"].is_string()) << m.dump();
  EXPECT_TRUE(m["gpu_memory_used_bytes"].is_number() || m["gpu_memory_reason"].is_string())
      << m.dump();
  if (m["gpu_energy_j"].is_number()) {
    EXPECT_GE(m["gpu_energy_j"].get<double>(), 0.0);
  }
}

TEST(Energy, NvmlThroughAStandInLibrary) {
  {
    NvmlMeter meter(INFERMARK_FAKE_NVML);
    meter.start();  // reads 10000 and 20000 mJ
    nlohmann::json m;
    meter.stop(m);  // reads 11500 and 23000 mJ
    ASSERT_TRUE(m["gpu_energy_j"].is_number()) << m.dump();
    EXPECT_EQ(m["gpu_energy_j"].get<double>(), 4.5);
    EXPECT_EQ(m["gpu_memory_used_bytes"].get<uint64_t>(), 3ull << 30);
    EXPECT_EQ(m["gpu_devices"], nlohmann::json({"Fake GPU 0", "Fake GPU 1"}));
    EXPECT_EQ(m["gpu_energy_source"], "nvml");
    EXPECT_FALSE(m.contains("gpu_energy_reason"));
  }
  // The meter shut NVML down when it went away.
  void* lib = dlopen(INFERMARK_FAKE_NVML, RTLD_NOW | RTLD_NOLOAD);
  if (lib) {
    auto inits = reinterpret_cast<int (*)()>(dlsym(lib, "fake_nvml_inits"));
    ASSERT_NE(inits, nullptr);
    EXPECT_EQ(inits(), 0);
    dlclose(lib);
  }
}

TEST(Energy, StopWithoutStartSaysSo) {
  RaplMeter rapl("/nonexistent");
  nlohmann::json m;
  rapl.stop(m);
  EXPECT_TRUE(m["energy_j"].is_null());
  EXPECT_TRUE(m["energy_reason"].is_string());
  NvmlMeter nvml("libnvidia-ml-absent-for-test.so.1");
  nvml.stop(m);
  EXPECT_TRUE(m["gpu_energy_j"].is_null());
  EXPECT_TRUE(m["gpu_energy_reason"].is_string());
}

TEST(Energy, FactoryGivesRaplAndNvml) {
  const auto meters = make_energy_meters("/nonexistent/powercap");
  ASSERT_EQ(meters.size(), 2u);
  EXPECT_EQ(meters[0]->name(), "rapl");
  EXPECT_EQ(meters[1]->name(), "nvml");
  nlohmann::json m;
  for (const auto& meter : meters) meter->start();
  for (const auto& meter : meters) meter->stop(m);
  EXPECT_TRUE(m["energy_j"].is_null());
  EXPECT_TRUE(m.contains("gpu_energy_j"));
}

TEST(Energy, RaplOnThisMachine) {
  RaplMeter meter;  // /sys/class/powercap
  meter.start();
  nlohmann::json m;
  meter.stop(m);
  std::cout << "RAPL: " << m.dump() << "\n";
  // What this machine offers decides the answer: a package zone whose counter this process
  // can read gives a figure; anything else, the reason that names what is missing.
  const auto zones = find_rapl_packages("/sys/class/powercap");
  bool readable = !zones.empty();
  for (const auto& z : zones) readable = readable && std::ifstream(z.dir / "energy_uj").good();
  if (readable) {
    ASSERT_TRUE(m["energy_j"].is_number()) << m.dump();
    EXPECT_GE(m["energy_j"].get<double>(), 0.0);
  } else {
    EXPECT_TRUE(m["energy_j"].is_null()) << m.dump();
    const std::string reason = m["energy_reason"].get<std::string>();
    EXPECT_TRUE(zones.empty() ? reason.find("no powercap RAPL zones") != std::string::npos
                              : reason.find("energy_uj") != std::string::npos)
        << reason;
  }
}

}  // namespace
}  // namespace infermark
