#include "core/error.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"

namespace infermark {

// image: [1, C, H, W]; given a larger batch, its first image is the query.
ScenarioResult run_single_stream(Engine& engine, const Tensor& image, const RunLimits& limits,
                                 Clock& clock, const WindowMeters& window) {
  using namespace scenarios_internal;
  check_images(image, "single-stream image");
  check_limits(limits);
  const TensorView in = view(image, 1);
  Tensor output;
  LoopResult loop = timed_loop(
      clock, limits, [&] { engine.run(in, output); }, window);
  return loop_result(std::move(loop), 1, limits);
}

}  // namespace infermark
