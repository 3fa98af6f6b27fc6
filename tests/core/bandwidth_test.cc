#include "core/bandwidth.h"

#include <gtest/gtest.h>

#include "core/peak.h"

namespace infermark {
namespace {

// A figure, and the calling thread's CPUs as they were: the workers pin themselves, never the
// caller (whose mask the frameworks' processes started afterwards would inherit).
TEST(Bandwidth, TriadGivesAFigureAndLeavesTheCallerOnEveryCpu) {
  const std::vector<int> before = usable_cpus();
  const double bytes_s = measure_bandwidth({1 << 20, 3});
  EXPECT_GT(bytes_s, 1e8);   // 100 MB/s: far below any machine's memory
  EXPECT_LT(bytes_s, 1e13);  // 10 TB/s: far above
  EXPECT_EQ(usable_cpus(), before);
}

}  // namespace
}  // namespace infermark
