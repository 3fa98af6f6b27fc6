#pragma once

#include <tvm/ffi/function.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/profile.h"

namespace infermark {

// TVM's Relax VM has no per-call profiler in this build (no runtime.profiling functions), but
// it calls an instrument before and after each Call instruction (VirtualMachine's
// set_instrument): this times each call there, summed by the called function's symbol, over
// the runs after the first `skip`. The symbols are TVM's fused functions
// ("fused_conv2d_add_relu"), not the model's nodes: explain classes them by name. A call's time
// is its own (the calls it makes are counted apart).
class VmProfile {
 public:
  explicit VmProfile(int64_t skip);
  // The instrument to give the VM's "set_instrument".
  tvm::ffi::Function instrument() const;
  // Before each run of the model.
  void run_started() { ++state_->runs; }
  KernelProfile take() const;

 private:
  struct Sum {
    double ms = 0;
    int64_t calls = 0;
  };
  struct State {
    int64_t skip = 0, runs = 0;
    // Calls begun, innermost last, with the time of the calls made inside them: a call's own
    // time leaves those out, so that nothing is counted twice.
    struct Open {
      std::chrono::steady_clock::time_point start;
      double inner_ms = 0;
    };
    std::vector<Open> open;
    std::map<std::string, Sum> sums;
  };
  std::shared_ptr<State> state_;
};

}  // namespace infermark
