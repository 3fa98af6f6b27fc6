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
// itself with a small protobuf wire-format reader that seeks over the weights (onnx_reader.h).
// The same reading gives the pre-flight the graph's nodes: OpenCV 4.6's importer crashes the
// process on some graph forms, which the plugin refuses before calling it (preflight.h).
// OpenCV's backend and target names and their availability are in dnn_targets.h.

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

#include "backends/opencv/cv_messages.h"
#include "backends/opencv/dnn_targets.h"
#include "backends/opencv/importer_forms.h"
#include "backends/opencv/onnx_reader.h"
#include "backends/opencv/preflight.h"
#include "backends/plugin.h"
#include "core/text.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "opencv";

using opencv_detail::Availability;
using opencv_detail::availability;
using opencv_detail::backend_id;
using opencv_detail::cv_message;
using opencv_detail::is_unsupported;
using opencv_detail::join;
using opencv_detail::model_shape_string;
using opencv_detail::one_line;
using opencv_detail::OnnxGraph;
using opencv_detail::OnnxInterface;
using opencv_detail::operator_parse_error;
using opencv_detail::parallel_framework;
using opencv_detail::QuietOpenCvLog;
using opencv_detail::read_onnx_graph;
using opencv_detail::read_onnx_interface;
using opencv_detail::target_id;
using opencv_detail::target_name;
using opencv_detail::unknown_operator;
using opencv_detail::ValueInfo;

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
  // cv::dnn::Net is a shared handle without a move constructor: a copy shares the network.
  OpenCvEngine(const cv::dnn::Net& net, std::string output_layer, ValueInfo input, int threads,
               std::set<int64_t> batches_run, nlohmann::json effect)
      : net_(net),
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
      if (profiled_ && ++runs_ > skip_) add_layer_times();
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

  // OpenCV's per-layer timings of the last forward (Net::getPerfProfile), summed; a layer fused
  // into the one before it (an activation into its convolution) times 0 and is left out.
  KernelProfile kernel_profile() override {
    if (!profiled_) throw Error("opencv: this engine was not loaded to profile");
    KernelProfile p;
    p.profiler = "OpenCV DNN's per-layer timings (cv::dnn::Net::getPerfProfile)";
    p.runs = std::max<int64_t>(0, runs_ - skip_);
    const std::vector<std::string> names = net_.getLayerNames();
    for (size_t i = 0; i < layer_ticks_.size() && i < names.size(); ++i) {
      if (layer_ticks_[i] <= 0) continue;
      KernelTime k;
      // The ONNX importer names a layer "onnx_node!" and the node's name (or first output).
      static constexpr std::string_view kPrefix = "onnx_node!";
      k.name = names[i].rfind(kPrefix, 0) == 0 ? names[i].substr(kPrefix.size()) : names[i];
      k.kind = net_.getLayer(names[i])->type;
      k.ms = layer_ticks_[i] * 1000.0 / cv::getTickFrequency();
      k.calls = p.runs;
      p.kernels.push_back(std::move(k));
    }
    return p;
  }
  void set_profiled(int64_t skip_runs) {
    profiled_ = true;
    skip_ = skip_runs;
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
  bool profiled_ = false;
  int64_t skip_ = 0, runs_ = 0;
  std::vector<double> timings_, layer_ticks_;  // the last forward's, and their sums

  void add_layer_times() {
    net_.getPerfProfile(timings_);
    if (layer_ticks_.size() < timings_.size()) layer_ticks_.resize(timings_.size(), 0.0);
    for (size_t i = 0; i < timings_.size(); ++i) layer_ticks_[i] += timings_[i];
  }
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
    b.capabilities.kernel_profiler = "OpenCV DNN's per-layer timings";
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

    const auto [threads, threads_from] =
        resolve_threads(setting_int(s, "threads"), request.threads);

    // ---- the pre-flight: graph forms the importer crashes on rather than throw (preflight.h),
    // refused before it is called. A file this reader does not take is left to the importer,
    // whose own message then says why.
    OnnxGraph graph;
    bool graph_read = false;
    try {
      graph = read_onnx_graph(model);
      graph_read = true;
    } catch (const Error&) {
    }
    if (graph_read && opencv_detail::preflight_applies(CV_VERSION_MAJOR, CV_VERSION_MINOR)) {
      const std::string form = opencv_detail::importer_crash_form(graph);
      if (!form.empty())
        throw Unsupported("opencv: refused before loading '" + model.string() + "': " + form);
    }

    QuietOpenCvLog quiet;
    // The file as it is; after the importer refused a node's form, once more with the forms
    // it reads (importer_forms.h).
    std::vector<std::string> rewrites;
    auto read = [&](const std::vector<char>* bytes) {
      try {
        return bytes ? cv::dnn::readNetFromONNX(bytes->data(), bytes->size())
                     : cv::dnn::readNetFromONNX(model.string());
      } catch (const cv::Exception& e) {
        const std::string msg = cv_message(e);
        const std::string op = unknown_operator(msg);
        if (!op.empty()) {
          throw Unsupported(context + "operator " + op + " is not supported by OpenCV " +
                            CV_VERSION + " (" + msg + ")");
        }
        const std::string parsed = operator_parse_error(msg);
        if (!parsed.empty()) {
          throw Unsupported(context + "OpenCV " + CV_VERSION +
                            "'s ONNX importer cannot read operator " + parsed + " in this form (" +
                            msg + ")");
        }
        if (is_unsupported(e)) throw Unsupported(context + msg);
        throw Error(context + msg);
      }
    };
    cv::dnn::Net net;
    try {
      net = read(nullptr);
    } catch (const Unsupported& refused) {
      if (std::string(refused.what()).find("importer cannot read operator") == std::string::npos)
        throw;
      const opencv_detail::RewrittenModel rewritten = opencv_detail::rewrite_importer_forms(model);
      if (rewritten.bytes.empty()) throw;
      rewrites = rewritten.steps;
      net = read(&rewritten.bytes);
    }
    if (net.empty()) throw Error(context + "OpenCV read an empty network");
    const double read_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

    // ---- the model's interface, from the file (OpenCV does not tell it)
    OnnxInterface io = std::move(graph.io);
    try {
      if (!graph_read) io = read_onnx_interface(model);
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
    effect["importer_rewrites"] = rewrites;
    if (target.rfind("opencl", 0) == 0) {
      try {
        effect["opencl_device"] = cv::ocl::Device::getDefault().name();
      } catch (const cv::Exception&) {
        effect["opencl_device"] = nullptr;
      }
    }
    auto engine = std::make_unique<OpenCvEngine>(net, out_layers.front(), in, threads,
                                                 std::move(batches_run), std::move(effect));
    if (request.profile) engine->set_profiled(request.profile_skip_runs);
    return engine;
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
