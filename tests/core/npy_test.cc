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

// The header is parsed strictly, in any key order: a header that is empty, not a dict, or
// holds a dimension that is not a size is one clear error (the fuzzer found an empty header
// read out of bounds by xtensor's parser, fuzz/corpus/npy/empty-header.npy).
TEST(Npy, AHeaderThatIsNotNumpysIsOneError) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_npy_h_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& header, const std::string& data) {
    std::ofstream f(dir / name, std::ios::binary);
    f << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff) << char(header.size() >> 8)
      << header << data;
    return dir / name;
  };
  const std::string values(8, '\0');  // two float zeros
  const Tensor t = load_npy(
      write("order.npy", "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}\n", values));
  EXPECT_EQ(t.shape, std::vector<int64_t>{2});
  EXPECT_EQ(t.data, std::vector<float>(2, 0.0F));
  for (const auto& [name, header] : std::vector<std::pair<std::string, std::string>>{
           {"empty.npy", ""},
           {"no-newline.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"},
           {"not-a-dict.npy", "descr <f4\n"},
           {"negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-5,), }\n"},
           {"word.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (two,), }\n"},
           {"missing.npy", "{'descr': '<f4', 'shape': (2,), }\n"},
           {"unknown.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}\n"},
           {"open.npy", "{'descr': '<f4\n"}}) {
    const std::string why = error_of(write(name, header, values));
    EXPECT_NE(why.find(name + "' is not a valid .npy file ("), std::string::npos) << why;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
