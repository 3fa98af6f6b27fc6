#include "core/npy.h"

#include <cmath>
#include <fstream>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;

Tensor load_npy(const fs::path& path) {
  if (!fs::exists(path)) throw Error("tensor file '" + path.string() + "' does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tensor file '" + path.string() + "'");
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
