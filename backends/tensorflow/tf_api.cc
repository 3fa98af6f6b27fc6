// The TensorFlow plugin's access to TensorFlow's C API (see tf_api.h).

#include "backends/tensorflow/tf_api.h"

#include <dlfcn.h>
#include <tensorflow/c/c_api.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

#include "backends/plugin.h"

namespace infermark::tf_detail {
namespace {

bool is_convolution(std::string_view op) {
  for (size_t at = op.find("Conv"); at != std::string_view::npos; at = op.find("Conv", at + 1)) {
    if (at + 4 < op.size() && op[at + 4] >= '1' && op[at + 4] <= '3') return true;
  }
  return false;
}

}  // namespace

void prepare_environment() {
  static std::once_flag once;
  std::call_once(once, [] {
    setenv("TF_CPP_MIN_LOG_LEVEL", "2", 0);
    setenv("TF_OVERRIDE_GLOBAL_THREADPOOL", "1", 0);
  });
}

const TfApi& tf() {
  static const TfApi api = [] {
    prepare_environment();
    void* lib = dlopen(INFERMARK_TF_LIBRARY, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!lib) throw Error(std::string("tensorflow: cannot open the library: ") + dlerror());
    TfApi a;
#define INFERMARK_TF_LOOKUP(name)                                 \
  a.name = reinterpret_cast<decltype(a.name)>(dlsym(lib, #name)); \
  if (!a.name) throw Error("tensorflow: " INFERMARK_TF_LIBRARY " has no function " #name);
    INFERMARK_TF_FUNCTIONS(INFERMARK_TF_LOOKUP)
#undef INFERMARK_TF_LOOKUP
    return a;
  }();
  return api;
}

std::string tf_message(const TF_Status* status) {
  std::string one;
  for (const char* p = tf().TF_Message(status); p && *p; ++p) {
    const bool space = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
    if (!space) {
      one += *p;
    } else if (!one.empty() && one.back() != ' ') {
      one += ' ';
    }
  }
  while (!one.empty() && one.back() == ' ') one.pop_back();
  return one;
}

std::string session_config(int intra_op_threads, int inter_op_threads, bool onednn_bf16) {
  std::string bytes;
  auto varint = [&bytes](uint64_t v) {
    do {
      bytes += static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
  };
  auto field = [&](uint32_t number, uint64_t value) {
    varint(uint64_t{number} << 3);
    varint(value);
  };
  field(2, intra_op_threads);  // intra_op_parallelism_threads
  field(5, inter_op_threads);  // inter_op_parallelism_threads
  field(9, 1);                 // use_per_session_threads: this session's own inter-op pool
  if (onednn_bf16) {
    // graph_options (10) { rewrite_options (10) { auto_mixed_precision_onednn_bfloat16 (31):
    // ON (1) } }: Grappler's pass that rewrites the graph to bf16 where oneDNN computes it.
    const std::string rewrite = {'\xf8', '\x01', '\x01'};  // field 31, varint, 1
    bytes += '\x52';                                       // field 10, length-delimited
    bytes += static_cast<char>(rewrite.size() + 2);
    bytes += '\x52';
    bytes += static_cast<char>(rewrite.size());
    bytes += rewrite;
  }
  return bytes;
}

ExecutorTrace read_trace(const TF_Buffer* run_metadata) {
  const std::string_view bytes(static_cast<const char*>(run_metadata->data), run_metadata->length);
  auto op_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  ExecutorTrace t;
  for (size_t at = bytes.find(" = "); at != std::string_view::npos;
       at = bytes.find(" = ", at + 1)) {
    const size_t begin = at + 3;
    size_t end = begin;
    while (end < bytes.size() && op_char(bytes[end])) ++end;
    if (end == begin || end >= bytes.size() || bytes[end] != '(') continue;
    const std::string_view op = bytes.substr(begin, end - begin);
    if (is_convolution(op)) {
      ++t.conv_kernels;
      ++t.conv_ops[std::string(op)];
    }
    if (op.rfind("_Mkl", 0) == 0) ++t.onednn_kernels;
    if (op == "Cast" || op == "_MklCast") ++t.casts;
    if (op == "PartitionedCall" || op == "StatefulPartitionedCall" || op == "XlaLaunch" ||
        op == "XlaLaunchV2" || op == "_XlaRun")
      ++t.function_calls;
  }
  return t;
}

}  // namespace infermark::tf_detail
