#include "backends/tvm/vm_profile.h"

#include <algorithm>

namespace infermark {

VmProfile::VmProfile(int64_t skip) : state_(std::make_shared<State>()) { state_->skip = skip; }

tvm::ffi::Function VmProfile::instrument() const {
  // instrument(func, func_symbol, before_run, ret_value, *args) -> 0 (go on with the call)
  return tvm::ffi::Function::FromPacked(
      [state = state_](tvm::ffi::PackedArgs args, tvm::ffi::Any* rv) {
        *rv = 0;
        if (state->runs <= state->skip || args.size() < 3) return;
        const auto now = std::chrono::steady_clock::now();
        if (args[2].cast<bool>()) {
          state->open.push_back({now, 0.0});
          return;
        }
        if (state->open.empty()) return;
        const double total_ms =
            std::chrono::duration<double, std::milli>(now - state->open.back().start).count();
        Sum& s = state->sums[args[1].cast<std::string>()];
        s.ms += total_ms - state->open.back().inner_ms;
        ++s.calls;
        state->open.pop_back();
        if (!state->open.empty()) state->open.back().inner_ms += total_ms;
      });
}

KernelProfile VmProfile::take() const {
  KernelProfile p;
  p.profiler = "TVM's Relax VM instrument (set_instrument), a timer around each call";
  p.runs = std::max<int64_t>(0, state_->runs - state_->skip);
  for (const auto& [symbol, s] : state_->sums) {
    KernelTime k;
    k.name = symbol;
    k.kind = symbol;
    k.ms = s.ms;
    k.calls = s.calls;
    p.kernels.push_back(std::move(k));
  }
  return p;
}

}  // namespace infermark
