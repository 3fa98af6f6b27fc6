#include "core/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

std::string error_of(const fs::path& file) {
  try {
    load_npy(file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// An .npy header is a promise about the bytes after it, checked against the file before
// anything is allocated: a file cut short, or a header claiming a tensor no file here holds, is
// one clear error, never uninitialised values or an allocation of the size claimed.
TEST(Npy, AFileShorterThanItsHeaderPromisesIsRefused) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_npy_" + std::to_string(getpid()));
  fs::create_directories(dir);
  Tensor t;
  t.resize({2, 3, 4});
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<float>(i);
  save_npy(t, dir / "whole.npy");
  EXPECT_EQ(load_npy(dir / "whole.npy").data, t.data);

  const auto size = fs::file_size(dir / "whole.npy");
  fs::copy_file(dir / "whole.npy", dir / "cut.npy");
  fs::resize_file(dir / "cut.npy", size - 10);
  const std::string cut = error_of(dir / "cut.npy");
  EXPECT_NE(cut.find("cut.npy' is cut short"), std::string::npos) << cut;

  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 1000), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  {
    std::ofstream f(dir / "huge.npy", std::ios::binary);
    f << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff) << char(header.size() >> 8)
      << header << "tiny";
  }
  const std::string huge = error_of(dir / "huge.npy");
  EXPECT_NE(huge.find("huge.npy'"), std::string::npos) << huge;
  EXPECT_TRUE(huge.find("cut short") != std::string::npos ||
              huge.find("more elements") != std::string::npos)
      << huge;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
