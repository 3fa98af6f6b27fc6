// OpenCV DNN's backends and targets for the OpenCV plugin (see dnn_targets.h).

#include "backends/opencv/dnn_targets.h"

#include <algorithm>
#include <exception>
#include <opencv2/dnn.hpp>
#include <string>
#include <utility>
#include <vector>

namespace infermark::opencv_detail {

std::string backend_name(int id) {
  switch (id) {
    case cv::dnn::DNN_BACKEND_DEFAULT:
      return "default";
    case cv::dnn::DNN_BACKEND_HALIDE:
      return "halide";
    case cv::dnn::DNN_BACKEND_INFERENCE_ENGINE:
      return "inference_engine";
    case cv::dnn::DNN_BACKEND_OPENCV:
      return "opencv";
    case cv::dnn::DNN_BACKEND_VKCOM:
      return "vkcom";
    case cv::dnn::DNN_BACKEND_CUDA:
      return "cuda";
    case cv::dnn::DNN_BACKEND_WEBNN:
      return "webnn";
    case cv::dnn::DNN_BACKEND_TIMVX:
      return "timvx";
    default:
      return "backend_" + std::to_string(id);
  }
}

std::string target_name(int id) {
  switch (id) {
    case cv::dnn::DNN_TARGET_CPU:
      return "cpu";
    case cv::dnn::DNN_TARGET_OPENCL:
      return "opencl";
    case cv::dnn::DNN_TARGET_OPENCL_FP16:
      return "opencl_fp16";
    case cv::dnn::DNN_TARGET_MYRIAD:
      return "myriad";
    case cv::dnn::DNN_TARGET_VULKAN:
      return "vulkan";
    case cv::dnn::DNN_TARGET_FPGA:
      return "fpga";
    case cv::dnn::DNN_TARGET_CUDA:
      return "cuda";
    case cv::dnn::DNN_TARGET_CUDA_FP16:
      return "cuda_fp16";
    case cv::dnn::DNN_TARGET_HDDL:
      return "hddl";
    case cv::dnn::DNN_TARGET_NPU:
      return "npu";
    default:
      return "target_" + std::to_string(id);
  }
}

const Availability& availability() {
  static const Availability a = [] {
    Availability r;
    try {
      for (const auto& p : cv::dnn::getAvailableBackends()) {
        r.pairs.emplace_back(static_cast<int>(p.first), static_cast<int>(p.second));
        const std::string b = backend_name(p.first), t = target_name(p.second);
        if (std::find(r.backends.begin(), r.backends.end(), b) == r.backends.end())
          r.backends.push_back(b);
        if (std::find(r.targets.begin(), r.targets.end(), t) == r.targets.end())
          r.targets.push_back(t);
      }
      for (auto t : cv::dnn::getAvailableTargets(cv::dnn::DNN_BACKEND_OPENCV))
        r.devices.push_back(target_name(t));
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }();
  return a;
}

int backend_id(const std::string& name) {
  for (const auto& [b, t] : availability().pairs)
    if (backend_name(b) == name) return b;
  return -1;
}
int target_id(const std::string& name) {
  for (const auto& [b, t] : availability().pairs)
    if (target_name(t) == name) return t;
  return -1;
}

}  // namespace infermark::opencv_detail
