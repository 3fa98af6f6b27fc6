#include "meters/memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/error.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

// A fake /proc tree in a fresh temporary directory, removed afterwards.
class MemoryFakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "infermark_proc_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  void write_status(const std::string& pid, long long rss_kb, long long hwm_kb) {
    fs::create_directories(root_ / pid);
    std::ofstream(root_ / pid / "status") << "Name:\tbench\n"
                                          << "VmPeak:\t  999999 kB\n"
                                          << "VmSize:\t  888888 kB\n"
                                          << "VmHWM:\t" << hwm_kb << " kB\n"
                                          << "VmRSS:\t" << rss_kb << " kB\n"
                                          << "RssAnon:\t  1000 kB\n"
                                          << "Threads:\t1\n";
  }
  std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path root_;
};

TEST_F(MemoryFakeProc, ReadsRssAndPeakInBytes) {
  write_status("self", 2000, 3000);
  write_status("4242", 10, 20);
  const MemoryReading self = read_memory(0, root_);
  EXPECT_EQ(self.rss_bytes, 2000 * 1024);
  EXPECT_EQ(self.rss_peak_bytes, 3000 * 1024);
  const MemoryReading other = read_memory(4242, root_);
  EXPECT_EQ(other.rss_bytes, 10 * 1024);
  EXPECT_EQ(other.rss_peak_bytes, 20 * 1024);
}

TEST_F(MemoryFakeProc, ParseErrorsNameTheFile) {
  EXPECT_EQ(parse_proc_status("VmRSS:\t5 kB\n", "x").rss_peak_bytes, 5 * 1024);  // no VmHWM
  EXPECT_THROW(parse_proc_status("Name:\tx\n", "x"), Error);
  EXPECT_THROW(parse_proc_status("VmRSS:\tlots kB\n", "x"), Error);
  EXPECT_THROW(parse_proc_status("VmRSS:\t5 MB\n", "x"), Error);
  try {
    read_memory(77, root_);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((root_ / "77" / "status").string()), std::string::npos)
        << e.what();
  }
}

TEST_F(MemoryFakeProc, ResetPeakWritesFiveToClearRefs) {
  fs::create_directories(root_ / "self");
  fs::create_directories(root_ / "99");
  EXPECT_TRUE(reset_peak(0, root_));
  EXPECT_EQ(slurp(root_ / "self" / "clear_refs"), "5");
  EXPECT_TRUE(reset_peak(99, root_));
  EXPECT_EQ(slurp(root_ / "99" / "clear_refs"), "5");
  EXPECT_FALSE(reset_peak(0, root_ / "missing"));
}

TEST_F(MemoryFakeProc, MeterWritesBeforeAfterPeakDelta) {
  write_status("self", 1000, 5000);
  MemoryMeter meter(0, root_);
  EXPECT_EQ(meter.name(), "memory");
  meter.start();
  write_status("self", 1500, 4000);  // as if the peak were reset at start, then reached 4000 kB
  nlohmann::json m;
  meter.stop(m);
  EXPECT_EQ(m["rss_before_bytes"].get<int64_t>(), 1000 * 1024);
  EXPECT_EQ(m["rss_after_bytes"].get<int64_t>(), 1500 * 1024);
  EXPECT_EQ(m["rss_peak_bytes"].get<int64_t>(), 4000 * 1024);
  EXPECT_EQ(m["rss_delta_bytes"].get<int64_t>(), 500 * 1024);
  EXPECT_TRUE(m["rss_peak_reset"].get<bool>());
  EXPECT_EQ(slurp(root_ / "self" / "clear_refs"), "5");

  write_status("self", 1500, 1500);
  meter.start();
  write_status("self", 700, 1500);  // memory given back: a negative delta
  nlohmann::json m2;
  meter.stop(m2);
  EXPECT_EQ(m2["rss_delta_bytes"].get<int64_t>(), -800 * 1024);
}

TEST_F(MemoryFakeProc, MeterWithoutProcWritesNullAndReason) {
  MemoryMeter meter(0, root_ / "missing");
  meter.start();
  nlohmann::json m;
  meter.stop(m);
  EXPECT_TRUE(m["rss_peak_bytes"].is_null());
  EXPECT_TRUE(m["rss_before_bytes"].is_null());
  ASSERT_TRUE(m["rss_reason"].is_string());
  EXPECT_NE(m["rss_reason"].get<std::string>().find("status"), std::string::npos);
}

// Touches every page so that it becomes resident.
void touch(char* p, size_t n) {
  volatile char* v = p;
  for (size_t i = 0; i < n; i += 4096) v[i] = static_cast<char>(i);
}

TEST(Memory, RealProcessPeakSeesA200MBAllocation) {
  constexpr size_t kBytes = 200u << 20;
  constexpr int64_t kAtLeast = 190ll << 20;
  MemoryMeter meter;
  meter.start();
  {
    std::unique_ptr<char[]> block(new char[kBytes]);
    touch(block.get(), kBytes);
  }  // freed (an mmap'd block goes back to the kernel) before stop
  nlohmann::json m;
  meter.stop(m);
  ASSERT_TRUE(m["rss_peak_bytes"].is_number()) << m.dump();
  EXPECT_GE(m["rss_peak_bytes"].get<int64_t>() - m["rss_before_bytes"].get<int64_t>(), kAtLeast)
      << m.dump();
  EXPECT_TRUE(m["rss_peak_reset"].get<bool>()) << "clear_refs refused here";
}

TEST(Memory, RealProcessPeakResets) {
  constexpr size_t kBytes = 200u << 20;
  {
    // Mapped and unmapped directly: the pages go back to the kernel whatever the allocator
    // (AddressSanitizer's keeps freed blocks resident in its quarantine).
    void* block = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(block, MAP_FAILED);
    touch(static_cast<char*>(block), kBytes);
    EXPECT_GE(read_memory().rss_bytes, static_cast<int64_t>(kBytes));
    munmap(block, kBytes);
  }
  const MemoryReading high = read_memory();
  ASSERT_TRUE(reset_peak());
  const MemoryReading low = read_memory();
  EXPECT_GE(high.rss_peak_bytes - low.rss_peak_bytes, 190ll << 20)
      << "VmHWM " << high.rss_peak_bytes << " -> " << low.rss_peak_bytes;
  EXPECT_GE(low.rss_peak_bytes, low.rss_bytes);
}

}  // namespace
}  // namespace infermark
