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

// A result row's env read back into a Machine; a file's hostile fields (another type, out of
// range) are left at their defaults rather than thrown.
TEST(Machine, FromJsonRoundTripsAndSurvivesWrongTypes) {
  Machine m;
  m.cpu_model = "AMD EPYC";
  m.cores_used = 2;
  m.logical_cores = 4;
  m.isa = {{"avx512f", true}, {"avx512_vnni", false}};
  m.memory_bytes = int64_t{24} << 30;
  m.peak_fp32_flops = 5e11;
  m.peak_int8_ops = 2e12;
  m.peak_method = "measured";
  const Machine back = machine_from_json(to_json(m));
  EXPECT_EQ(back.cpu_model, m.cpu_model);
  EXPECT_EQ(back.cores_used, 2);
  EXPECT_EQ(back.isa, m.isa);
  EXPECT_EQ(back.memory_bytes, m.memory_bytes);
  EXPECT_EQ(back.peak_int8_ops, 2e12);
  EXPECT_EQ(to_json(back), to_json(m));
  const Machine bad = machine_from_json(nlohmann::json{
      {"cpu_model", 7}, {"cores_used", 1e300}, {"isa", {{"avx2", "yes"}}}, {"os", {1, 2}}});
  EXPECT_EQ(bad.cpu_model, "");
  EXPECT_EQ(bad.cores_used, 0);
  EXPECT_TRUE(bad.isa.empty());
  EXPECT_EQ(machine_from_json(nlohmann::json::array()).cpu_model, "");
}

}  // namespace
}  // namespace infermark
