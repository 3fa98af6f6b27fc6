#include "core/machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace infermark {
namespace {

namespace fs = std::filesystem;

// read_machine with its own cache folder, so that a test never writes into the user's.
class MachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infermark_machine_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    setenv("INFERMARK_CACHE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("INFERMARK_CACHE_DIR");
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(MachineTest, ReadsThisMachine) {
  const Machine m = read_machine();
  EXPECT_GT(m.cores_used, 0);
  EXPECT_LE(m.cores_used, m.logical_cores);
  EXPECT_GT(m.memory_bytes, 0);
  EXPECT_FALSE(m.cpu_model.empty());
  EXPECT_GT(m.peak_fp32_flops, 0) << m.peak_method;
  EXPECT_EQ(m.peak_method.rfind("measured", 0), 0u) << m.peak_method;
  // bf16 has a measured figure exactly where the CPU has AVX512_BF16 dot products (the kernel
  // core/peak.cc times), and 0 elsewhere.
  EXPECT_EQ(m.peak_bf16_flops > 0, m.isa.at("avx512_bf16")) << m.peak_method;
  EXPECT_EQ(m.peak_int8_ops > 0, m.isa.at("avx512_vnni")) << m.peak_method;
  const nlohmann::json j = to_json(m);
  for (const char* key :
       {"cpu_model", "cores_used", "isa", "memory_bytes", "os", "compiler", "tool_version",
        "git_revision", "peak_fp32_flops", "peak_bf16_flops", "peak_int8_ops", "peak_method"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* flag :
       {"avx2", "fma", "avx_vnni", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile"})
    EXPECT_TRUE(j["isa"].contains(flag)) << flag;
  const std::string text = format_machine(m);
  EXPECT_NE(text.find("GFLOP/s"), std::string::npos) << text;
  EXPECT_NE(text.find(m.peak_method), std::string::npos) << text;
}

// The peak is measured once and then read from the cache folder: the method text, which
// carries the figures and the load average of the measurement, comes back unchanged.
TEST_F(MachineTest, PeakIsMeasuredOnceAndThenCached) {
  const Machine first = read_machine();
  ASSERT_GT(first.peak_fp32_flops, 0) << first.peak_method;
  ASSERT_TRUE(fs::is_directory(dir_ / "machine"));
  EXPECT_FALSE(fs::is_empty(dir_ / "machine"));
  const Machine second = read_machine();
  EXPECT_EQ(second.peak_fp32_flops, first.peak_fp32_flops);
  EXPECT_EQ(second.peak_bf16_flops, first.peak_bf16_flops);
  EXPECT_EQ(second.peak_int8_ops, first.peak_int8_ops);
  EXPECT_EQ(second.peak_method, first.peak_method);
}

}  // namespace
}  // namespace infermark
