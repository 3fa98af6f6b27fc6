#include "core/machine.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace infermark {
namespace {

TEST(Machine, PeakFormula) {
  std::string formula;
  const std::map<std::string, bool> avx2 = {{"avx2", true}, {"fma", true}};
  // 2 cores x 2.5 GHz x 8 lanes x 2 (FMA) x 2 units = 160 GFLOP/s.
  EXPECT_DOUBLE_EQ(estimate_peak_fp32(2, 2500, avx2, &formula), 160e9);
  EXPECT_NE(formula.find("160.0 GFLOP/s"), std::string::npos) << formula;
  const std::map<std::string, bool> avx512 = {{"avx512f", true}, {"fma", true}};
  EXPECT_DOUBLE_EQ(estimate_peak_fp32(1, 1000, avx512, nullptr), 64e9);
  EXPECT_DOUBLE_EQ(estimate_peak_fp32(1, 1000, {}, nullptr), 8e9);  // SSE, no FMA
}

TEST(Machine, ReadsThisMachine) {
  const Machine m = read_machine();
  EXPECT_GT(m.cores_used, 0);
  EXPECT_LE(m.cores_used, m.logical_cores);
  EXPECT_GT(m.memory_bytes, 0);
  EXPECT_FALSE(m.cpu_model.empty());
  EXPECT_GT(m.peak_fp32_flops, 0);
  const nlohmann::json j = to_json(m);
  for (const char* key : {"cpu_model", "cores_used", "isa", "memory_bytes", "os", "compiler",
                          "tool_version", "git_revision", "peak_fp32_flops", "peak_formula"})
    EXPECT_TRUE(j.contains(key)) << key;
  for (const char* flag :
       {"avx2", "fma", "avx_vnni", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile"})
    EXPECT_TRUE(j["isa"].contains(flag)) << flag;
}

}  // namespace
}  // namespace infermark
