#include "cli/run_model.h"

#include <algorithm>
#include <chrono>
#include <numeric>

namespace infermark::cli {
namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

RunResult run_once(Backend& backend, const LoadRequest& request, const Tensor& input) {
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> engine = backend.load(request);
  r.load_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  engine->run(view(input), r.output);
  r.first_run_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  engine->run(view(input), r.output);
  r.second_run_ms = ms_since(t0);
  r.settings_in_effect = engine->settings_in_effect();
  return r;
}

std::vector<int64_t> top_k(const Tensor& t, int64_t row, int k) {
  const int64_t classes = t.shape.back();
  const float* p = t.data.data() + row * classes;
  std::vector<int64_t> idx(classes);
  std::iota(idx.begin(), idx.end(), 0);
  k = static_cast<int>(std::min<int64_t>(k, classes));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [p](int64_t a, int64_t b) { return p[a] > p[b]; });
  idx.resize(k);
  return idx;
}

}  // namespace infermark::cli
