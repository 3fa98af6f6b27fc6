#pragma once

// OpenCV DNN's backends and targets for the OpenCV plugin: their names, and the (backend,
// target) pairs this OpenCV build offers on this machine. Kept apart from opencv_backend.cc
// so that each file stays short.

#include <string>
#include <utility>
#include <vector>

namespace infermark::opencv_detail {

std::string backend_name(int id);
std::string target_name(int id);

// The (backend, target) pairs this OpenCV build offers on this machine, asked once: the
// first call probes OpenCL and the other accelerators.
struct Availability {
  std::vector<std::pair<int, int>> pairs;
  std::vector<std::string> backends;  // names, in OpenCV's order
  std::vector<std::string> targets;   // of any backend
  std::vector<std::string> devices;   // targets of DNN_BACKEND_OPENCV
  std::string error;                  // why asking failed
};

const Availability& availability();

// The id of the backend or target of that name among the available pairs; -1 when none.
int backend_id(const std::string& name);
int target_id(const std::string& name);

}  // namespace infermark::opencv_detail
