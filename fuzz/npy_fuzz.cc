// libFuzzer target for .npy tensor files (core/npy.h), which carry inputs and calibration
// sets from outside: the input is the file's bytes.
//
// Error is the expected answer to a bad file. A finding is a crash, a sanitizer report, an
// allocation past libFuzzer's limit (a header's claim believed), any other exception, or a
// load that breaks what callers rely on: the tensor holds exactly its shape's elements, and
// what was loaded survives saving and loading again bit for bit.

#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/npy.h"
#include "fuzz_input.h"

namespace {

using infermark::Tensor;
using infermark::fuzz::finding;

// The elements a shape promises; -1 when a dimension is negative or the count overflows.
int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

void round_trip(const Tensor& t) {
  const std::filesystem::path again = infermark::fuzz::work_dir() / "again.npy";
  Tensor back;
  try {
    infermark::save_npy(t, again);
    back = infermark::load_npy(again);
  } catch (const infermark::Error& e) {
    finding("save and load again", std::string("what loaded does not save and load: ") + e.what());
  }
  if (back.shape != t.shape || back.data.size() != t.data.size() ||
      (!t.data.empty() &&
       std::memcmp(back.data.data(), t.data.data(), t.data.size() * sizeof(float)) != 0))
    finding("save and load again", "the tensor comes back different, shape " +
                                       infermark::shape_string(t.shape) + " to " +
                                       infermark::shape_string(back.shape));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path file = infermark::fuzz::write_input("input.npy", data, size);
  try {
    const Tensor t = infermark::load_npy(file);
    const int64_t n = elements(t.shape);
    if (n < 0 || static_cast<uint64_t>(n) != t.data.size())
      finding("the tensor holds the wrong number of elements",
              "shape " + infermark::shape_string(t.shape) + " but " +
                  std::to_string(t.data.size()) + " values");
    round_trip(t);
  } catch (const infermark::Error&) {
    // The loader's answer to a bad file.
  } catch (const std::exception& e) {
    finding("an exception other than Error escaped", e.what());
  }
  return 0;
}
