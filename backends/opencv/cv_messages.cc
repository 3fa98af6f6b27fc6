#include "backends/opencv/cv_messages.h"

#include <algorithm>

#include "core/text.h"

namespace infermark::opencv_detail {

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

// OpenCV's message on one line without its source locations: "OpenCV(4.6.0) file:line:
// error: (-2:Unspecified error) X in function 'f'" becomes X; the ONNX importer nests a
// layer's exception in its own ("Node [Relx@ai.onnx]:(onnx_node!n) parse error: ...").
std::string one_line(const std::string& text) {
  std::string m;
  for (char c : text) {
    const bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space) {
      if (!m.empty() && m.back() != ' ') m += ' ';
    } else {
      m += c;
    }
  }
  // "> " opens each nested line of the importer's message. (" > " becomes " " by erasing its
  // "> ": replace(p, 3, " ") draws GCC 12's false -Wrestrict overlap warning.)
  for (size_t p; (p = m.find(" > ")) != std::string::npos;) m.erase(p + 1, 2);
  if (m.rfind("> ", 0) == 0) m.erase(0, 2);
  // "OpenCV(4.6.0) ./modules/x.cpp:110: error: (-2:Unspecified error) " prefixes.
  for (size_t p; (p = m.find("OpenCV(")) != std::string::npos;) {
    const size_t e = m.find("error: (", p);
    if (e == std::string::npos) break;
    const size_t close = m.find(") ", e);
    if (close == std::string::npos) break;
    m.erase(p, close + 2 - p);
  }
  // " in function 'getLayerInstance'" suffixes.
  for (size_t p; (p = m.find(" in function '")) != std::string::npos;) {
    const size_t close = m.find('\'', p + 14);
    m.erase(p, close == std::string::npos ? std::string::npos : close + 1 - p);
  }
  // The importer closes its nested message with a "]" of its own.
  auto unmatched_close = [&] {
    return m.back() == ']' &&
           std::count(m.begin(), m.end(), ']') > std::count(m.begin(), m.end(), '[');
  };
  while (!m.empty() && (m.back() == ' ' || m.back() == '>' || unmatched_close())) m.pop_back();
  return m.empty() ? "unknown OpenCV error" : m;
}

std::string cv_message(const cv::Exception& e) {
  return one_line(e.err.empty() ? e.what() : e.err);
}

// "TBB (ver 2021.8 interface 12080)": the library's own build information.
std::string parallel_framework() {
  static const std::string framework = [] {
    const std::string& info = cv::getBuildInformation();
    const std::string key = "Parallel framework:";
    const size_t p = info.find(key);
    if (p == std::string::npos) return std::string("unknown");
    const size_t end = info.find('\n', p);
    return one_line(
        info.substr(p + key.size(), end == std::string::npos ? end : end - p - key.size()));
  }();
  return framework;
}

// Valid models that use what this OpenCV cannot run.
bool is_unsupported(const cv::Exception& e) {
  if (e.code == cv::Error::StsNotImplemented) return true;
  const std::string m = lower(e.err.empty() ? e.what() : e.err);
  for (const char* pattern : {"can't create layer", "not supported", "unsupported",
                              "not implemented", "is not allowed"}) {
    if (m.find(pattern) != std::string::npos) return true;
  }
  return false;
}

// "Relx" from "Node [Relx@ai.onnx]:(onnx_node!Relx_0) parse error: Can't create layer ...".
std::string unknown_operator(const std::string& message) {
  const std::string key = "of type \"";
  const size_t p = message.find(key);
  if (message.find("Can't create layer") == std::string::npos || p == std::string::npos) return "";
  const size_t end = message.find('"', p + key.size());
  return end == std::string::npos ? "" : message.substr(p + key.size(), end - p - key.size());
}

// "Clip" from "Node [Clip@ai.onnx]:(onnx_node!x) parse error: ...": the importer knows the
// operator but not the form this node has (Clip's bounds as inputs, an empty optional input),
// a gap of OpenCV's importer rather than of the model.
std::string operator_parse_error(const std::string& message) {
  const std::string key = "Node [";
  const size_t p = message.find(key);
  if (p == std::string::npos || message.find("parse error") == std::string::npos) return "";
  const size_t end = message.find_first_of("@]", p + key.size());
  return end == std::string::npos ? "" : message.substr(p + key.size(), end - p - key.size());
}

}  // namespace infermark::opencv_detail
