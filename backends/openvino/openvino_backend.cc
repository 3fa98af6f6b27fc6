// OpenVINO backend: reads the ONNX file with OpenVINO's ONNX frontend, compiles it for one
// device (CPU by default) and runs one synchronous InferRequest per batch, with the caller's
// input and output buffers wrapped as ov::Tensor (no copies).

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <openvino/openvino.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "backends/openvino/profile.h"
#include "backends/openvino/runtime_model.h"
#include "backends/plugin.h"

namespace infermark {
namespace {

const char* const kCpuBf16Unsupported =
    "openvino: bf16 inference needs a CPU with avx512_bf16, or AVX2 with avx_vnni_int8 and "
    "avx_ne_convert; this CPU has neither";

std::string trimmed(std::string line) {
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  size_t b = 0;
  while (b < line.size() && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
  return line.substr(b);
}

// The one line of an OpenVINO message that says what is wrong. Its messages stack
// "Exception from src/...:LINE:", "Check '...' failed at ...:" and "FrontEnd API failed
// with ...:" lines above the text; a failed ONNX conversion ends with a "Summary:" whose
// first entry names the operations ("No conversion rule found for operations: Foo-13").
std::string first_line(const std::string& what) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= what.size()) {
    size_t end = what.find('\n', pos);
    if (end == std::string::npos) end = what.size();
    std::string line = trimmed(what.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty()) lines.push_back(line);
  }
  if (lines.empty()) return "unknown error";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("No conversion rule found for operations") != std::string::npos) {
      return lines[i].rfind("-- ", 0) == 0 ? lines[i].substr(3) : lines[i];
    }
  }
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i] == "Summary:") {
      return lines[i + 1].rfind("-- ", 0) == 0 ? lines[i + 1].substr(3) : lines[i + 1];
    }
  }
  for (const auto& line : lines) {
    if (line.rfind("Exception from ", 0) == 0) continue;
    if (line.rfind("Check '", 0) == 0 && line.find(" failed at ") != std::string::npos) continue;
    if (line.rfind("FrontEnd API failed with ", 0) == 0 && line.back() == ':') continue;
    return line;
  }
  return lines.front();
}

bool about_unsupported_operation(const std::string& what) {
  std::string s = what;
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s.find("does not support the following") != std::string::npos ||
         s.find("unsupported operation") != std::string::npos ||
         s.find("not supported") != std::string::npos ||
         s.find("no conversion rule") != std::string::npos ||
         s.find("opconversionfailure") != std::string::npos;
}

// "~/.cache/..." -> $XDG_CACHE_HOME/... (when set) else $HOME/.cache/...; "~/x" -> $HOME/x.
std::filesystem::path expand_cache_dir(const std::string& value) {
  if (value.empty() || value[0] != '~') return value;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if ((value == "~/.cache" || value.rfind("~/.cache/", 0) == 0) && xdg && *xdg) {
    return std::filesystem::path(xdg) / value.substr(std::min<size_t>(value.size(), 9));
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    throw Error("openvino: cache_dir '" + value + "' starts with '~' but $HOME is not set; " +
                "give an absolute path or 'off'");
  }
  if (value == "~") return home;
  if (value.rfind("~/", 0) != 0) {
    throw Error("openvino: cache_dir '" + value + "': only '~/' is expanded, not '~user'");
  }
  return std::filesystem::path(home) / value.substr(2);
}

template <typename Property>
nlohmann::json property_or_null(const ov::CompiledModel& compiled, const Property& p) {
  try {
    return compiled.get_property(p);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::string text(const ov::Any& value) { return value.as<std::string>(); }

class OpenVinoEngine : public Engine {
 public:
  OpenVinoEngine(ov::CompiledModel compiled, int64_t batch, nlohmann::json in_effect)
      : compiled_(std::move(compiled)),
        request_(compiled_.create_infer_request()),
        batch_(batch),
        in_effect_(std::move(in_effect)) {
    input_shape_ = compiled_.input().get_partial_shape();
    ov::PartialShape out = compiled_.output().get_partial_shape();
    // The output buffer can be handed to OpenVINO before infer() when every dimension but
    // the batch is known; otherwise OpenVINO allocates it and run() copies it out.
    output_static_ = out.rank().is_static() && out.rank().get_length() >= 1;
    if (output_static_) {
      for (int64_t i = 1; i < out.rank().get_length(); ++i) {
        if (out[i].is_dynamic())
          output_static_ = false;
        else
          output_tail_.push_back(out[i].get_length());
      }
    }
  }

  void run(const TensorView& input, Tensor& output) override {
    check_input(input);
    try {
      if (input.data != bound_input_ || input.shape != bound_input_shape_) {
        input_tensor_ =
            ov::Tensor(ov::element::f32, to_ov_shape(input.shape), const_cast<float*>(input.data));
        request_.set_input_tensor(input_tensor_);
        bound_input_ = input.data;
        bound_input_shape_ = input.shape;
      }
      if (output_static_) {
        out_shape_buf_.clear();
        out_shape_buf_.push_back(input.shape[0]);
        out_shape_buf_.insert(out_shape_buf_.end(), output_tail_.begin(), output_tail_.end());
        if (output.shape != out_shape_buf_ ||
            output.data.size() != static_cast<size_t>(output.numel())) {
          output.resize(out_shape_buf_);
        }
        if (output.data.data() != bound_output_ || output.shape != bound_output_shape_) {
          output_tensor_ =
              ov::Tensor(ov::element::f32, to_ov_shape(output.shape), output.data.data());
          request_.set_output_tensor(output_tensor_);
          bound_output_ = output.data.data();
          bound_output_shape_ = output.shape;
        }
        request_.infer();
      } else {
        request_.infer();
        ov::Tensor result = request_.get_output_tensor();
        std::vector<int64_t> shape(result.get_shape().begin(), result.get_shape().end());
        if (output.shape != shape) output.resize(shape);
        std::copy_n(result.data<const float>(), output.data.size(), output.data.data());
      }
      if (profile_) profile_->after_run(request_);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("openvino: inference on input " + shape_string(input.shape) +
                  " failed: " + first_line(e.what()));
    }
  }

  nlohmann::json settings_in_effect() const override { return in_effect_; }

  KernelProfile kernel_profile() override {
    if (!profile_) throw Error("openvino: this engine was not loaded to profile");
    return profile_->take(compiled_);
  }
  void set_profiled(int64_t skip_runs) { profile_.emplace(skip_runs); }

  // Another infer request on the same compiled model: OpenVINO runs the requests of one
  // compiled model in parallel on its streams.
  std::unique_ptr<Engine> new_request() override {
    return std::make_unique<OpenVinoEngine>(compiled_, batch_, in_effect_);
  }

 private:
  static ov::Shape to_ov_shape(const std::vector<int64_t>& s) {
    return ov::Shape(s.begin(), s.end());
  }

  void check_input(const TensorView& input) const {
    if (input.shape.size() != 4) {
      throw Error("openvino: input must be [N, C, H, W], got " + shape_string(input.shape));
    }
    if (input.data == nullptr) throw Error("openvino: input has no data");
    if (batch_ > 0 && input.shape[0] != batch_) {
      throw Error("openvino: input " + shape_string(input.shape) +
                  " differs from the compiled static shape " + input_shape_.to_string() +
                  " (loaded with batch " + std::to_string(batch_) + ")");
    }
    for (size_t i = 1; i < 4; ++i) {
      if (input_shape_[i].is_static() && input_shape_[i].get_length() != input.shape[i]) {
        throw Error("openvino: input " + shape_string(input.shape) +
                    " does not fit the model input " + input_shape_.to_string());
      }
    }
  }

  ov::CompiledModel compiled_;
  ov::InferRequest request_;
  int64_t batch_;
  nlohmann::json in_effect_;
  ov::PartialShape input_shape_;
  bool output_static_ = false;
  std::vector<int64_t> output_tail_;
  // What is bound to the request now, so that a steady-state run() allocates nothing.
  ov::Tensor input_tensor_, output_tensor_;
  const float* bound_input_ = nullptr;
  std::vector<int64_t> bound_input_shape_;
  float* bound_output_ = nullptr;
  std::vector<int64_t> bound_output_shape_;
  std::vector<int64_t> out_shape_buf_;
  std::optional<OpenVinoProfile> profile_;  // loaded with LoadRequest::profile
};

class OpenVinoBackend : public Backend {
 public:
  BackendInfo info() const override {
    BackendInfo info;
    info.name = "openvino";
    info.version = ov::get_openvino_version().buildNumber;
    try {
      info.devices = core().get_available_devices();
    } catch (const std::exception& e) {
      info.available = false;
      info.reason = "OpenVINO runtime cannot start: " + first_line(e.what());
      return info;
    }
    if (info.devices.empty()) {
      info.available = false;
      info.reason = "OpenVINO finds no device (no device plugin loads)";
      return info;
    }
    info.available = true;
    std::string default_device =
        std::find(info.devices.begin(), info.devices.end(), "CPU") != info.devices.end()
            ? "CPU"
            : info.devices.front();
    using T = SettingSpec::Type;
    info.settings = {
        {"device", T::kEnum, default_device, info.devices, 0, 0,
         "OpenVINO device the model is compiled for; CPU compares like for like with the "
         "other CPU frameworks"},
        {"hint",
         T::kEnum,
         "auto",
         {"auto", "latency", "throughput", "none"},
         0,
         0,
         "ov::hint::performance_mode: latency = 1 stream with all threads for one request, "
         "throughput = several streams meant for parallel requests, none = no hint (OpenVINO's "
         "own default); default auto: latency when the harness keeps one request in flight "
         "(only latency mode puts every core on it), throughput with "
         "ov::hint::num_requests = the requests in flight when it keeps several "
         "(--concurrency), as OpenVINO's own benchmark_app does"},
        {"num_streams",
         T::kInt,
         "0",
         {},
         0,
         256,
         "ov::num_streams: parallel execution streams, each with its share of the threads; "
         "0 = let the hint decide (latency: 1). With one request at a time, extra streams "
         "only idle cores"},
        {"threads",
         T::kInt,
         "0",
         {},
         0,
         1024,
         "ov::inference_num_threads: threads for inference (all streams together); 0 = the "
         "harness's --threads, itself 0 = every core this process may use (sched_getaffinity), "
         "the same count every framework gets"},
        {"cache_dir",
         T::kPath,
         "~/.cache/infermark/openvino",
         {},
         0,
         0,
         "ov::cache_dir: OpenVINO's compiled-blob cache, so a second load of the same model "
         "file and settings skips compilation (warm load); '~/.cache' follows "
         "$XDG_CACHE_HOME; 'off' disables it to time cold loads"},
        {"layout",
         T::kEnum,
         "nchw",
         {"nchw"},
         0,
         0,
         "layout of the input the harness feeds (always NCHW float32); OpenVINO's layout is "
         "only metadata for preprocessing, and the CPU plugin picks its internal layout "
         "(NHWC or blocked) itself, reported in settings_in_effect as internal_input_layout"},
    };
    tune_values(info.settings, "hint", {"auto", "throughput", "latency"});
    info.capabilities.shared_requests = true;  // infer requests of one compiled model
    info.capabilities.kernel_profiler = "OpenVINO's performance counters";
    // bf16 where the default device says it computes in it (the precision setting).
    try {
      const auto caps = core().get_property(default_device, ov::device::capabilities);
      if (std::find(caps.begin(), caps.end(), ov::device::capability::BF16) != caps.end())
        info.capabilities.precisions.push_back("bf16");
      // int8: the QDQ model the harness's preparation quantizes, which OpenVINO's
      // low-precision transformations run in int8 (verified at load in the runtime model).
      if (std::find(caps.begin(), caps.end(), ov::device::capability::INT8) != caps.end())
        info.capabilities.precisions.push_back("int8");
    } catch (const std::exception&) {
      // A device that cannot say runs what every device runs: fp32.
    }
    return info;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    const std::string file = request.model.string();
    const std::string context = "openvino: cannot load '" + file + "': ";
    try {
      return load_or_throw(request);
    } catch (const Unsupported&) {
      throw;
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      if (about_unsupported_operation(e.what())) {
        throw Unsupported(context + first_line(e.what()));
      }
      throw Error(context + first_line(e.what()));
    }
  }

 public:
  // OpenVINO's Core: it discovers its device plugins when created.
  void start() override { core(); }

 private:
  ov::Core& core() const {
    if (!core_) core_ = std::make_unique<ov::Core>();
    return *core_;
  }

  std::unique_ptr<Engine> load_or_throw(const LoadRequest& request) {
    const Settings& s = request.settings;
    const std::string file = request.model.string();
    const std::string context = "openvino: cannot load '" + file + "': ";
    const std::string device = setting(s, "device");
    const std::string hint = setting(s, "hint");
    const int64_t num_streams = setting_int(s, "num_streams");
    const std::string& precision = request.precision;
    const std::string cache_setting = setting(s, "cache_dir");
    const std::string layout = setting(s, "layout");
    if (layout != "nchw") throw Error("openvino: layout '" + layout + "' is not supported");

    // The harness gives each request in flight its share of the cores; OpenVINO's threads
    // serve all its streams together.
    const int concurrency = std::max(1, request.concurrency);
    const auto [threads, threads_from] =
        resolve_threads(setting_int(s, "threads"),
                        request.threads > 0 ? request.threads * concurrency : request.threads);
    const std::string mode = hint != "auto" ? hint : (concurrency > 1 ? "throughput" : "latency");

    if (!std::filesystem::exists(request.model)) throw Error(context + "no such file");

    ov::Core& ov_core = core();
    ov::AnyMap props;
    if (mode == "latency") {
      props.emplace(ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY));
    } else if (mode == "throughput") {
      props.emplace(ov::hint::performance_mode(ov::hint::PerformanceMode::THROUGHPUT));
      // No more streams than requests will be in flight.
      if (concurrency > 1)
        props.emplace(ov::hint::num_requests(static_cast<uint32_t>(concurrency)));
    }
    if (num_streams > 0) props.emplace(ov::num_streams(static_cast<int32_t>(num_streams)));
    props.emplace(ov::inference_num_threads(threads));
    if (request.profile) props.emplace(ov::enable_profiling(true));
    if (precision != "fp32" && precision != "bf16" && precision != "int8")
      throw Unsupported("openvino: precision " + precision + " is not offered (fp32, bf16, int8)");
    // Set explicitly both ways: OpenVINO's CPU plugin computes in bf16 by default where the
    // CPU has it, and would silently run f32 where bf16 is asked and the CPU lacks it.
    if (precision == "bf16") {
      auto caps = ov_core.get_property(device, ov::device::capabilities);
      if (std::find(caps.begin(), caps.end(), ov::device::capability::BF16) == caps.end()) {
        if (device == "CPU") throw Unsupported(kCpuBf16Unsupported);
        throw Unsupported("openvino: bf16 inference is not supported by device '" + device + "'");
      }
      props.emplace(ov::hint::inference_precision(ov::element::bf16));
    } else {
      // fp32, and int8's layers outside the quantized ones.
      props.emplace(ov::hint::inference_precision(ov::element::f32));
    }

    std::string cache_dir;
    if (cache_setting != "off") {
      std::filesystem::path dir = expand_cache_dir(cache_setting);
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        throw Error("openvino: cannot create cache_dir '" + dir.string() + "': " + ec.message());
      }
      cache_dir = dir.string();
    }
    // Per compile_model call, so that another load with 'off' on the same Core is uncached.
    props.emplace(ov::cache_dir(cache_dir));

    ov::CompiledModel compiled;
    if (request.batch > 0) {
      // Static shapes compile to faster code than a dynamic batch. The cache then keys on a
      // hash of the reshaped model, so a warm load still reads the ONNX file.
      std::shared_ptr<ov::Model> model = ov_core.read_model(file);
      check_io(model->inputs(), model->outputs(), context);
      ov::PartialShape shape = model->input().get_partial_shape();
      shape[0] = request.batch;
      model->reshape(shape);
      compiled = ov_core.compile_model(model, device, props);
    } else {
      // By path: with the cache on, a warm load skips reading the ONNX file altogether.
      compiled = ov_core.compile_model(file, device, props);
      check_io(compiled.inputs(), compiled.outputs(), context);
    }

    nlohmann::json e;
    e["openvino_version"] = ov::get_openvino_version().buildNumber;
    e["device"] = device;
    try {
      e["execution_devices"] = compiled.get_property(ov::execution_devices);
    } catch (const std::exception&) {
      e["execution_devices"] = nullptr;
    }
    try {
      e["performance_mode"] = text(compiled.get_property(ov::hint::performance_mode.name()));
    } catch (const std::exception&) {
      e["performance_mode"] = nullptr;
    }
    e["hint_requested"] = hint;
    e["requests_in_flight"] = concurrency;
    try {
      e["optimal_number_of_infer_requests"] =
          compiled.get_property(ov::optimal_number_of_infer_requests);
    } catch (const std::exception&) {
    }
    e["num_streams"] = nullptr;
    try {
      e["num_streams"] = compiled.get_property(ov::num_streams).num;
    } catch (const std::exception&) {
    }
    e["inference_num_threads"] = property_or_null(compiled, ov::inference_num_threads);
    // Read back from the compiled model; what was asked where the plugin does not say.
    e["threads"] = e["inference_num_threads"].is_number() ? e["inference_num_threads"]
                                                          : nlohmann::json(threads);
    e["threads_requested"] = threads;
    e["threads_from"] = threads_from;
    try {
      e["inference_precision"] =
          compiled.get_property(ov::hint::inference_precision).get_type_name();
      e["precision_in_effect"] =
          e["inference_precision"] == "f32" ? "fp32" : e["inference_precision"];
    } catch (const std::exception&) {
      e["inference_precision"] = nullptr;
    }
    if (precision == "int8") {
      const std::map<std::string, int64_t> kernels = int8_layers(compiled);
      if (kernels.empty())
        throw Unsupported(context +
                          "int8 asked, but no convolution or matrix product of the compiled "
                          "model runs in i8/u8 (its runtime model says so)");
      e["int8_kernels"] = kernels;
      e["precision_in_effect"] = "int8";
    }
    if (cache_dir.empty()) {
      e["cache"] = "off";
    } else {
      bool hit = false;
      try {
        hit = compiled.get_property(ov::loaded_from_cache);
      } catch (const std::exception&) {
      }
      e["cache"] = hit ? "hit" : "miss";
      e["cache_dir"] = cache_dir;
    }
    ov::PartialShape in_shape = compiled.input().get_partial_shape();
    e["input_shape"] = in_shape.to_string();
    e["batch"] = request.batch > 0 ? "static " + std::to_string(request.batch) : "dynamic";
    e["input_layout"] = "NCHW";
    std::string internal = internal_input_layout(compiled);
    e["internal_input_layout"] =
        internal.empty() ? nlohmann::json(nullptr) : nlohmann::json(internal);
    if (device == "CPU") {
      try {
        e["enable_hyper_threading"] = compiled.get_property(ov::hint::enable_hyper_threading);
        e["enable_cpu_pinning"] = compiled.get_property(ov::hint::enable_cpu_pinning);
      } catch (const std::exception&) {
      }
    }
    auto engine =
        std::make_unique<OpenVinoEngine>(std::move(compiled), request.batch, std::move(e));
    if (request.profile) engine->set_profiled(request.profile_skip_runs);
    return engine;
  }

  static void check_io(const std::vector<ov::Output<const ov::Node>>& inputs,
                       const std::vector<ov::Output<const ov::Node>>& outputs,
                       const std::string& context) {
    check_io_impl(inputs, outputs, context);
  }
  static void check_io(const std::vector<ov::Output<ov::Node>>& inputs,
                       const std::vector<ov::Output<ov::Node>>& outputs,
                       const std::string& context) {
    check_io_impl(inputs, outputs, context);
  }
  template <typename Port>
  static void check_io_impl(const std::vector<Port>& inputs, const std::vector<Port>& outputs,
                            const std::string& context) {
    if (inputs.size() != 1 || outputs.size() != 1) {
      throw Unsupported(context + "the model has " + std::to_string(inputs.size()) +
                        " inputs and " + std::to_string(outputs.size()) +
                        " outputs; one image input and one output are supported");
    }
    const auto& in = inputs.front();
    if (in.get_element_type() != ov::element::f32) {
      throw Unsupported(context + "input is " + in.get_element_type().get_type_name() +
                        ", not float32");
    }
    const ov::PartialShape& shape = in.get_partial_shape();
    if (shape.rank().is_dynamic() || shape.rank().get_length() != 4) {
      throw Unsupported(context + "input shape " + shape.to_string() +
                        " is not rank 4 [N, C, H, W]");
    }
    if (outputs.front().get_element_type() != ov::element::f32) {
      throw Unsupported(context + "output is " +
                        outputs.front().get_element_type().get_type_name() + ", not float32");
    }
  }

  // One Core per backend object: it owns the device plugins and their thread pools.
  mutable std::unique_ptr<ov::Core> core_;
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::OpenVinoBackend)
