#include "backends/onnxruntime/ort_support.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>

#include "backends/plugin.h"

namespace infermark::ort_detail {

struct Level {
  const char* name;
  GraphOptimizationLevel value;
};
constexpr Level kLevels[] = {{"disabled", ORT_DISABLE_ALL},
                             {"basic", ORT_ENABLE_BASIC},
                             {"extended", ORT_ENABLE_EXTENDED},
                             {"all", ORT_ENABLE_ALL}};

GraphOptimizationLevel level_of(const std::string& name) {
  for (const auto& l : kLevels)
    if (name == l.name) return l.value;
  throw Error("onnxruntime: unknown graph_optimization_level '" + name + "'");
}

// ORT's message without the source location and function signature that ORT_THROW and
// ORT_ENFORCE put in front ("/src/x.h:46 void f(int, ...) message"), on one line.
std::string ort_message(const char* what) {
  std::string m = what ? what : "";
  static constexpr const char* kExts[] = {".h:", ".cc:", ".cpp:"};
  size_t loc = std::string::npos;
  for (const char* ext : kExts) loc = std::min(loc, m.find(ext));
  if (loc != std::string::npos) {
    const size_t open = m.find('(', loc);
    if (open != std::string::npos) {
      int depth = 0;
      size_t i = open;
      for (; i < m.size(); ++i) {
        if (m[i] == '(') ++depth;
        if (m[i] == ')' && --depth == 0) break;
      }
      if (i < m.size()) {
        size_t rest = i + 1;
        if (m.compare(rest, 6, " const") == 0) rest += 6;
        size_t start = m.find_last_of(" :", loc);  // "...failed:/src/x.h:46 ..."
        start = (start == std::string::npos) ? 0 : start + 1;
        if (rest < m.size() && m[rest] == ' ' && start > 0 && m[start - 1] == ':') ++rest;
        m = m.substr(0, start) + m.substr(rest);
      }
    }
  }
  return collapse_whitespace(m);
}

// Valid models that use what this ORT build cannot run: operators it has no kernel or
// schema for, opsets newer than it supports.
bool is_unsupported(const Ort::Exception& e) {
  if (e.GetOrtErrorCode() == ORT_NOT_IMPLEMENTED) return true;
  const std::string m = e.what();
  for (const char* pattern :
       {"NOT_IMPLEMENTED", "not supported", "Not supported", "Could not find an implementation",
        "is not a registered function/op", "No Op registered for", "only *guarantees* support"}) {
    if (m.find(pattern) != std::string::npos) return true;
  }
  return false;
}

[[noreturn]] void rethrow_load_error(const fs::path& model, const Ort::Exception& e) {
  const std::string msg =
      "onnxruntime: cannot load '" + model.string() + "': " + ort_message(e.what());
  if (is_unsupported(e)) throw Unsupported(msg);
  throw Error(msg);
}

// ORT's log lines go to stderr with our prefix (never stdout, which may carry JSON).
void ORT_API_CALL log_to_stderr(void* /*param*/, OrtLoggingLevel severity, const char* /*category*/,
                                const char* /*logid*/, const char* /*code_location*/,
                                const char* message) {
  // Saving an "all"-level graph warns that it is hardware specific; the cache key includes
  // the CPU, so that is expected here.
  if (std::string_view(message).find("Serializing optimized model with Graph Optimization "
                                     "level greater than") != std::string_view::npos) {
    return;
  }
  static constexpr const char* kSev[] = {"verbose", "info", "warning", "error", "fatal"};
  const int s = static_cast<int>(severity);
  std::fprintf(stderr, "onnxruntime %s: %s\n", (s >= 0 && s <= 4) ? kSev[s] : "log", message);
}

// The int8 kernels in an ONNX graph ORT saved after optimizing, by operator type: QDQ
// pairs around a convolution or a matrix product that ORT's QDQ fusions turned into an int8
// kernel. Read from the file's bytes: each NodeProto's op_type is field 4 (tag 0x22), a
// length byte and the name.
std::map<std::string, int64_t> count_int8_kernels(const fs::path& graph) {
  std::ifstream in(graph, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, int64_t> counts;
  for (const char* op : {"QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger",
                         "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}) {
    const std::string needle = std::string("\x22") + static_cast<char>(std::strlen(op)) + op;
    int64_t n = 0;
    for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1))
      ++n;
    if (n > 0) counts[op] = n;
  }
  return counts;
}

}  // namespace infermark::ort_detail
