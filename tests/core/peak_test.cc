// The measured peak: each kernel on this CPU, and the cache that keeps the figure per machine.
// Which kernels run depends on the CPU: a kernel the CPU lacks is skipped, by name.
#include "core/peak.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

// Short windows: these tests check that the kernels work, not how fast; the machine may be
// busy with other work.
PeakOptions quick() { return PeakOptions{{}, 0.05, 2}; }

class PeakKernel : public ::testing::TestWithParam<std::string> {};

TEST_P(PeakKernel, GivesAPositiveFigureWhereTheCpuHasIt) {
  const std::string isa = GetParam();
  if (!peak_kernel_supported(isa))
    GTEST_SKIP() << "this CPU has no " << isa << " (a CPU-dependent test)";
  const PeakRun r = measure_peak_kernel(isa, quick());
  EXPECT_EQ(r.isa, isa);
  EXPECT_GT(r.flops, 0);
  EXPECT_EQ(r.threads, static_cast<int>(usable_cpus().size()));
  EXPECT_GE(r.chains, 8) << "too few chains to cover FMA latency x units";
  EXPECT_EQ(r.trials, 2);
}

INSTANTIATE_TEST_SUITE_P(EveryKernel, PeakKernel, ::testing::ValuesIn(peak_kernels()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(Peak, KernelsOfEveryKind) {
  const auto& names = peak_kernels();
  EXPECT_NE(std::find(names.begin(), names.end(), "scalar"), names.end());
#if defined(__x86_64__)
  for (const char* isa : {"avx512f", "avx2+fma", "avx512_bf16", "avx512_vnni"})
    EXPECT_NE(std::find(names.begin(), names.end(), isa), names.end()) << isa;
#endif
  EXPECT_TRUE(peak_kernel_supported("scalar"));
}

TEST(Peak, UnknownKernelIsAnErrorNamingIt) {
  try {
    measure_peak_kernel("avx9000");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("avx9000"), std::string::npos) << e.what();
  }
}

// 16 fp32 lanes x 2 (FMA) x 2 FMA units x 6 GHz, a clock no current CPU reaches: a figure
// above it means the kernel counts FLOPs it does not do.
TEST(Peak, Avx512FigureIsNotAboveTheFormulaBound) {
  if (!peak_kernel_supported("avx512f"))
    GTEST_SKIP() << "this CPU has no avx512f (a CPU-dependent test)";
  const PeakRun r = measure_peak_kernel("avx512f", quick());
  EXPECT_LE(r.flops, 16 * 2 * 2 * 6e9 * r.threads);
}

// 32 bf16 pairs x 2 FLOPs x 2 units x 6 GHz per thread.
TEST(Peak, Bf16FigureIsNotAboveTheFormulaBound) {
  if (!peak_kernel_supported("avx512_bf16"))
    GTEST_SKIP() << "this CPU has no avx512_bf16 (a CPU-dependent test)";
  const PeakRun r = measure_peak_kernel("avx512_bf16", quick());
  EXPECT_EQ(r.dtype, "bf16");
  EXPECT_LE(r.flops, 32 * 2 * 2 * 6e9 * r.threads);
}

// 16 int32 lanes x 4 byte pairs x 2 operations x 2 units x 6 GHz per thread; int8's peak is
// above fp32's (four times the multiply-adds per instruction), well within any noise.
TEST(Peak, Int8FigureIsWithinItsBoundAndAboveFp32) {
  if (!peak_kernel_supported("avx512_vnni"))
    GTEST_SKIP() << "this CPU has no avx512_vnni (a CPU-dependent test)";
  const PeakRun r = measure_peak_kernel("avx512_vnni", quick());
  EXPECT_EQ(r.dtype, "int8");
  EXPECT_LE(r.flops, 16 * 4 * 2 * 2 * 6e9 * r.threads);
  EXPECT_GT(r.flops, measure_peak_kernel("avx512f", quick()).flops);
}

TEST(Peak, PeakIsTheBestKernelAndAtLeastScalar) {
  const Peak p = measure_peak(quick());
  ASSERT_GT(p.fp32_flops, 0) << p.method;
  EXPECT_EQ(p.method.rfind("measured", 0), 0u) << p.method;
  double scalar = 0, best_fp32 = 0, best_bf16 = 0, best_int8 = 0;
  for (const PeakRun& r : p.runs) {
    EXPECT_TRUE(peak_kernel_supported(r.isa)) << r.isa;
    EXPECT_NE(p.method.find(r.isa), std::string::npos) << r.isa << " not in " << p.method;
    if (r.isa == "scalar") scalar = r.flops;
    double& best = r.dtype == "bf16" ? best_bf16 : r.dtype == "int8" ? best_int8 : best_fp32;
    best = std::max(best, r.flops);
  }
  ASSERT_GT(scalar, 0);
  EXPECT_GE(p.fp32_flops, scalar);
  EXPECT_EQ(p.fp32_flops, best_fp32);
  EXPECT_EQ(p.bf16_flops, best_bf16);
  EXPECT_EQ(p.bf16_flops > 0, peak_kernel_supported("avx512_bf16"));
  EXPECT_EQ(p.int8_ops, best_int8);
  EXPECT_EQ(p.int8_ops > 0, peak_kernel_supported("avx512_vnni"));
  // A vector kernel does 8 to 16 times the work of the scalar one per instruction; "more" has a
  // wide margin even on a busy machine.
  for (const PeakRun& r : p.runs) {
    if (r.dtype == "fp32" && r.isa != "scalar") {
      EXPECT_GT(r.flops, scalar) << r.isa;
    }
  }
}

TEST(Peak, KeyNamesWhatTheFigureDependsOn) {
  const nlohmann::json a = peak_cache_key("CPU A", "fpu avx2", {0, 1, 2, 3});
  EXPECT_EQ(a["cpu_model"], "CPU A");
  EXPECT_EQ(a["cpus"], "0-3");
  EXPECT_EQ(a["kernel_version"], kPeakKernelVersion);
  EXPECT_EQ(peak_cache_key("CPU A", "fpu avx2", {0, 2, 3, 5})["cpus"], "0,2-3,5");
  const fs::path dir = "/cache";
  EXPECT_EQ(peak_cache_file(a, dir),
            peak_cache_file(peak_cache_key("CPU A", "fpu avx2", {0, 1, 2, 3}), dir));
  EXPECT_NE(peak_cache_file(a, dir),
            peak_cache_file(peak_cache_key("CPU B", "fpu avx2", {0, 1, 2, 3}), dir));
  EXPECT_NE(peak_cache_file(a, dir),
            peak_cache_file(peak_cache_key("CPU A", "fpu avx512f", {0, 1, 2, 3}), dir));
  EXPECT_NE(peak_cache_file(a, dir),
            peak_cache_file(peak_cache_key("CPU A", "fpu avx2", {0, 1}), dir));
}

// The cache with a measurement that only counts its calls.
class PeakCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("infermark_peak_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    file_ = peak_cache_file(key_, dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Peak get(PeakCache mode = PeakCache::kUse) { return get(file_, key_, mode); }
  Peak get(const fs::path& file, const nlohmann::json& key, PeakCache mode = PeakCache::kUse) {
    return cached_peak(
        file, key,
        [this] {
          ++measured_;
          return Peak{100e9 + measured_,
                      0,
                      "measured: fake " + std::to_string(measured_),
                      {PeakRun{"scalar", "fp32", "mul + add", 12, 2, true, 0.2, 3, 100e9}},
                      0};
        },
        mode);
  }

  fs::path dir_, file_;
  const nlohmann::json key_ = peak_cache_key("Test CPU", "fpu avx2 fma", {0, 1});
  int measured_ = 0;
};

TEST_F(PeakCacheTest, SecondReadComesFromTheFile) {
  const Peak first = get();
  EXPECT_EQ(measured_, 1);
  ASSERT_TRUE(fs::exists(file_));
  const Peak second = get();
  EXPECT_EQ(measured_, 1) << "measured again despite the cache";
  EXPECT_EQ(second.fp32_flops, first.fp32_flops);
  EXPECT_EQ(second.method, first.method);
  ASSERT_EQ(second.runs.size(), 1u);
  EXPECT_EQ(second.runs[0].chains, 12);
  // Nothing but the entry and its lock is left in the folder (the temporary file was renamed).
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(e.path() == file_ || name == file_.filename().string() + ".lock") << name;
  }
}

TEST_F(PeakCacheTest, ACorruptFileIsMeasuredAgain) {
  get();
  for (const char* text : {"{\"key\": ", "", "[1, 2]", "not json at all"}) {
    std::ofstream(file_) << text;
    const int before = measured_;
    const Peak p = get();
    EXPECT_EQ(measured_, before + 1) << "'" << text << "'";
    EXPECT_GT(p.fp32_flops, 0);
    get();
    EXPECT_EQ(measured_, before + 1) << "the re-measured figure was not stored";
  }
}

TEST_F(PeakCacheTest, AnEntryWithoutAPositiveFigureIsMeasuredAgain) {
  get();
  nlohmann::json j = nlohmann::json::parse(std::ifstream(file_));
  for (const nlohmann::json& bad :
       {nlohmann::json(0.0), nlohmann::json(-1.0), nlohmann::json("fast")}) {
    j["fp32_flops"] = bad;
    std::ofstream(file_) << j.dump();
    const int before = measured_;
    get();
    EXPECT_EQ(measured_, before + 1) << bad.dump();
  }
}

TEST_F(PeakCacheTest, AnotherKeyMeasuresAgain) {
  const Peak first = get();
  const nlohmann::json other = peak_cache_key("Other CPU", "fpu avx2 fma", {0, 1});
  // Another machine's file, and another machine's key met in this file (a copied cache).
  get(peak_cache_file(other, dir_), other);
  EXPECT_EQ(measured_, 2);
  get(file_, other);
  EXPECT_EQ(measured_, 3);
  // Each machine's figure is kept in its own file.
  EXPECT_EQ(get(peak_cache_file(other, dir_), other).fp32_flops, 100e9 + 2);
  EXPECT_EQ(measured_, 3);
}

TEST_F(PeakCacheTest, RefreshMeasuresAgainAndRewrites) {
  get();
  const Peak fresh = get(PeakCache::kRefresh);
  EXPECT_EQ(measured_, 2);
  EXPECT_EQ(get().fp32_flops, fresh.fp32_flops);
  EXPECT_EQ(measured_, 2);
}

TEST_F(PeakCacheTest, AFailedMeasurementIsNotStored) {
  int calls = 0;
  const auto failing = [&] { return ++calls, Peak{0, 0, "not measured: no threads", {}, 0}; };
  EXPECT_EQ(cached_peak(file_, key_, failing).method, "not measured: no threads");
  EXPECT_FALSE(fs::exists(file_));
  cached_peak(file_, key_, failing);
  EXPECT_EQ(calls, 2);
}

TEST_F(PeakCacheTest, AnUnwritableFolderStillGivesTheFigure) {
  std::ofstream(dir_.string() + "-file") << "a file where the folder should be";
  const fs::path file = peak_cache_file(key_, fs::path(dir_.string() + "-file") / "machine");
  EXPECT_GT(get(file, key_).fp32_flops, 0);
  EXPECT_GT(get(file, key_).fp32_flops, 0);
  EXPECT_EQ(measured_, 2);
  fs::remove(dir_.string() + "-file");
}

}  // namespace
}  // namespace infermark
