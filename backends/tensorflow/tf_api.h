#pragma once

// The TensorFlow plugin's access to TensorFlow's C API: the process environment TensorFlow
// reads when it starts, the library opened with RTLD_DEEPBIND and its functions looked up
// (the plugin does not link TensorFlow: see tensorflow_backend.cc), owning pointers for the
// C API's objects, its messages, the session's thread configuration, and what a traced run's
// RunMetadata says the executor ran. Kept apart from tensorflow_backend.cc so that each file
// stays short.

#include <tensorflow/c/c_api.h>
#include <tensorflow/c/c_api_experimental.h>

#include <map>
#include <memory>
#include <string>

namespace infermark::tf_detail {

// Set once, before TensorFlow is opened (it reads both when it starts): TF_CPP_MIN_LOG_LEVEL=2
// drops TensorFlow's INFO and WARNING lines (CPU feature and oneDNN banners, "Compiled cluster
// using XLA", the tracer's "GPU trace was not collected") and keeps errors.
// TF_OVERRIDE_GLOBAL_THREADPOOL=1 gives each session's CPU device its own intra-op pool: without it
// the first session in the process sizes one global pool, and every later engine would silently run
// with that first engine's thread count. A value the user has set is left alone.
void prepare_environment();

// clang-format off
#define INFERMARK_TF_FUNCTIONS(X)                                                           \
  X(TF_Version) X(TF_NewStatus) X(TF_DeleteStatus) X(TF_GetCode) X(TF_Message)               \
  X(TF_NewGraph) X(TF_DeleteGraph) X(TF_GraphOperationByName) X(TF_NewSessionOptions)        \
  X(TF_DeleteSessionOptions) X(TF_SetConfig) X(TF_NewBuffer) X(TF_DeleteBuffer)              \
  X(TF_CreateRunOptions) X(TF_NewTensor) X(TF_AllocateTensor) X(TF_DeleteTensor)             \
  X(TF_TensorData) X(TF_TensorByteSize) X(TF_TensorType) X(TF_NumDims) X(TF_Dim)             \
  X(TF_LoadSessionFromSavedModel) X(TF_SessionRun) X(TF_CloseSession) X(TF_DeleteSession)
// clang-format on

// The C API functions, typed by the wheel's own headers.
struct TfApi {
// `name` is the member being declared, which cannot be parenthesized.
// NOLINTNEXTLINE(bugprone-macro-parentheses)
#define INFERMARK_TF_MEMBER(name) decltype(&::name) name = nullptr;
  INFERMARK_TF_FUNCTIONS(INFERMARK_TF_MEMBER)
#undef INFERMARK_TF_MEMBER
};

// TensorFlow, opened once per process and never closed (its static registries cannot be
// torn down). Throws Error when the library or one of its functions is missing.
const TfApi& tf();

// ---------------------------------------------------------------- TF C API ownership

struct StatusDeleter {
  void operator()(TF_Status* s) const { tf().TF_DeleteStatus(s); }
};
struct GraphDeleter {
  void operator()(TF_Graph* g) const { tf().TF_DeleteGraph(g); }
};
struct OptionsDeleter {
  void operator()(TF_SessionOptions* o) const { tf().TF_DeleteSessionOptions(o); }
};
struct BufferDeleter {
  void operator()(TF_Buffer* b) const { tf().TF_DeleteBuffer(b); }
};
struct TensorDeleter {
  void operator()(TF_Tensor* t) const { tf().TF_DeleteTensor(t); }
};
struct SessionDeleter {
  void operator()(TF_Session* s) const {
    TF_Status* status = tf().TF_NewStatus();
    tf().TF_CloseSession(s, status);
    tf().TF_DeleteSession(s, status);
    tf().TF_DeleteStatus(status);
  }
};
using StatusPtr = std::unique_ptr<TF_Status, StatusDeleter>;
using GraphPtr = std::unique_ptr<TF_Graph, GraphDeleter>;
using OptionsPtr = std::unique_ptr<TF_SessionOptions, OptionsDeleter>;
using BufferPtr = std::unique_ptr<TF_Buffer, BufferDeleter>;
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;
using SessionPtr = std::unique_ptr<TF_Session, SessionDeleter>;

// TensorFlow's message on one line (some carry a stack of "\n\t [[node ...]]" context).
std::string tf_message(const TF_Status* status);

// ConfigProto (tensorflow/core/protobuf/config.proto) with the thread settings and, for bf16,
// the rewrite option auto_mixed_precision_onednn_bfloat16. The C API has setters for none of
// them, so the fields are written in protobuf wire format: a varint key (field number << 3 |
// wire type) followed by a varint value, or by a length and the nested message.
std::string session_config(int intra_op_threads, int inter_op_threads, bool onednn_bf16 = false);

// What TensorFlow's executor ran in a traced run. Each executed kernel has a timeline label
// "<node> = <Op>(<inputs>)" in the serialized RunMetadata; the op types are read from those
// labels (the RunMetadata is not parsed: its protobuf is TensorFlow's own, see
// tensorflow_backend.cc).
//
// A convolution runs under a name that depends on the CPU: with oneDNN's custom operations,
// which TensorFlow turns on by default for CPUs with VNNI, BF16 or AMX (TF_ENABLE_ONEDNN_OPTS
// overrides), oneDNN's graph rewrites fuse and rename them (_MklNativeFusedConv2D,
// _MklNativePadWithConv2D, _MklNativeDepthwiseConv2dNative...); without, they are Conv2D,
// DepthwiseConv2dNative or Grappler's _FusedConv2D. So every op type with "Conv" followed by
// a dimension ("Conv2D", "Conv2d", "Conv3D") counts, under whatever prefix.
//
// Through XLA the model's function (jit_compile, not inlined) runs as one call kernel and none
// of its layers appear; without XLA the function is inlined and every layer does. A call that
// is not compiled runs its body's kernels under the same trace, so a call with no convolution
// kernels in a model with convolutions is XLA's.
struct ExecutorTrace {
  std::map<std::string, int> conv_ops;  // convolution kernels by op type
  int conv_kernels = 0;
  int onednn_kernels = 0;  // kernels of oneDNN's custom operations (_Mkl...)
  int function_calls = 0;  // (Stateful)PartitionedCall and XLA launch kernels
  int casts = 0;           // Cast kernels (what a bf16 rewrite inserts around bf16 regions)
};

// The op types of the kernels a traced run executed, read from its RunMetadata.
ExecutorTrace read_trace(const TF_Buffer* run_metadata);

}  // namespace infermark::tf_detail
