#pragma once

#include <cstdint>
#include <map>
#include <openvino/openvino.hpp>
#include <string>

#include "core/profile.h"

namespace infermark {

// OpenVINO's per-node performance counters (ov::enable_profiling; what `benchmark_app -pc`
// prints), summed over the runs after the first `skip`. Each counter names a node of the
// compiled model's runtime graph; its rt_info "originalLayersNames" lists the nodes of the
// model as read (the ONNX nodes' outputs) that were fused into it.
class OpenVinoProfile {
 public:
  explicit OpenVinoProfile(int64_t skip) : skip_(skip) {}
  // After each infer() of the profiled request.
  void after_run(const ov::InferRequest& request);
  KernelProfile take(const ov::CompiledModel& compiled) const;

 private:
  struct Sum {
    std::string type, exec_type;
    double ms = 0;
    int64_t calls = 0;
  };
  int64_t skip_ = 0, runs_ = 0;
  std::map<std::string, Sum> sums_;  // by node name
};

}  // namespace infermark
