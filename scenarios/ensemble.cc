#include <string>
#include <vector>

#include "core/error.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"

namespace infermark {

ScenarioResult run_ensemble(const std::vector<Engine*>& engines, const Tensor& input,
                            const RunLimits& limits, Clock& clock, Tensor* averaged_output,
                            const WindowMeters& window) {
  using namespace scenarios_internal;
  if (engines.empty()) throw Error("ensemble engines: none given");
  for (size_t k = 0; k < engines.size(); ++k)
    if (engines[k] == nullptr) throw Error("ensemble engine " + std::to_string(k) + " is null");
  check_images(input, "ensemble input");
  check_limits(limits);

  const TensorView in = view(input);
  const size_t n_models = engines.size();
  std::vector<Tensor> outputs(n_models);
  Tensor average;  // sized by the first iteration (warm-up), then reused
  const float inv = 1.0f / static_cast<float>(n_models);

  LoopResult loop = timed_loop(
      clock, limits,
      [&] {
        for (size_t k = 0; k < n_models; ++k) engines[k]->run(in, outputs[k]);
        const std::vector<int64_t>& shape = outputs[0].shape;
        for (size_t k = 1; k < n_models; ++k)
          if (outputs[k].shape != shape)
            throw Error("ensemble engine " + std::to_string(k) + " output shape " +
                        shape_string(outputs[k].shape) + " differs from engine 0's " +
                        shape_string(shape));
        if (average.shape != shape) average.resize(shape);
        float* a = average.data.data();
        const size_t n = average.data.size();
        const float* o0 = outputs[0].data.data();
        for (size_t i = 0; i < n; ++i) a[i] = o0[i];
        for (size_t k = 1; k < n_models; ++k) {
          const float* o = outputs[k].data.data();
          for (size_t i = 0; i < n; ++i) a[i] += o[i];
        }
        for (size_t i = 0; i < n; ++i) a[i] *= inv;
      },
      window);

  ScenarioResult r = loop_result(std::move(loop), input.shape[0], limits);
  r.metrics["models"] = static_cast<int64_t>(n_models);
  r.metrics["output_shape"] = average.shape;
  if (averaged_output != nullptr) *averaged_output = average;
  return r;
}

}  // namespace infermark
