#pragma once

// What the tests on models made by PyTorch's exporter share: the models, exported once per
// test process into a temporary folder with a cold infermark cache
// (tests/prepare/export_exporter_models.py); commands and result lines from tests/command.h.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/command.h"

namespace infermark {

class ExportedModelsTest : public ::testing::Test {
 protected:
  // For a suite's SetUpTestSuite: the models in a folder named after `suite`, with
  // INFERMARK_CACHE_DIR inside it.
  static void export_models(const std::string& suite) {
    dir_ = std::filesystem::temp_directory_path() / (suite + "_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    setenv("INFERMARK_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    const std::string cmd = std::string("/usr/bin/python3 ") + INFERMARK_SOURCE_DIR +
                            "/tests/prepare/export_exporter_models.py " + dir_.string() + " > " +
                            (dir_ / "export.log").string() + " 2>&1";
    exported_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  void SetUp() override {
    ASSERT_TRUE(exported_) << "PyTorch's export failed (python3-torch, python3-torchvision): see "
                           << (dir_ / "export.log");
  }
  static inline std::filesystem::path dir_;
  static inline bool exported_ = false;
};

}  // namespace infermark
