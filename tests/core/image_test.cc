// Real images in (core/image.h): the pixels torchvision's ImageNet recipe gives, decoded from
// PNG and JPEG files of odd sizes, portrait and landscape, colour and grey; the preprocessing's
// options; one clear error for what cannot be read.
#include "core/image.h"

#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/npy.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

class Images : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("infermark_image_test_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A w x h picture with edges and texture (what antialiasing changes), `channels` 1 or 3.
  static std::vector<unsigned char> picture(int w, int h, int channels) {
    std::vector<unsigned char> px(static_cast<size_t>(w) * h * channels);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < channels; ++c) {
          const double v = 127.5 + 60 * std::sin(0.37 * x + 1.3 * c) * std::cos(0.23 * y) +
                           50 * (((x / 7) + (y / 5)) % 2) - 25 + ((x * 31 + y * 17 + c) % 13);
          px[(static_cast<size_t>(y) * w + x) * channels + c] =
              static_cast<unsigned char>(std::clamp(v, 0.0, 255.0));
        }
    return px;
  }
  fs::path png(const std::string& name, int w, int h, int channels) {
    const fs::path f = dir_ / name;
    const auto px = picture(w, h, channels);
    EXPECT_TRUE(stbi_write_png(f.c_str(), w, h, channels, px.data(), w * channels));
    return f;
  }
  fs::path jpg(const std::string& name, int w, int h) {
    const fs::path f = dir_ / name;
    const auto px = picture(w, h, 3);
    EXPECT_TRUE(stbi_write_jpg(f.c_str(), w, h, 3, px.data(), 90));
    return f;
  }
  // torchvision's pipeline on the same files (Debian's python3-torchvision and Pillow).
  Tensor torchvision(const std::vector<fs::path>& files, int resize, int crop) {
    const fs::path out = dir_ / "torchvision.npy";
    std::string cmd = std::string("/usr/bin/python3 ") + INFERMARK_SOURCE_DIR +
                      "/tests/core/torchvision_preprocess.py " + out.string() + " " +
                      std::to_string(resize) + " " + std::to_string(crop);
    for (const auto& f : files) cmd += " " + f.string();
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return load_npy(out);
  }
  fs::path dir_;
};

TEST_F(Images, TorchvisionsImageNetRecipeToTheLastBit) {
  const std::vector<fs::path> files = {
      png("a_landscape.png", 500, 375, 3),  // 341x256 after resizing: a fractional ratio
      jpg("b_portrait.jpg", 333, 500),      // the shorter side is the width
      png("c_grey.png", 300, 300, 1),       // one channel, made RGB
      png("d_exact.png", 256, 256, 3),      // no resize at all
      png("e_upscale.png", 120, 90, 3),     // enlarged
  };
  const Tensor want = torchvision(files, 256, 224);
  ImagePreprocess p;  // the defaults are the recipe
  EXPECT_EQ(p.describe(),
            "resize shorter side to 256 (bilinear, antialiased), centre crop 224x224, x "
            "0.00392157, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], RGB, NCHW");
  const Tensor got = load_images(files, p);
  ASSERT_EQ(got.shape, (std::vector<int64_t>{5, 3, 224, 224}));
  ASSERT_EQ(want.shape, got.shape);
  const size_t per_image = got.data.size() / 5;
  for (size_t n = 0; n < 5; ++n) {
    double worst = 0;
    for (size_t i = n * per_image; i < (n + 1) * per_image; ++i)
      worst = std::max(worst, std::fabs(double(got.data[i]) - want.data[i]));
    // The same 8-bit pixels: only float rounding of the normalization differs.
    EXPECT_LT(worst, 1e-5) << files[n];
  }
  // Another size, as a small model takes.
  const Tensor small = load_images(files, parse_image_preprocess("resize=73,crop=64"));
  const Tensor small_want = torchvision(files, 73, 64);
  ASSERT_EQ(small.shape, small_want.shape);
  for (size_t i = 0; i < small.data.size(); ++i)
    ASSERT_LT(std::fabs(small.data[i] - small_want.data[i]), 1e-5) << i;
}

TEST_F(Images, OrderLayoutAndNormalizationAreOptions) {
  const fs::path f = png("x.png", 40, 30, 3);
  const Tensor plain =
      load_images({f}, parse_image_preprocess("resize=0,crop=0,mean=0:0:0,std=1:1:1,scale=1"));
  ASSERT_EQ(plain.shape, (std::vector<int64_t>{1, 3, 30, 40}));
  const auto px = picture(40, 30, 3);
  EXPECT_EQ(plain.data[0], px[0]);                    // R of (0, 0)
  EXPECT_EQ(plain.data[30 * 40 + 5], px[5 * 3 + 1]);  // G of (0, 5)
  const Tensor bgr_nhwc = load_images(
      {f},
      parse_image_preprocess("resize=0,crop=0,mean=0:0:0,std=1:1:1,scale=1,order=bgr,layout=nhwc"));
  ASSERT_EQ(bgr_nhwc.shape, (std::vector<int64_t>{1, 30, 40, 3}));
  EXPECT_EQ(bgr_nhwc.data[0], px[2]);  // B first
  EXPECT_EQ(bgr_nhwc.data[2], px[0]);
  const Tensor norm = load_images(
      {f}, parse_image_preprocess("resize=0,crop=0,mean=0.5:0.5:0.5,std=0.25:0.25:0.25"));
  EXPECT_NEAR(norm.data[0], (px[0] / 255.0 - 0.5) / 0.25, 1e-5);

  for (const char* bad : {"resize=-1", "crop=abc", "mean=1:2", "std=1:0:1", "order=rgba",
                          "layout=chw", "gamma=2", "resize"}) {
    EXPECT_THROW(parse_image_preprocess(bad), Error) << bad;
  }
}

TEST_F(Images, WhatCannotBeReadIsOneErrorNamingTheFile) {
  std::ofstream(dir_ / "broken.jpg") << "not a jpeg";
  try {
    load_images({dir_ / "broken.jpg"}, ImagePreprocess{});
    ADD_FAILURE() << "a broken file decoded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("broken.jpg' cannot be decoded: "), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  fs::create_directories(dir_ / "empty");
  EXPECT_THROW(image_files(dir_ / "empty"), Error);
  EXPECT_THROW(image_files(dir_ / "missing"), Error);
  // Two sizes in one batch without a crop.
  const fs::path a = png("a.png", 40, 30, 3), b = png("b.png", 30, 40, 3);
  EXPECT_THROW(load_images({a, b}, parse_image_preprocess("resize=0,crop=0")), Error);
  // A crop larger than the image.
  EXPECT_THROW(load_images({a}, parse_image_preprocess("resize=0,crop=64")), Error);
  // A folder lists its images sorted, whatever the extension's case.
  fs::copy_file(a, dir_ / "empty" / "z.PNG");
  fs::copy_file(a, dir_ / "empty" / "m.jpeg");
  std::ofstream(dir_ / "empty" / "notes.txt") << "x";
  const auto files = image_files(dir_ / "empty");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "m.jpeg");
  EXPECT_EQ(files[1].filename(), "z.PNG");
}

}  // namespace
}  // namespace infermark
