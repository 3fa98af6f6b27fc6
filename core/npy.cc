#include "core/npy.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

// The header of an .npy file (NumPy's format 1.0, 2.0 or 3.0): "\x93NUMPY", the version, the
// header's length, then a Python dict literal ending in a newline, as numpy writes it:
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Parsed here, strictly, rather than by xtensor's reader, which trusts the header (an empty
// one, a negative or huge dimension) into undefined behaviour or an unbounded allocation.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;  // where the values start
};

// A reader of the dict: its keys and values, no more of Python than numpy writes.
class DictReader {
 public:
  explicit DictReader(const std::string& text) : s_(text) {}

  // Throws a short reason, which the caller puts in the file's error.
  NpyHeader read() {
    NpyHeader h;
    bool descr = false, order = false, shape = false;
    expect('{');
    while (!peek('}')) {
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        if (!peek('\'')) throw std::runtime_error("a dtype other than a simple one");
        h.descr = quoted();
        descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = word("True", "False");
        order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        shape = true;
      } else {
        throw std::runtime_error("an unknown key '" + key + "' in its header");
      }
      if (!peek('}')) expect(',');
    }
    expect('}');
    skip_spaces();
    if (at_ != s_.size()) throw std::runtime_error("text after its header's dict");
    if (!descr || !order || !shape)
      throw std::runtime_error("a header without 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  void skip_spaces() {
    while (at_ < s_.size() && (s_[at_] == ' ' || s_[at_] == '\n')) ++at_;
  }
  bool peek(char c) {
    skip_spaces();
    return at_ < s_.size() && s_[at_] == c;
  }
  void expect(char c) {
    if (!peek(c))
      throw std::runtime_error(std::string("a header that is not a dict (no '") + c +
                               "' where expected)");
    ++at_;
  }
  std::string quoted() {
    expect('\'');
    const size_t end = s_.find('\'', at_);
    if (end == std::string::npos) throw std::runtime_error("an unterminated string in its header");
    std::string v = s_.substr(at_, end - at_);
    at_ = end + 1;
    return v;
  }
  bool word(const char* yes, const char* no) {
    skip_spaces();
    for (const char* w : {yes, no})
      if (s_.compare(at_, std::strlen(w), w) == 0) {
        at_ += std::strlen(w);
        return w == yes;
      }
    throw std::runtime_error("a 'fortran_order' other than True or False");
  }
  // (2, 3), (4,) or (): dimensions of at most 2^40, and at most 2^40 elements in all.
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    uint64_t elements = 1;
    expect('(');
    while (!peek(')')) {
      if (at_ == s_.size() || !std::isdigit(static_cast<unsigned char>(s_[at_])))
        throw std::runtime_error("a shape that is not a tuple of sizes");
      uint64_t d = 0;
      while (at_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[at_]))) {
        d = d * 10 + static_cast<uint64_t>(s_[at_++] - '0');
        if (d > kMaxElements) throw std::runtime_error("a dimension too large to be a tensor");
      }
      if (d != 0 && elements > kMaxElements / d)
        throw std::runtime_error("more elements than any tensor here");
      elements *= d;
      dims.push_back(static_cast<int64_t>(d));
      if (!peek(')')) expect(',');
    }
    expect(')');
    return dims;
  }

  static constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  const std::string& s_;
  size_t at_ = 0;
};

// Reads the header; throws Error naming the file.
NpyHeader read_header(std::istream& in, const fs::path& path) {
  auto fail = [&](const std::string& why) {
    return Error("tensor file '" + path.string() + "' " + why);
  };
  char magic[8] = {};
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY")
    throw fail("is not a valid .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3)
    throw fail("is not a valid .npy file (format version " + std::to_string(major) + ")");
  unsigned char len[4] = {};
  if (!in.read(reinterpret_cast<char*>(len), major == 1 ? 2 : 4))
    throw fail("is cut short in its header");
  const uint64_t header_len =
      major == 1 ? len[0] | (len[1] << 8)
                 : len[0] | (len[1] << 8) | (len[2] << 16) | (uint64_t{len[3]} << 24);
  if (header_len > (1u << 20))
    throw fail("has a header of " + std::to_string(header_len) + " bytes");
  std::string text(header_len, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header_len)))
    throw fail("is cut short in its header");
  if (text.empty() || text.back() != '\n')
    throw fail("is not a valid .npy file (its header does not end with a newline)");
  NpyHeader h;
  try {
    h = DictReader(text).read();
  } catch (const std::runtime_error& e) {
    throw fail(std::string("is not a valid .npy file (") + e.what() + ")");
  }
  h.data_offset = (major == 1 ? 10 : 12) + header_len;
  return h;
}

}  // namespace

Tensor load_npy(const fs::path& path) {
  if (!fs::exists(path)) throw Error("tensor file '" + path.string() + "' does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tensor file '" + path.string() + "'");
  const NpyHeader h = read_header(in, path);
  if (h.descr != "<f4")
    throw Error("tensor file '" + path.string() + "' holds another dtype (" + h.descr +
                "); expected float32 (<f4)");
  if (h.fortran_order)
    throw Error("tensor file '" + path.string() + "' is in Fortran order; expected C order");
  Tensor t;
  t.shape = h.shape;
  // What the header promises, checked against the file's size before anything is allocated.
  const uint64_t bytes = static_cast<uint64_t>(t.numel()) * sizeof(float);
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec || size < h.data_offset + bytes)
    throw Error("tensor file '" + path.string() + "' is cut short: its header promises " +
                std::to_string(h.data_offset + bytes) + " bytes, the file has " +
                std::to_string(size));
  t.data.resize(static_cast<size_t>(t.numel()));
  if (!in.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(bytes)))
    throw Error("tensor file '" + path.string() + "' cannot be read");
  return t;
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
