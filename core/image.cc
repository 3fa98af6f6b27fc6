#include "core/image.h"

#include <jerror.h>  // libjpeg's message codes: JWRN_JPEG_EOF
#include <jpeglib.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/error.h"
#include "core/text.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

std::string three(const std::array<float, 3>& v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%g, %g, %g]", v[0], v[1], v[2]);
  return buf;
}

float to_float(const std::string& item, const std::string& value) {
  try {
    size_t used = 0;
    const float f = std::stof(value, &used);
    if (used == value.size() && std::isfinite(f)) return f;
  } catch (const std::exception&) {
  }
  throw Error("image preprocessing '" + item + "': '" + value + "' is not a number");
}

int64_t to_size(const std::string& item, const std::string& value) {
  const float f = to_float(item, value);
  if (f < 0 || f != std::floor(f) || f > 65536)
    throw Error("image preprocessing '" + item + "': '" + value +
                "' is not a size in pixels (0 to 65536)");
  return static_cast<int64_t>(f);
}

// "" when a w x h image is within `max_pixels` (ImagePreprocess::max_pixels), else why not.
std::string too_large(int64_t w, int64_t h, int64_t max_pixels) {
  if (w <= max_pixels / std::max<int64_t>(h, 1)) return "";
  return std::to_string(w) + "x" + std::to_string(h) + " pixels, more than the " +
         std::to_string(max_pixels) + " an image may have";
}

// One decoded image, RGB, 8 bits per channel: from libjpeg, or from stb_image (PNG and the
// rest it reads).
struct Decoded {
  std::unique_ptr<unsigned char, decltype(&stbi_image_free)> pixels{nullptr, stbi_image_free};
  std::vector<unsigned char> jpeg;
  int width = 0, height = 0;
  const unsigned char* data() const { return pixels ? pixels.get() : jpeg.data(); }
};

// libjpeg's errors, turned into a jump back to the decoder with the message kept.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  void (*emit_message)(j_common_ptr, int);  // libjpeg's own, for its other warnings
};

// JPEG through libjpeg-turbo, the decoder Pillow uses (so torchvision's pipeline sees the
// same pixels: another decoder's IDCT and chroma upsampling move them by a level or two).
// RGB, 8 bits; false with `why` when it is not a JPEG libjpeg can decode.
bool decode_jpeg(const fs::path& file, int64_t max_pixels, std::vector<unsigned char>& pixels,
                 int& width, int& height, std::string& why) {
  FILE* in = std::fopen(file.c_str(), "rb");
  if (!in) {
    why = "cannot be opened";
    return false;
  }
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.mgr);
  error.mgr.error_exit = [](j_common_ptr c) {
    auto* e = reinterpret_cast<JpegError*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
  };
  // A file that ends before its image does is an error, as in Pillow ("image file is
  // truncated"), rather than the rest of the image filled in: a header's size is not decoded
  // from a few bytes.
  error.emit_message = error.mgr.emit_message;
  error.mgr.emit_message = [](j_common_ptr c, int level) {
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) (*c->err->error_exit)(c);
    reinterpret_cast<JpegError*>(c->err)->emit_message(c, level);
  };
  if (setjmp(error.jump)) {
    why = error.message;
    jpeg_destroy_decompress(&info);
    std::fclose(in);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, in);
  jpeg_read_header(&info, TRUE);
  if (const std::string why_not = too_large(info.image_width, info.image_height, max_pixels);
      !why_not.empty()) {
    why = "its header says " + why_not;
    jpeg_destroy_decompress(&info);
    std::fclose(in);
    return false;
  }
  info.out_color_space = JCS_RGB;
  jpeg_start_decompress(&info);
  width = static_cast<int>(info.output_width);
  height = static_cast<int>(info.output_height);
  pixels.resize(static_cast<size_t>(width) * height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels.data() + static_cast<size_t>(info.output_scanline) * width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  std::fclose(in);
  return true;
}

// The file's first bytes: a JPEG's SOI marker or PNG's signature.
enum class Format { kJpeg, kPng, kOther };
Format format_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char magic[8] = {};
  in.read(reinterpret_cast<char*>(magic), 8);
  if (magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) return Format::kJpeg;
  const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return std::equal(png, png + 8, magic) ? Format::kPng : Format::kOther;
}

// A PNG's chunks, walked before stb_image reads them: IHDR's size against `max_pixels`, and
// every chunk's length against what is left of the file (stb_image allocates what a chunk
// claims before reading it). "" when they are within bounds: stb_image says what else is wrong.
std::string png_out_of_bounds(const fs::path& file, int64_t max_pixels) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) return "";
  std::ifstream in(file, std::ios::binary);
  auto be32 = [](const unsigned char* b) {
    return (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
  };
  unsigned char head[16];  // a chunk's length (big-endian) and type; IHDR's width and height
  for (uint64_t at = 8;
       in.seekg(static_cast<std::streamoff>(at)) && in.read(reinterpret_cast<char*>(head), 8);) {
    const uint64_t length = be32(head);
    if (std::memcmp(head + 4, "IHDR", 4) == 0 && length >= 8 &&
        in.read(reinterpret_cast<char*>(head + 8), 8))
      if (const std::string why = too_large(static_cast<int64_t>(be32(head + 8)),
                                            static_cast<int64_t>(be32(head + 12)), max_pixels);
          !why.empty())
        return "its header says " + why;
    at += 12 + length;  // length, type, data, CRC
    if (at > size)
      return "it is cut short: a chunk of " + std::to_string(length) + " bytes ends past its end";
    if (std::memcmp(head + 4, "IEND", 4) == 0) break;
  }
  return "";
}

Decoded decode(const fs::path& file, int64_t max_pixels) {
  Decoded d;
  const Format format = format_of(file);
  if (format == Format::kJpeg) {
    std::string why;
    if (!decode_jpeg(file, max_pixels, d.jpeg, d.width, d.height, why))
      throw Error("image '" + file.string() + "' cannot be decoded: " + why);
    return d;
  }
  // Only PNG goes to stb_image: its readers of other formats (its own JPEG reader among them,
  // which reads out of bounds on a broken Huffman table) are not what this takes.
  if (format != Format::kPng)
    throw Error("image '" + file.string() + "' cannot be decoded: it is neither a JPEG nor a PNG");
  if (const std::string why = png_out_of_bounds(file, max_pixels); !why.empty())
    throw Error("image '" + file.string() + "' cannot be decoded: " + why);
  int channels = 0;
  d.pixels.reset(stbi_load(file.c_str(), &d.width, &d.height, &channels, 3));
  if (!d.pixels) {
    const char* why = stbi_failure_reason();
    throw Error("image '" + file.string() +
                "' cannot be decoded: " + (why ? std::string(why) : std::string("unknown reason")));
  }
  return d;
}

// Resampling as Pillow's Image.resize(size, BILINEAR) does it, which torchvision's Resize
// calls on images: a separable triangle filter whose support grows with the reduction
// (antialiased), coefficients in 22-bit fixed point, the horizontal pass first, each pass
// rounded and clipped to 8 bits (Pillow's precompute_coeffs, ImagingResampleHorizontal_8bpc
// and ImagingResampleVertical_8bpc). Written here because Debian's stb_image_resize 0.97
// asserts on its triangle filter at most reduction ratios ("stbir__normalize_downsample_
// coefficients: Assertion `total < 1.1f' failed", e.g. 500x375 to 341x256), and because the
// accuracy comparison wants the pixels the model's own pipeline gives.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coefficients {
  std::vector<int> first, count;  // per output pixel: its first input pixel and how many
  std::vector<int32_t> weights;   // per output pixel, `width` of them (fixed point)
  int width = 0;
};

Coefficients coefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;  // the triangle's support is 1
  Coefficients c;
  c.width = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.width, 0);
  std::vector<double> k(c.width);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0;
    for (int x = 0; x < xmax; ++x) {
      const double t = std::fabs((x + xmin - center + 0.5) * ss);
      k[x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<size_t>(xx) * c.width + x] = static_cast<int32_t>(
          w < 0 ? w * (1 << kPrecisionBits) - 0.5 : w * (1 << kPrecisionBits) + 0.5);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

unsigned char clip8(int64_t v) {
  v >>= kPrecisionBits;
  return static_cast<unsigned char>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// RGB, 8 bits, w x h to nw x nh.
std::vector<unsigned char> resize_rgb(const unsigned char* in, int w, int h, int nw, int nh) {
  std::vector<unsigned char> mid(static_cast<size_t>(nw) * h * 3);
  const Coefficients cx = coefficients(w, nw);
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < nw; ++xx)
      for (int ch = 0; ch < 3; ++ch) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        const int32_t* k = &cx.weights[static_cast<size_t>(xx) * cx.width];
        for (int x = 0; x < cx.count[xx]; ++x)
          ss += int64_t{in[(static_cast<size_t>(y) * w + cx.first[xx] + x) * 3 + ch]} * k[x];
        mid[(static_cast<size_t>(y) * nw + xx) * 3 + ch] = clip8(ss);
      }
  std::vector<unsigned char> out(static_cast<size_t>(nw) * nh * 3);
  const Coefficients cy = coefficients(h, nh);
  for (int yy = 0; yy < nh; ++yy)
    for (int x = 0; x < nw; ++x)
      for (int ch = 0; ch < 3; ++ch) {
        int64_t ss = int64_t{1} << (kPrecisionBits - 1);
        const int32_t* k = &cy.weights[static_cast<size_t>(yy) * cy.width];
        for (int y = 0; y < cy.count[yy]; ++y)
          ss += int64_t{mid[(static_cast<size_t>(cy.first[yy] + y) * nw + x) * 3 + ch]} * k[y];
        out[(static_cast<size_t>(yy) * nw + x) * 3 + ch] = clip8(ss);
      }
  return out;
}

}  // namespace

std::string ImagePreprocess::describe() const {
  std::ostringstream s;
  if (resize > 0) s << "resize shorter side to " << resize << " (bilinear, antialiased), ";
  if (crop > 0) s << "centre crop " << crop << "x" << crop << ", ";
  s << "x " << scale << ", mean " << three(mean) << ", std " << three(std) << ", "
    << (bgr ? "BGR" : "RGB") << ", " << (nhwc ? "NHWC" : "NCHW");
  return s.str();
}

ImagePreprocess parse_image_preprocess(const std::string& text) {
  ImagePreprocess p;
  std::istringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw Error("image preprocessing '" + item + "' is not KEY=VALUE");
    const std::string key = lower(item.substr(0, eq)), value = item.substr(eq + 1);
    if (key == "resize") {
      p.resize = to_size(item, value);
    } else if (key == "crop") {
      p.crop = to_size(item, value);
    } else if (key == "mean" || key == "std") {
      std::array<float, 3> v{};
      std::istringstream parts(value);
      std::string part;
      size_t n = 0;
      while (std::getline(parts, part, ':')) {
        if (n == 3) break;
        v[n++] = to_float(item, part);
      }
      if (n != 3 || parts.rdbuf()->in_avail() > 0)
        throw Error("image preprocessing '" + item + "': expected three values a:b:c");
      if (key == "std" && std::any_of(v.begin(), v.end(), [](float x) { return x <= 0; }))
        throw Error("image preprocessing '" + item + "': std must be positive");
      (key == "mean" ? p.mean : p.std) = v;
    } else if (key == "scale") {
      p.scale = to_float(item, value);
    } else if (key == "order") {
      if (lower(value) != "rgb" && lower(value) != "bgr")
        throw Error("image preprocessing '" + item + "': order is rgb or bgr");
      p.bgr = lower(value) == "bgr";
    } else if (key == "layout") {
      if (lower(value) != "nchw" && lower(value) != "nhwc")
        throw Error("image preprocessing '" + item + "': layout is nchw or nhwc");
      p.nhwc = lower(value) == "nhwc";
    } else {
      throw Error("image preprocessing key '" + key +
                  "' is unknown (valid: resize, crop, mean, std, scale, order, layout)");
    }
  }
  return p;
}

std::vector<fs::path> image_files(const fs::path& path) {
  std::error_code ec;
  auto is_image = [](const fs::path& f) {
    const std::string ext = lower(f.extension().string());
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
  };
  if (fs::is_regular_file(path, ec)) return {path};
  if (!fs::is_directory(path, ec))
    throw Error("images '" + path.string() + "': no such file or folder");
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path());
  if (ec) throw Error("images '" + path.string() + "': " + ec.message());
  if (files.empty())
    throw Error("images '" + path.string() + "': no .jpg, .jpeg or .png file in it");
  std::sort(files.begin(), files.end());
  return files;
}

Tensor load_images(const std::vector<fs::path>& files, const ImagePreprocess& p) {
  if (files.empty()) throw Error("no image to load");
  Tensor batch;
  int64_t out_h = 0, out_w = 0;
  for (size_t n = 0; n < files.size(); ++n) {
    const fs::path& file = files[n];
    const Decoded d = decode(file, p.max_pixels);
    int64_t h = d.height, w = d.width;
    std::vector<unsigned char> pixels(d.data(), d.data() + h * w * 3);
    if (p.resize > 0) {
      // torchvision's rule: the shorter side to `resize`, the longer one in proportion
      // (truncated).
      const bool portrait = h > w;
      const int64_t short_side = portrait ? w : h, long_side = portrait ? h : w;
      const int64_t new_short = p.resize, new_long = p.resize * long_side / short_side;
      const int64_t nh = portrait ? new_long : new_short, nw = portrait ? new_short : new_long;
      if (const std::string why = too_large(nw, nh, p.max_pixels); !why.empty())
        throw Error("image '" + file.string() + "' is " + std::to_string(w) + "x" +
                    std::to_string(h) + ": resized, it would be " + why);
      if (nh != h || nw != w)
        pixels = resize_rgb(pixels.data(), static_cast<int>(w), static_cast<int>(h),
                            static_cast<int>(nw), static_cast<int>(nh));
      h = nh;
      w = nw;
    }
    int64_t top = 0, left = 0, ch = h, cw = w;
    if (p.crop > 0) {
      if (p.crop > h || p.crop > w)
        throw Error("image '" + file.string() + "' is " + std::to_string(w) + "x" +
                    std::to_string(h) + " after resizing, smaller than the crop " +
                    std::to_string(p.crop));
      // torchvision's centre: Python's round, halves to even.
      top = static_cast<int64_t>(std::nearbyint(static_cast<double>(h - p.crop) / 2.0));
      left = static_cast<int64_t>(std::nearbyint(static_cast<double>(w - p.crop) / 2.0));
      ch = cw = p.crop;
    }
    if (n == 0) {
      out_h = ch;
      out_w = cw;
      const auto count = static_cast<int64_t>(files.size());
      batch.resize(p.nhwc ? std::vector<int64_t>{count, ch, cw, 3}
                          : std::vector<int64_t>{count, 3, ch, cw});
    } else if (ch != out_h || cw != out_w) {
      throw Error("image '" + file.string() + "' comes out " + std::to_string(cw) + "x" +
                  std::to_string(ch) + ", the batch's first image " + std::to_string(out_w) + "x" +
                  std::to_string(out_h) + ": crop them to one size");
    }
    float* out = batch.data.data() + static_cast<int64_t>(n) * 3 * ch * cw;
    for (int64_t y = 0; y < ch; ++y)
      for (int64_t x = 0; x < cw; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const int64_t src_c = p.bgr ? 2 - c : c;  // channel c of the output
          const float v = pixels[static_cast<size_t>(((top + y) * w + (left + x)) * 3 + src_c)];
          const float norm = (v * p.scale - p.mean[src_c]) / p.std[src_c];
          const int64_t at = p.nhwc ? (y * cw + x) * 3 + c : (c * ch + y) * cw + x;
          out[at] = norm;
        }
  }
  return batch;
}

}  // namespace infermark
