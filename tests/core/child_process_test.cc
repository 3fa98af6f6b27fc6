// The process running a cell, as the sweep watches it: the memory limit and the recorded
// peak count every process of the cell's group, since a framework may do its heaviest work
// in a compiler or converter it starts (the direct child stays small meanwhile).
#include "core/child_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace infermark {
namespace {
namespace fs = std::filesystem;

constexpr int64_t kMiB = int64_t{1} << 20;

// /bin/sh starting memory_hog in the background: the hog is a grandchild of the sweep, in
// the same process group, while the shell itself holds about a mebibyte.
ChildOutcome run_shell(const std::string& script, double timeout_s, int64_t limit_bytes) {
  const std::atomic<bool> interrupted{false};
  return run_child({"/bin/sh", "-c", script}, timeout_s, limit_bytes, interrupted);
}

std::string hog(int mib, double seconds) {
  return std::string("'") + MEMORY_HOG + "' " + std::to_string(mib) + " " + std::to_string(seconds);
}

TEST(ChildProcess, AGrandchildPastTheMemoryLimitStopsTheCell) {
  const auto t0 = std::chrono::steady_clock::now();
  const ChildOutcome out = run_shell(hog(256, 4) + " & wait", 10, 128 * kMiB);
  const double took_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(out.kind, ChildOutcome::Kind::kMemoryExceeded)
      << "exit " << out.exit_code << ": " << out.output_tail;
  EXPECT_GT(out.peak_rss_bytes, 128 * kMiB);
  EXPECT_LT(took_s, 3) << "the hog was not killed: the cell ran until it let go";
}

TEST(ChildProcess, ThePeakCountsTheGrandchild) {
  const ChildOutcome out = run_shell(hog(96, 1.5) + " & wait", 10, 0);
  EXPECT_EQ(out.kind, ChildOutcome::Kind::kExited);
  EXPECT_EQ(out.exit_code, 0) << out.output_tail;
  EXPECT_GE(out.peak_rss_bytes, 96 * kMiB);
}

TEST(ChildProcess, TheDirectChildsOwnMemoryCounts) {
  const std::atomic<bool> interrupted{false};
  const ChildOutcome out = run_child({MEMORY_HOG, "256", "4"}, 10, 128 * kMiB, interrupted);
  EXPECT_EQ(out.kind, ChildOutcome::Kind::kMemoryExceeded);
}

// A process the cell leaves running would take cores and memory from the next cell.
TEST(ChildProcess, WhatTheCellLeftRunningIsKilledWithIt) {
  const fs::path pid_file =
      fs::temp_directory_path() / ("infermark_child_" + std::to_string(getpid()) + ".pid");
  const ChildOutcome out =
      run_shell(hog(1, 30) + " & echo $! > '" + pid_file.string() + "'", 10, 0);
  EXPECT_EQ(out.kind, ChildOutcome::Kind::kExited);
  pid_t left = 0;
  std::ifstream(pid_file) >> left;
  fs::remove(pid_file);
  ASSERT_GT(left, 0);
  // Killed, it may stay a zombie until its new parent reaps it: alive means neither.
  auto alive = [&] {
    std::ifstream stat("/proc/" + std::to_string(left) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    return line.substr(line.rfind(')') + 2, 1) != "Z";
  };
  for (int i = 0; i < 100 && alive(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(alive());
  if (alive()) kill(left, SIGKILL);
}

}  // namespace
}  // namespace infermark
