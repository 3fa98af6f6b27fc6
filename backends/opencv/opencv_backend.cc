// OpenCV DNN as an infermark backend plugin.
//
// One cv::dnn::Net per engine, read with OpenCV's own ONNX importer. OpenCV sets a network
// up lazily (shape inference, buffers, fusion, weight packing) on its first forward with a
// new input shape, so load() runs one forward on zeros at the load batch (setup_at_load) to
// count that work as loading, as ONNX Runtime's session creation and OpenVINO's compile do.
// OpenCV has no compiled-model cache: every load repeats the cold load.
//
// run() wraps the caller's input in a cv::Mat header (rebuilt only when the buffer or shape
// changes) and copies OpenCV's result into the caller's output; Net::setInput itself copies
// the input into the network's input blob, which the public API does not let us avoid.
//
// OpenCV does not expose the model's declared input shape (a fully convolutional net runs
// at any image size), so the input and output descriptions are read from the ONNX file
// itself with a small protobuf wire-format reader that seeks over the weights.

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/core/ocl.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "backends/plugin.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "opencv";

// ---------------------------------------------------------------- small helpers

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

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

// The (backend, target) pairs this OpenCV build offers on this machine, asked once: the
// first call probes OpenCL and the other accelerators.
struct Availability {
  std::vector<std::pair<int, int>> pairs;
  std::vector<std::string> backends;  // names, in OpenCV's order
  std::vector<std::string> targets;   // of any backend
  std::vector<std::string> devices;   // targets of DNN_BACKEND_OPENCV
  std::string error;                  // why asking failed
};

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
  // "> " opens each nested line of the importer's message.
  for (size_t p; (p = m.find(" > ")) != std::string::npos;) m.replace(p, 3, " ");
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
    const std::string info = cv::getBuildInformation();
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

// ---------------------------------------------------------------- the ONNX file's interface

// Element type and shape of one graph input or output; dims are -1 where free.
struct ValueInfo {
  std::string name;
  int elem_type = 0;  // onnx.TensorProto.DataType; 1 = FLOAT
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> symbols;
};

struct OnnxInterface {
  std::vector<ValueInfo> inputs;  // initializers listed as inputs (IR < 4) left out
  std::vector<ValueInfo> outputs;
};

// Reads protobuf wire format from a file, seeking over what it does not need (weights).
class ProtoReader {
 public:
  explicit ProtoReader(const fs::path& file) : in_(file, std::ios::binary) {
    std::error_code ec;
    size_ = fs::file_size(file, ec);
    if (!in_ || ec) throw Error("cannot open the file");
  }
  uint64_t pos() const { return pos_; }
  uint64_t size() const { return size_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const int c = in_.get();
      if (c == std::char_traits<char>::eof()) throw Error("truncated protobuf");
      ++pos_;
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    throw Error("malformed protobuf varint");
  }
  // The end offset of a length-delimited field whose tag was just read.
  uint64_t length_end(uint64_t end) {
    const uint64_t len = varint();
    if (len > end - pos_) throw Error("protobuf field runs past its message");
    return pos_ + len;
  }
  std::string bytes_until(uint64_t end) {
    if (end - pos_ > (1u << 20)) throw Error("protobuf string over 1 MiB");
    std::string s(end - pos_, '\0');
    in_.read(s.data(), static_cast<std::streamsize>(s.size()));
    if (!in_) throw Error("truncated protobuf");
    pos_ = end;
    return s;
  }
  void seek(uint64_t to) {
    in_.seekg(static_cast<std::streamoff>(to));
    if (!in_) throw Error("truncated protobuf");
    pos_ = to;
  }
  void skip(uint32_t wire, uint64_t end) {
    switch (wire) {
      case 0:
        varint();
        break;
      case 1:
        seek(checked(pos_ + 8, end));
        break;
      case 2:
        seek(length_end(end));
        break;
      case 5:
        seek(checked(pos_ + 4, end));
        break;
      default:
        throw Error("unsupported protobuf wire type " + std::to_string(wire));
    }
  }

 private:
  static uint64_t checked(uint64_t to, uint64_t end) {
    if (to > end) throw Error("protobuf field runs past its message");
    return to;
  }
  std::ifstream in_;
  uint64_t size_ = 0, pos_ = 0;
};

// Calls field(number, wire) for each field up to end; field returns false to skip it.
template <typename F>
void for_each_field(ProtoReader& r, uint64_t end, F&& field) {
  while (r.pos() < end) {
    const uint64_t tag = r.varint();
    const auto number = static_cast<uint32_t>(tag >> 3);
    const auto wire = static_cast<uint32_t>(tag & 7);
    if (!field(number, wire)) r.skip(wire, end);
  }
  if (r.pos() != end) throw Error("protobuf message overruns its length");
}

ValueInfo read_value_info(ProtoReader& r, uint64_t end) {
  ValueInfo v;
  for_each_field(r, end, [&](uint32_t f, uint32_t w) {
    if (f == 1 && w == 2) {  // ValueInfoProto.name
      v.name = r.bytes_until(r.length_end(end));
      return true;
    }
    if (f != 2 || w != 2) return false;  // ValueInfoProto.type
    const uint64_t type_end = r.length_end(end);
    for_each_field(r, type_end, [&](uint32_t f2, uint32_t w2) {
      if (f2 != 1 || w2 != 2) return false;  // TypeProto.tensor_type
      const uint64_t tensor_end = r.length_end(type_end);
      for_each_field(r, tensor_end, [&](uint32_t f3, uint32_t w3) {
        if (f3 == 1 && w3 == 0) {  // elem_type
          v.elem_type = static_cast<int>(r.varint());
          return true;
        }
        if (f3 != 2 || w3 != 2) return false;  // shape
        v.has_shape = true;
        const uint64_t shape_end = r.length_end(tensor_end);
        for_each_field(r, shape_end, [&](uint32_t f4, uint32_t w4) {
          if (f4 != 1 || w4 != 2) return false;  // TensorShapeProto.dim
          const uint64_t dim_end = r.length_end(shape_end);
          int64_t value = -1;
          std::string symbol;
          for_each_field(r, dim_end, [&](uint32_t f5, uint32_t w5) {
            if (f5 == 1 && w5 == 0) {
              value = static_cast<int64_t>(r.varint());
              return true;
            }
            if (f5 == 2 && w5 == 2) {
              symbol = r.bytes_until(r.length_end(dim_end));
              return true;
            }
            return false;
          });
          v.dims.push_back(value);
          v.symbols.push_back(symbol);
          return true;
        });
        return true;
      });
      return true;
    });
    return true;
  });
  return v;
}

// The name of a TensorProto (field 8), seeking over its data.
std::string read_tensor_name(ProtoReader& r, uint64_t end) {
  std::string name;
  for_each_field(r, end, [&](uint32_t f, uint32_t w) {
    if (f != 8 || w != 2) return false;
    name = r.bytes_until(r.length_end(end));
    return true;
  });
  return name;
}

OnnxInterface read_onnx_interface(const fs::path& file) {
  ProtoReader r(file);
  std::vector<ValueInfo> inputs, outputs;
  std::set<std::string> initializers;
  bool graph_seen = false;
  for_each_field(r, r.size(), [&](uint32_t f, uint32_t w) {
    if (f != 7 || w != 2) return false;  // ModelProto.graph
    graph_seen = true;
    const uint64_t graph_end = r.length_end(r.size());
    for_each_field(r, graph_end, [&](uint32_t g, uint32_t gw) {
      if (gw != 2) return false;
      if (g == 11 || g == 12) {  // GraphProto.input, .output
        ValueInfo v = read_value_info(r, r.length_end(graph_end));
        (g == 11 ? inputs : outputs).push_back(std::move(v));
        return true;
      }
      if (g == 5) {  // GraphProto.initializer
        initializers.insert(read_tensor_name(r, r.length_end(graph_end)));
        return true;
      }
      if (g == 15) {  // GraphProto.sparse_initializer: its values tensor carries the name
        const uint64_t sparse_end = r.length_end(graph_end);
        for_each_field(r, sparse_end, [&](uint32_t s, uint32_t sw) {
          if (s != 1 || sw != 2) return false;
          initializers.insert(read_tensor_name(r, r.length_end(sparse_end)));
          return true;
        });
        return true;
      }
      return false;
    });
    return true;
  });
  if (!graph_seen) throw Error("no graph in the file");
  OnnxInterface io;
  for (auto& v : inputs)
    if (!initializers.count(v.name)) io.inputs.push_back(std::move(v));
  io.outputs = std::move(outputs);
  return io;
}

std::string model_shape_string(const ValueInfo& v) {
  return v.has_shape ? infermark::model_shape_string(v.dims, v.symbols) : "[unknown shape]";
}

// ---------------------------------------------------------------- engine

// Layers that multiply by a tensor computed at run time (ONNX Mul broadcasting [N, C, 1, 1],
// as in squeeze-and-excitation blocks): OpenCV 4.6's Scale layer takes such a second input
// as per-channel weights and fails for a batch over 1.
std::vector<std::string> runtime_scale_layers(cv::dnn::Net& net) {
  std::vector<std::string> names;
  for (const auto& name : net.getLayerNames()) {
    cv::Ptr<cv::dnn::Layer> layer = net.getLayer(name);
    if (layer && layer->type == "Scale" && layer->blobs.empty()) names.push_back(name);
  }
  return names;
}

// ": its 16 Scale layers ... do not batch", or "" when the net has none.
std::string batch_one_reason(cv::dnn::Net& net) {
  const auto scale = runtime_scale_layers(net);
  if (scale.empty()) return "";
  return ": its Scale layers fed by a run-time tensor (" + std::to_string(scale.size()) +
         ", e.g. " + scale.front() +
         ": ONNX Mul broadcasting [N, C, 1, 1] as in squeeze-excitation) do not batch";
}

class OpenCvEngine : public Engine {
 public:
  OpenCvEngine(cv::dnn::Net net, std::string output_layer, ValueInfo input, int threads,
               std::set<int64_t> batches_run, nlohmann::json effect)
      : net_(std::move(net)),
        output_layer_(std::move(output_layer)),
        in_(std::move(input)),
        threads_(threads),
        batches_run_(std::move(batches_run)),
        effect_(std::move(effect)) {}

  void run(const TensorView& input, Tensor& output) override {
    check_input(input);
    // Threads are OpenCV-wide: another engine may have set its own count since.
    if (cv::getNumThreads() != threads_) cv::setNumThreads(threads_);
    try {
      if (input.data != bound_data_ || input.shape != bound_shape_) bind_input(input);
      net_.setInput(input_mat_);
      result_ = net_.forward(output_layer_);
      copy_output(result_, output);
      batches_run_.insert(input.shape[0]);
    } catch (const cv::Exception& e) {
      const int64_t batch = input.shape[0];
      const std::string msg =
          "opencv: inference on input " + shape_string(input.shape) + " failed: " + cv_message(e);
      if (batch > 1 && batches_run_.count(1)) {
        const std::string why = batch_one_reason(net_);
        if (!why.empty()) {
          throw Unsupported(msg + " (OpenCV " + CV_VERSION + " runs this model at batch 1 only" +
                            why + ")");
        }
      }
      if (is_unsupported(e)) throw Unsupported(msg);
      throw Error(msg);
    }
  }

  nlohmann::json settings_in_effect() const override {
    nlohmann::json e = effect_;
    e["threads"] = cv::getNumThreads();  // read back now: process-wide in OpenCV
    return e;
  }

 private:
  void check_input(const TensorView& input) const {
    if (input.shape.size() != 4) {
      throw Error("opencv: input must be [N, C, H, W], got " + shape_string(input.shape));
    }
    if (input.data == nullptr) throw Error("opencv: input has no data");
    bool match = in_.dims.size() == 4;
    for (size_t i = 0; match && i < 4; ++i)
      match = input.shape[i] > 0 && input.shape[i] <= INT32_MAX &&
              (in_.dims[i] < 0 || in_.dims[i] == input.shape[i]);
    if (!match) {
      throw Error("opencv: input shape " + shape_string(input.shape) +
                  " does not match the model's input '" + in_.name + "' " +
                  model_shape_string(in_));
    }
  }

  // A 4-D cv::Mat header allocates its size/step arrays: built once per buffer and shape.
  void bind_input(const TensorView& input) {
    const int sizes[4] = {static_cast<int>(input.shape[0]), static_cast<int>(input.shape[1]),
                          static_cast<int>(input.shape[2]), static_cast<int>(input.shape[3])};
    input_mat_ = cv::Mat(4, sizes, CV_32F, const_cast<float*>(input.data));
    bound_data_ = input.data;
    bound_shape_ = input.shape;
  }

  static void copy_output(const cv::Mat& result, Tensor& output) {
    if (result.type() != CV_32F) {
      throw Error("opencv: the output is not float32 (OpenCV type " +
                  std::to_string(result.type()) + ")");
    }
    bool same = output.shape.size() == static_cast<size_t>(result.dims);
    for (int i = 0; same && i < result.dims; ++i) same = output.shape[i] == result.size[i];
    if (!same) {
      std::vector<int64_t> shape(result.size.p, result.size.p + result.dims);
      output.resize(std::move(shape));
    }
    if (output.data.size() != result.total()) output.data.resize(result.total());
    if (result.isContinuous()) {
      std::memcpy(output.data.data(), result.ptr<float>(), result.total() * sizeof(float));
    } else {
      cv::Mat dst(result.dims, result.size.p, CV_32F, output.data.data());
      result.copyTo(dst);
    }
  }

  cv::dnn::Net net_;
  std::string output_layer_;
  ValueInfo in_;
  int threads_;
  std::set<int64_t> batches_run_;  // batches OpenCV has run (the load's setup included)
  nlohmann::json effect_;
  cv::Mat input_mat_, result_;
  const float* bound_data_ = nullptr;
  std::vector<int64_t> bound_shape_;
};

// ---------------------------------------------------------------- backend

class OpenCvBackend : public Backend {
 public:
  BackendInfo info() const override {
    BackendInfo b;
    b.name = kName;
    b.version = cv::getVersionString();
    const Availability& a = availability();
    b.devices = a.devices;
    if (!a.error.empty()) {
      b.available = false;
      b.reason = "OpenCV DNN cannot list its backends: " + one_line(a.error);
    } else if (std::find(a.pairs.begin(), a.pairs.end(),
                         std::make_pair(static_cast<int>(cv::dnn::DNN_BACKEND_OPENCV),
                                        static_cast<int>(cv::dnn::DNN_TARGET_CPU))) ==
               a.pairs.end()) {
      b.available = false;
      b.reason = "this OpenCV build offers no CPU target for its own DNN backend";
    } else {
      b.available = true;
    }
    b.settings = {
        enum_setting("backend", "opencv",
                     a.backends.empty() ? std::vector<std::string>{"opencv"} : a.backends,
                     "cv::dnn backend (Net::setPreferableBackend) among those this OpenCV build "
                     "offers here (getAvailableBackends); default opencv: OpenCV's own "
                     "implementation, the only one in Debian's build"),
        enum_setting("target", "cpu",
                     a.targets.empty() ? std::vector<std::string>{"cpu"} : a.targets,
                     "cv::dnn target (Net::setPreferableTarget) among those available here "
                     "(opencl and opencl_fp16 only where OpenCL finds a device); default cpu: "
                     "like for like with the other CPU frameworks"),
        int_setting("threads", "0", 0, 1024,
                    "cv::setNumThreads: threads of OpenCV's parallel framework (TBB in Debian's "
                    "build), process-wide, so each run sets it again if another engine changed "
                    "it; 0 = the harness's --threads, itself 0 = every core this process may "
                    "use (sched_getaffinity), the same count every framework gets"),
        bool_setting("fusion", "true",
                     "Net::enableFusion: fold batch norms, scales and activations into "
                     "convolutions and other layer fusions; default true: OpenCV's default"),
        bool_setting("setup_at_load", "true",
                     "run one forward pass on zeros at load, at the load batch (1 when "
                     "dynamic): OpenCV sets a network up lazily on its first forward (buffers, "
                     "fusion, weight packing, thread pool), so this counts that work as load "
                     "time, as ONNX Runtime's session creation and OpenVINO's compile do, and "
                     "reports unsupported layers at load; false leaves it to the first run"),
    };
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    const std::string context = "opencv: cannot load '" + request.model.string() + "': ";
    try {
      return load_impl(request, context);
    } catch (const Error&) {
      throw;
    } catch (const cv::Exception& e) {
      if (is_unsupported(e)) throw Unsupported(context + cv_message(e));
      throw Error(context + cv_message(e));
    } catch (const std::bad_alloc&) {
      throw Error(context + "out of memory");
    } catch (const std::exception& e) {
      throw Error(context + one_line(e.what()));
    }
  }

 private:
  static std::unique_ptr<Engine> load_impl(const LoadRequest& request, const std::string& context) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const fs::path& model = request.model;
    const Settings& s = request.settings;

    std::error_code ec;
    if (!fs::is_regular_file(model, ec)) throw Error(context + "no such file");

    const std::string backend = setting(s, "backend");
    const std::string target = setting(s, "target");
    const bool fusion = setting_bool(s, "fusion");
    const bool setup_at_load = setting_bool(s, "setup_at_load");
    const int backend_value = backend_id(backend);
    const int target_value = target_id(target);
    std::vector<std::string> with_backend;
    for (const auto& [b, t] : availability().pairs)
      if (b == backend_value) with_backend.push_back(target_name(t));
    if (backend_value < 0 || target_value < 0 ||
        std::find(with_backend.begin(), with_backend.end(), target) == with_backend.end()) {
      throw Unsupported("opencv: target '" + target + "' is not available with backend '" +
                        backend + "' here (available: " + join(with_backend) + ")");
    }

    int threads = static_cast<int>(setting_int(s, "threads"));
    const char* threads_from = "setting";
    if (threads == 0) {
      threads = request.threads;
      threads_from = "harness";
    }
    if (threads == 0) {
      threads = cores_available();
      threads_from = "affinity";
    }

    QuietOpenCvLog quiet;
    cv::dnn::Net net;
    try {
      net = cv::dnn::readNetFromONNX(model.string());
    } catch (const cv::Exception& e) {
      const std::string msg = cv_message(e);
      const std::string op = unknown_operator(msg);
      if (!op.empty()) {
        throw Unsupported(context + "operator " + op + " is not supported by OpenCV " + CV_VERSION +
                          " (" + msg + ")");
      }
      if (is_unsupported(e)) throw Unsupported(context + msg);
      throw Error(context + msg);
    }
    if (net.empty()) throw Error(context + "OpenCV read an empty network");
    const double read_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

    // ---- the model's interface, from the file (OpenCV does not tell it)
    OnnxInterface io;
    try {
      io = read_onnx_interface(model);
    } catch (const Error& e) {
      throw Error(context + "cannot read its inputs and outputs: " + e.what());
    }
    check_interface(io, request, context);
    const ValueInfo& in = io.inputs.front();
    const std::vector<std::string> out_layers = net.getUnconnectedOutLayersNames();
    if (out_layers.size() != 1) {
      throw Unsupported(context + "OpenCV sees " + std::to_string(out_layers.size()) +
                        " output layers; one is supported");
    }

    net.setPreferableBackend(backend_value);
    net.setPreferableTarget(target_value);
    net.enableFusion(fusion);
    cv::setNumThreads(threads);

    // ---- OpenCV's lazy setup, at the batch the engine will run
    const int64_t setup_batch =
        request.batch > 0 ? request.batch : (in.dims[0] > 0 ? in.dims[0] : 1);
    const bool image_known = in.dims[1] > 0 && in.dims[2] > 0 && in.dims[3] > 0;
    std::set<int64_t> batches_run;
    double setup_ms = 0;
    std::string setup_note;
    if (!setup_at_load) {
      setup_note = "left to the first run (setup_at_load=false)";
    } else if (!image_known) {
      setup_note = "left to the first run: the model's input " + model_shape_string(in) +
                   " has free image dimensions";
    } else {
      const auto t1 = clock::now();
      try {
        forward_zeros(net, out_layers.front(), setup_batch, in);
        batches_run.insert(setup_batch);
      } catch (const cv::Exception& e) {
        const std::string msg =
            "a forward pass at batch " + std::to_string(setup_batch) + " fails: " + cv_message(e);
        if (setup_batch > 1) {
          bool batch1 = false;
          try {
            forward_zeros(net, out_layers.front(), 1, in);
            batch1 = true;
          } catch (const cv::Exception&) {
          }
          if (batch1) {
            throw Unsupported(context + "OpenCV " + CV_VERSION +
                              " runs this model at batch 1 only" + batch_one_reason(net) + "; " +
                              msg);
          }
        }
        const std::string op = unknown_operator(cv_message(e));
        if (!op.empty() || is_unsupported(e)) throw Unsupported(context + msg);
        throw Error(context + msg);
      }
      setup_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    }
    const double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

    nlohmann::json layers = nlohmann::json::object();
    std::vector<cv::String> types;
    net.getLayerTypes(types);
    for (const auto& t : types) layers[t] = net.getLayersCount(t);

    nlohmann::json effect = {
        {"version", cv::getVersionString()},
        {"backend", backend},
        {"target", target},
        {"targets_available", availability().devices},
        {"threads", cv::getNumThreads()},
        {"threads_requested", threads},
        {"threads_from", threads_from},
        {"parallel_framework", parallel_framework()},
        {"cpu_features", cv::getCPUFeaturesLine()},
        {"fusion", fusion},  // OpenCV has no getter: as set
        {"setup_at_load", setup_at_load},
        {"setup_batch",
         setup_at_load && image_known ? nlohmann::json(setup_batch) : nlohmann::json(nullptr)},
        {"cache", "none"},
        {"cache_note", "OpenCV DNN has no compiled-model cache: a warm load repeats the cold load"},
        {"read_ms", read_ms},
        {"setup_ms", setup_ms},
        {"load_ms", load_ms},
        {"batch", request.batch > 0
                      ? "load " + std::to_string(request.batch) +
                            " (another batch sets the network up again)"
                      : std::string("dynamic (each new batch sets the network up again)")},
        {"input", {{"name", in.name}, {"shape", model_shape_string(in)}}},
        {"output",
         {{"name", io.outputs.front().name},
          {"shape", model_shape_string(io.outputs.front())},
          {"layer", out_layers.front()}}},
        {"imported_layers", layers},
    };
    if (!setup_note.empty()) effect["setup_note"] = setup_note;
    if (target.rfind("opencl", 0) == 0) {
      try {
        effect["opencl_device"] = cv::ocl::Device::getDefault().name();
      } catch (const cv::Exception&) {
        effect["opencl_device"] = nullptr;
      }
    }
    return std::make_unique<OpenCvEngine>(std::move(net), out_layers.front(), in, threads,
                                          std::move(batches_run), std::move(effect));
  }

  static void forward_zeros(cv::dnn::Net& net, const std::string& output, int64_t batch,
                            const ValueInfo& in) {
    const int sizes[4] = {static_cast<int>(batch), static_cast<int>(in.dims[1]),
                          static_cast<int>(in.dims[2]), static_cast<int>(in.dims[3])};
    cv::Mat zeros(4, sizes, CV_32F, cv::Scalar(0));
    net.setInput(zeros);
    net.forward(output);
  }

  static void check_interface(const OnnxInterface& io, const LoadRequest& request,
                              const std::string& context) {
    if (io.inputs.size() != 1 || io.outputs.size() != 1) {
      throw Unsupported(context + "expected one input and one output, the model has " +
                        std::to_string(io.inputs.size()) + " and " +
                        std::to_string(io.outputs.size()));
    }
    const ValueInfo& in = io.inputs.front();
    const ValueInfo& out = io.outputs.front();
    if (in.elem_type != 1 || !in.has_shape || in.dims.size() != 4) {
      throw Unsupported(context + "input '" + in.name +
                        "' must be a float32 tensor of rank 4 (NCHW), it is " +
                        (in.elem_type == 1 ? "float32 " : "non-float32 ") + model_shape_string(in));
    }
    if (out.elem_type != 1) {
      throw Unsupported(context + "output '" + out.name + "' must be a float32 tensor");
    }
    if (request.batch > 0 && in.dims[0] > 0 && in.dims[0] != request.batch) {
      throw Error(context + "batch " + std::to_string(request.batch) +
                  " requested, the model's input is fixed to " + model_shape_string(in));
    }
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::OpenCvBackend)
