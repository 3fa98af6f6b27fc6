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

// What a header claims is checked before anything is allocated: an image of more pixels than
// ImagePreprocess::max_pixels (Pillow's limit by default), or one a resize would make that
// large, is one clear error, as is a file cut short (found by fuzz/image_fuzz.cc, whose
// reproducers are in fuzz/corpus/image/).
TEST_F(Images, AHeaderClaimingAHugeImageIsOneErrorBeforeAnyAllocation) {
  auto bytes = [](const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir_ / name, std::ios::binary) << data;
    return dir_ / name;
  };
  auto error_of = [](const fs::path& f, const ImagePreprocess& p) {
    try {
      load_images({f}, p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  const ImagePreprocess recipe;

  // PNG: IHDR's width and height, 100000 x 100000 (CRCs are not checked by the decoder).
  std::string png_data = bytes(png("small.png", 8, 6, 3));
  png_data.replace(16, 8, be32(100000) + be32(100000));
  std::string why = error_of(write("huge.png", png_data), recipe);
  EXPECT_NE(why.find("huge.png' cannot be decoded: its header says 100000x100000 pixels, more "
                     "than the 178956970 an image may have"),
            std::string::npos)
      << why;
  // JPEG: SOF0's height and width, 65000 x 65000 (12.7 GB of pixels).
  std::string jpg_data = bytes(jpg("small.jpg", 8, 6));
  const size_t sof = jpg_data.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg_data.replace(sof + 5, 4, std::string{char(0xFD), char(0xE8), char(0xFD), char(0xE8)});
  why = error_of(write("huge.jpg", jpg_data), recipe);
  EXPECT_NE(why.find("huge.jpg' cannot be decoded: its header says 65000x65000 pixels"),
            std::string::npos)
      << why;
  // A resize would make too many: 40 x 2 with its shorter side to 256 is 5120 x 256.
  ImagePreprocess small_limit;
  small_limit.max_pixels = 1 << 20;
  small_limit.crop = 0;
  why = error_of(png("wide.png", 40, 2, 3), small_limit);
  EXPECT_NE(why.find("wide.png' is 40x2: resized, it would be 5120x256 pixels, more than the "
                     "1048576"),
            std::string::npos)
      << why;
  // A JPEG cut short is refused, as Pillow refuses it, rather than filled in.
  const std::string whole_jpg = bytes(jpg("whole.jpg", 64, 48));
  why = error_of(write("cut.jpg", whole_jpg.substr(0, whole_jpg.size() / 2)), recipe);
  EXPECT_NE(why.find("cut.jpg' cannot be decoded: Premature end of JPEG file"), std::string::npos)
      << why;
  // A PNG chunk claiming more than the file holds (here 2 GiB) is refused before stb_image
  // allocates it.
  std::string claim = bytes(png("claim.png", 8, 6, 3));
  const size_t idat = claim.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  claim.replace(idat - 4, 4, be32(0x80000000u));
  why = error_of(write("claim.png", claim), recipe);
  EXPECT_NE(why.find("claim.png' cannot be decoded: it is cut short: a chunk of 2147483648 bytes"),
            std::string::npos)
      << why;
  // stb_image reads PNG only: a GIF (or its broken JPEG reader's food) is neither.
  why = error_of(write("fake.png", "GIF89a\x01\x00\x01\x00\x00\x00\x00;"), recipe);
  EXPECT_NE(why.find("fake.png' cannot be decoded: it is neither a JPEG nor a PNG"),
            std::string::npos)
      << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
}

}  // namespace
}  // namespace infermark
