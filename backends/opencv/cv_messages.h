#pragma once

// OpenCV's messages and logs, as the plugin reports them (opencv_backend.cc).

#include <cstdlib>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <string>
#include <vector>

namespace infermark::opencv_detail {

std::string join(const std::vector<std::string>& items);

// OpenCV's message on one line without its source locations: "OpenCV(4.6.0) file:line:
// error: (-2:Unspecified error) X in function 'f'" becomes X; the ONNX importer nests a
// layer's exception in its own ("Node [Relx@ai.onnx]:(onnx_node!n) parse error: ...").
std::string one_line(const std::string& text);

std::string cv_message(const cv::Exception& e);

// "TBB (ver 2021.8 interface 12080)": the library's own build information.
std::string parallel_framework();

// Valid models that use what this OpenCV cannot run.
bool is_unsupported(const cv::Exception& e);

// "Relx" from "Node [Relx@ai.onnx]:(onnx_node!Relx_0) parse error: Can't create layer ...".
std::string unknown_operator(const std::string& message);

// "Clip" from "Node [Clip@ai.onnx]:(onnx_node!x) parse error: ...": the importer knows the
// operator but not the form this node has (Clip's bounds as inputs, an empty optional input),
// a gap of OpenCV's importer rather than of the model.
std::string operator_parse_error(const std::string& message);

// OpenCV's log lines repeat what our Error says (and print before it). Quiet while loading,
// unless the user asked for a level with OPENCV_LOG_LEVEL.
class QuietOpenCvLog {
 public:
  QuietOpenCvLog() {
    if (!std::getenv("OPENCV_LOG_LEVEL")) {
      previous_ = cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_FATAL);
      active_ = true;
    }
  }
  ~QuietOpenCvLog() {
    if (active_) cv::utils::logging::setLogLevel(previous_);
  }
  QuietOpenCvLog(const QuietOpenCvLog&) = delete;
  QuietOpenCvLog& operator=(const QuietOpenCvLog&) = delete;

 private:
  bool active_ = false;
  cv::utils::logging::LogLevel previous_ = cv::utils::logging::LOG_LEVEL_WARNING;
};

}  // namespace infermark::opencv_detail
