#include "core/hash.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace infermark {
namespace {
namespace fs = std::filesystem;

// Cache keys follow a file's contents: a model replaced by another of the same size and
// modification time (cp -p, rsync -t, an archive) is a new key; the same bytes at another path
// are the same key.
TEST(FileStamp, FollowsTheContentsNotTheSizeAndTime) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_stamp_" + std::to_string(getpid()));
  fs::create_directories(dir);
  setenv("INFERMARK_CACHE_DIR", (dir / "cache").c_str(), 1);
  const fs::path a = dir / "model.onnx", copy = dir / "elsewhere.onnx";
  std::ofstream(a) << "first model, 32 bytes long......";
  const auto when = fs::last_write_time(a);
  const std::string first = file_stamp(a);
  EXPECT_EQ(first.rfind("fnv1a64:", 0), 0u) << first;
  EXPECT_EQ(file_stamp(a), first);  // remembered: the same answer
  std::ofstream(copy) << "first model, 32 bytes long......";
  EXPECT_EQ(file_stamp(copy), first);

  std::ofstream(a, std::ios::trunc) << "other model, 32 bytes long......";
  fs::last_write_time(a, when);  // same size, same modification time
  const std::string second = file_stamp(a);
  EXPECT_NE(second, first);
  EXPECT_EQ(file_stamp(dir / "missing.onnx"), "");
  unsetenv("INFERMARK_CACHE_DIR");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
