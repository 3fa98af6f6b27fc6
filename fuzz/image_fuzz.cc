// libFuzzer target for image decoding (core/image.h): JPEG through libjpeg-turbo, PNG through
// stb_image, then the resize, crop and normalization into a batch. The first byte picks the
// preprocessing (so that the seeds in fuzz/corpus/image/ start with it); the rest is the file:
//
//   bits 0-1  resize: none, 8, 32 or 256 (torchvision's default)
//   bits 2-3  crop: none, 4, 16 or 224 (torchvision's default)
//   bit 4     layout NHWC instead of NCHW
//   bit 5     channel order BGR instead of RGB
//
// Images here may have 2^20 pixels at most (ImagePreprocess::max_pixels), not the 179 million
// of Pillow's limit: decoded, resized and normalized under ASan, so large an image takes a minute
// or two, which libFuzzer would report as a hang. The limit's check is the same code at any size.
//
// Error is the expected answer to a bad file. A finding is a crash, a sanitizer report, an
// allocation past libFuzzer's limit (a header's claim believed), any other exception, or a
// batch that breaks what callers rely on: [1, 3, H, W] (or [1, H, W, 3]) with H and W what the
// preprocessing fixes, every value finite.

#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/image.h"
#include "fuzz_input.h"

namespace {

using infermark::fuzz::finding;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  infermark::ImagePreprocess p;
  p.max_pixels = int64_t{1} << 20;
  const int64_t resizes[] = {0, 8, 32, 256}, crops[] = {0, 4, 16, 224};
  p.resize = resizes[data[0] & 3];
  p.crop = crops[(data[0] >> 2) & 3];
  p.nhwc = (data[0] >> 4) & 1;
  p.bgr = (data[0] >> 5) & 1;
  const std::filesystem::path file = infermark::fuzz::write_input("input.img", data + 1, size - 1);
  try {
    const infermark::Tensor t = infermark::load_images({file}, p);
    const std::string shape = infermark::shape_string(t.shape);
    if (t.shape.size() != 4 || t.shape[0] != 1 || t.shape[p.nhwc ? 3 : 1] != 3)
      finding("the batch is not one RGB image", shape);
    const int64_t h = t.shape[p.nhwc ? 1 : 2], w = t.shape[p.nhwc ? 2 : 3];
    if (h < 1 || w < 1) finding("the image is empty", shape);
    if (p.crop > 0 && (h != p.crop || w != p.crop)) finding("the crop is not its size", shape);
    if (p.crop == 0 && p.resize > 0 && std::min(h, w) != p.resize)
      finding("the shorter side is not the resize", shape);
    if (static_cast<int64_t>(t.data.size()) != 3 * h * w)
      finding("the batch holds the wrong number of values", shape);
    for (float v : t.data)
      if (!std::isfinite(v)) finding("a value is not finite", shape);
  } catch (const infermark::Error&) {
    // The decoder's answer to a bad file.
  } catch (const std::exception& e) {
    finding("an exception other than Error escaped", e.what());
  }
  return 0;
}
