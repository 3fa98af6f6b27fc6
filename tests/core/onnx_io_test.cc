#include "core/onnx_io.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "zoo/zoo.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class OnnxIo : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infermark_io_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Expects load_onnx(path) to fail with a message that names the file and says `what`.
  void expect_error(const fs::path& path, const std::string& what) {
    try {
      load_onnx(path);
      FAIL() << "no error for " << path;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    }
  }
  fs::path dir_;
};

TEST_F(OnnxIo, RoundTrip) {
  const onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 3});
  save_onnx(m, dir_ / "m.onnx");
  const onnx::ModelProto back = load_onnx(dir_ / "m.onnx");
  EXPECT_EQ(back.SerializeAsString(), m.SerializeAsString());
  EXPECT_FALSE(fs::exists(dir_ / "m.onnx.partial"));
}

TEST_F(OnnxIo, MissingFile) { expect_error(dir_ / "nope.onnx", "does not exist"); }

TEST_F(OnnxIo, EmptyFile) {
  std::ofstream(dir_ / "empty.onnx").close();
  expect_error(dir_ / "empty.onnx", "is empty");
}

TEST_F(OnnxIo, Directory) { expect_error(dir_, "is a directory"); }

TEST_F(OnnxIo, NotOnnx) {
  std::ofstream(dir_ / "text.onnx") << "this is a text file, not a protobuf\n";
  expect_error(dir_ / "text.onnx", "not a valid ONNX model");
}

TEST_F(OnnxIo, Truncated) {
  save_onnx(zoo::build("resnet50", {64, 0.25, 3}), dir_ / "full.onnx");
  fs::copy_file(dir_ / "full.onnx", dir_ / "cut.onnx");
  fs::resize_file(dir_ / "cut.onnx", fs::file_size(dir_ / "full.onnx") / 2);
  expect_error(dir_ / "cut.onnx", "not a valid ONNX model");
}

TEST_F(OnnxIo, CheckerRejectsABrokenGraph) {
  onnx::ModelProto m = zoo::build("resnet50", {64, 0.25, 3});
  m.mutable_graph()->mutable_node(0)->set_input(1, "missing_weight");
  EXPECT_THROW(check_onnx(m), Error);
}

}  // namespace
}  // namespace infermark
