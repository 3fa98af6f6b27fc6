#include "core/npy.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

// What the header of an .npy file promises, checked against the file's size before anything
// is allocated: a truncated file, or a header claiming more data than the file holds, is refused
// rather than read into uninitialised or unbounded memory. Only the shape is read here; the
// dtype and order are xtensor's to check. Returns "" when the file keeps its promise.
std::string broken_promise(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY") return "";  // xtensor says
  const int major = static_cast<unsigned char>(magic[6]);
  uint64_t header_len = 0, prefix = 0;
  unsigned char len[4] = {};
  if (major == 1) {
    if (!in.read(reinterpret_cast<char*>(len), 2)) return "is cut short in its header";
    header_len = len[0] | (len[1] << 8);
    prefix = 10;
  } else {
    if (!in.read(reinterpret_cast<char*>(len), 4)) return "is cut short in its header";
    header_len = len[0] | (len[1] << 8) | (len[2] << 16) | (uint64_t{len[3]} << 24);
    prefix = 12;
  }
  if (header_len > (1u << 20)) return "has a header of " + std::to_string(header_len) + " bytes";
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len)))
    return "is cut short in its header";
  const size_t at = header.find("'shape'");
  const size_t open = header.find('(', at), close = header.find(')', open);
  if (at == std::string::npos || open == std::string::npos || close == std::string::npos)
    return "";  // not ours to judge: xtensor refuses it in its words
  uint64_t elements = 1;
  for (size_t i = open + 1; i < close;) {
    if (!std::isdigit(static_cast<unsigned char>(header[i]))) {
      ++i;
      continue;
    }
    uint64_t d = 0;
    while (i < close && std::isdigit(static_cast<unsigned char>(header[i]))) {
      d = d * 10 + static_cast<uint64_t>(header[i++] - '0');
      if (d > (uint64_t{1} << 40)) return "claims a dimension too large to be a tensor";
    }
    if (d != 0 && elements > (uint64_t{1} << 40) / d)
      return "claims more elements than any tensor here";
    elements *= d;
  }
  const size_t descr = header.find("'descr'");
  const size_t quote =
      descr == std::string::npos ? std::string::npos : header.find('\'', descr + 7);
  uint64_t item = 4;
  if (quote != std::string::npos && quote + 3 < header.size() &&
      std::isdigit(static_cast<unsigned char>(header[quote + 3])))
    item = static_cast<uint64_t>(std::atoi(header.c_str() + quote + 3));
  const uint64_t want = prefix + header_len + elements * item;
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (!ec && size < want)
    return "is cut short: its header promises " + std::to_string(want) + " bytes, the file has " +
           std::to_string(size);
  return "";
}

}  // namespace

Tensor load_npy(const fs::path& path) {
  if (!fs::exists(path)) throw Error("tensor file '" + path.string() + "' does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tensor file '" + path.string() + "'");
  if (const std::string why = broken_promise(path); !why.empty())
    throw Error("tensor file '" + path.string() + "' " + why);
  try {
    auto file = xt::detail::load_npy_file(in);
    auto array = file.cast<float, xt::layout_type::row_major>();
    Tensor t;
    for (size_t d : array.shape()) t.shape.push_back(static_cast<int64_t>(d));
    t.data.assign(array.begin(), array.end());
    return t;
  } catch (const std::exception& e) {
    std::string why = e.what();
    if (why.find("formats not matching") != std::string::npos)
      why = "holds another dtype (" + why.substr(why.find("matching") + 9) +
            "); expected float32 (<f4)";
    else if (why.find("layout") != std::string::npos)
      why = "is in Fortran order; expected C order";
    else
      why = "is not a valid .npy file (" + why + ")";
    throw Error("tensor file '" + path.string() + "' " + why);
  }
}

void save_npy(const Tensor& tensor, const fs::path& path) {
  std::vector<size_t> shape(tensor.shape.begin(), tensor.shape.end());
  auto view = xt::adapt(tensor.data.data(), tensor.data.size(), xt::no_ownership(), shape);
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("cannot write tensor file '" + path.string() + "'");
  xt::detail::dump_npy_stream(out, view);
  if (!out) throw Error("cannot write tensor file '" + path.string() + "'");
}

Tensor random_input(const std::vector<int64_t>& shape, uint64_t seed) {
  Tensor t;
  t.resize(shape);
  uint64_t state = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  };
  for (size_t i = 0; i < t.data.size(); i += 2) {  // Box-Muller
    const double r = std::sqrt(-2.0 * std::log(1.0 - next()));
    const double a = 2.0 * M_PI * next();
    t.data[i] = static_cast<float>(r * std::cos(a));
    if (i + 1 < t.data.size()) t.data[i + 1] = static_cast<float>(r * std::sin(a));
  }
  return t;
}

}  // namespace infermark
