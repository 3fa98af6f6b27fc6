#pragma once

// Real images in: JPEG files decoded by libjpeg-turbo and PNG files by stb_image (Debian's
// libjpeg62-turbo and libstb), resized as Pillow resizes (core/image.cc says why not by a
// library), cropped and normalized into the float NCHW (or NHWC) batch a classifier takes.
// The preprocessing is stated and configurable; its default is torchvision's ImageNet
// recipe: shorter side resized to 256 (bilinear, antialiased on the way down), centre crop
// 224 x 224, values / 255, then (x - mean) / std with ImageNet's mean and std, RGB, NCHW.
// torchvision's own pipeline on the same files gives the same pixels (tests/core/image_test).

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace infermark {

struct ImagePreprocess {
  int64_t resize = 256;  // the shorter side resized to this; 0: not resized
  int64_t crop = 224;    // a centre crop of crop x crop; 0: not cropped
  std::array<float, 3> mean = {0.485F, 0.456F, 0.406F};  // of the channels, after scaling
  std::array<float, 3> std = {0.229F, 0.224F, 0.225F};
  float scale = 1.0F / 255.0F;  // applied to the 0..255 pixel values first
  bool bgr = false;             // channel order: RGB (default) or BGR
  bool nhwc = false;            // layout of the batch: NCHW (default) or NHWC
  // The most pixels an image may have, checked on its header before anything is allocated,
  // and after resizing: Pillow's limit against decompression bombs (twice
  // Image.MAX_IMAGE_PIXELS, past which it raises DecompressionBombError), so that what
  // torchvision's pipeline opens opens here too. Not an option of the command line.
  int64_t max_pixels = 2 * (int64_t{1024} * 1024 * 1024 / 4 / 3);

  // "resize 256, centre crop 224, /255, mean [0.485, 0.456, 0.406], std [0.229, 0.224,
  // 0.225], RGB, NCHW"
  std::string describe() const;
  // The image side it produces (crop, else resize; 0 when neither fixes it).
  int64_t side() const { return crop > 0 ? crop : resize; }
};

// Parses "key=value,..." over the defaults: resize=N, crop=N, mean=a:b:c, std=a:b:c,
// scale=F, order=rgb|bgr, layout=nchw|nhwc. Error naming the item that is wrong.
ImagePreprocess parse_image_preprocess(const std::string& text);

// The image files a path names: the file itself, or a folder's .jpg, .jpeg and .png files
// (any case), sorted by name. Error when there is none or the path does not exist.
std::vector<std::filesystem::path> image_files(const std::filesystem::path& file_or_folder);

// The images as one batch [N, 3, H, W] (or [N, H, W, 3]); every image must come out the same
// size (a crop, or a resize of images of one aspect ratio). Error naming the file that cannot
// be decoded (with the decoder's reason) or whose size differs.
Tensor load_images(const std::vector<std::filesystem::path>& files, const ImagePreprocess& p);

}  // namespace infermark
