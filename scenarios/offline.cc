#include "core/error.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"

namespace infermark {

ScenarioResult run_offline(Engine& engine, const Tensor& input, const RunLimits& limits,
                           Clock& clock, const WindowMeters& window) {
  using namespace scenarios_internal;
  check_images(input, "offline input");
  check_limits(limits);
  const TensorView in = view(input);
  Tensor output;
  LoopResult loop = timed_loop(
      clock, limits, [&] { engine.run(in, output); }, window);
  return loop_result(std::move(loop), input.shape[0], limits);
}

}  // namespace infermark
