// LibTorch (PyTorch's C++ library, Debian's 1.13 build) as an infermark backend plugin.
//
// LibTorch has no ONNX importer, so the plugin carries a small ONNX interpreter: at load it
// reads the model with Debian's libonnx_proto (the same library and libprotobuf.so.32 that
// libtorch_cpu and the program link), turns the initializers into float32 at::Tensors and the
// graph into a list of steps, each one PyTorch operator (Conv -> at::conv2d, BatchNormalization
// -> at::batch_norm in inference, Gemm -> at::linear, ...). The weights are the file's own, so
// the same model runs under every framework. Operators outside the list are refused at load
// (Unsupported naming the operator and the node). Constant subgraphs are evaluated at load.
// The interpreter is in onnx_to_torch.h/.cc; this file holds the engine and the backend.
//
// Settings: threads (at::set_num_threads; the inter-op pool is set to 1 thread once, since
// the steps run one after the other), channels_last (weights and input in NHWC memory, which
// PyTorch's oneDNN convolutions prefer), fold_batchnorm (each BatchNormalization that only
// follows a Conv is folded into the conv's weight and bias at load: PyTorch's own eval-mode
// optimization, torch.nn.utils.fusion.fuse_conv_bn_eval, so that fused and unfused can be
// compared). Nothing is compiled, so nothing is cached: a warm load repeats the cold load.
//
// run() wraps the caller's input with at::from_blob (no copy; channels_last converts it, a copy
// PyTorch would make too) under c10::InferenceMode and copies the logits into the caller's
// output. PyTorch allocates each intermediate tensor per call (its CPU allocator does not
// cache); that is how PyTorch runs a model. load() runs one forward on zeros at the load batch
// so that oneDNN's primitive creation and weight reorders count as load time.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <onnx/onnx_pb.h>
#include <sched.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/cache.h"  // cpu_has_bf16
#include "backends/libtorch/onnx_to_torch.h"
#include "backends/plugin.h"

#ifndef INFERMARK_LIBTORCH_PACKAGE
#define INFERMARK_LIBTORCH_PACKAGE ""
#endif

namespace infermark {
namespace {

using libtorch_detail::default_opset;
using libtorch_detail::model_shape_string;
using libtorch_detail::Op;
using libtorch_detail::Program;
using libtorch_detail::read_model;
using libtorch_detail::Step;
using libtorch_detail::translate;
using libtorch_detail::value_info;
using libtorch_detail::ValueInfo;

constexpr const char* kName = "libtorch";

// ---------------------------------------------------------------- small helpers

// One line, runs of white space collapsed.
std::string one_line(const std::string& text) {
  const std::string m = collapse_whitespace(text);
  return m.empty() ? "unknown error" : m;
}

// PyTorch's message without its C++ stack trace.
std::string torch_message(const c10::Error& e) { return one_line(e.what_without_backtrace()); }

// "1.13.1+dfsg-4" where the build found Debian's package, else the headers' TORCH_VERSION
// (Debian's 1.13.1 headers say 1.13.0: upstream's version.txt of that tag).
std::string library_version() {
  const std::string package = INFERMARK_LIBTORCH_PACKAGE;
  return package.empty() ? std::string(TORCH_VERSION) : package;
}

// The inter-op pool: one thread, set once per process (PyTorch refuses a second call, and
// any call once the pool has started).
void set_interop_threads_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already started by someone else in this process: read back in settings_in_effect.
    }
  });
}

// ---------------------------------------------------------------- engine

// PyTorch's CPU autocast to bf16 on the calling thread while it lives (its state is
// thread-local), restored after: convolutions and matrix products compute in bf16, what
// autocast keeps in fp32 (batch norm, softmax, reductions) stays there.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on)
      : on_(on),
        was_(at::autocast::is_cpu_enabled()),
        dtype_(at::autocast::get_autocast_cpu_dtype()) {
    if (!on_) return;
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_cpu_enabled(was_);
    at::autocast::set_autocast_cpu_dtype(dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_, was_;
  at::ScalarType dtype_;
};

class LibTorchEngine : public Engine {
 public:
  LibTorchEngine(Program program, ValueInfo in, int threads, bool channels_last, bool bf16,
                 nlohmann::json effect)
      : program_(std::move(program)),
        in_(std::move(in)),
        threads_(threads),
        channels_last_(channels_last),
        bf16_(bf16),
        effect_(std::move(effect)),
        slots_(static_cast<size_t>(program_.slots)) {}

  void run(const TensorView& input, Tensor& output) override {
    check_input(input);
    try {
      c10::InferenceMode guard;
      // OpenMP's thread count is per calling thread and process-wide state: set it again
      // when another engine or thread changed it.
      if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
      const at::Tensor result = forward(input.data, input.shape);
      copy_output(result, output);
    } catch (const Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Error("libtorch: run on input " + shape_string(input.shape) +
                  " failed: " + torch_message(e));
    } catch (const std::bad_alloc&) {
      throw Error("libtorch: run on input " + shape_string(input.shape) + ": out of memory");
    }
  }

  nlohmann::json settings_in_effect() const override {
    nlohmann::json e = effect_;
    e["threads"] = at::get_num_threads();  // read back now: process-wide in PyTorch
    e["interop_threads"] = at::get_num_interop_threads();
    e["mkldnn_enabled"] = at::globalContext().userEnabledMkldnn();
    return e;
  }

  void set_effect(nlohmann::json effect) { effect_ = std::move(effect); }

  // The route's own steps, each one ATen call, timed one by one: on the CPU an ATen call
  // returns when its work is done, so the time around it is the kernel's (what PyTorch's
  // profiler records per operator, without its bookkeeping).
  void set_profiled(int64_t skip_runs) {
    profiled_ = true;
    skip_ = skip_runs;
    step_ms_.assign(program_.steps.size(), 0.0);
  }
  KernelProfile kernel_profile() override {
    if (!profiled_) throw Error("libtorch: this engine was not loaded to profile");
    KernelProfile p;
    p.profiler = "infermark's timer around each ATen call of the ONNX route's steps";
    p.runs = std::max<int64_t>(0, runs_ - skip_);
    for (size_t i = 0; i < program_.steps.size(); ++i) {
      KernelTime k;
      k.name = program_.steps[i].node;
      k.kind = program_.steps[i].op_type;
      k.nodes = {program_.steps[i].produces};
      k.ms = step_ms_[i];
      k.calls = p.runs;
      p.kernels.push_back(std::move(k));
    }
    return p;
  }

  // Runs the steps (the caller holds an InferenceMode guard), under bf16 autocast when the
  // engine computes in bf16.
  at::Tensor forward(const float* data, const std::vector<int64_t>& shape) {
    const Bf16Autocast autocast(bf16_);
    at::Tensor x = at::from_blob(const_cast<float*>(data), shape, at::kFloat);
    if (channels_last_) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    slots_[0] = x;
    const bool timed = profiled_ && runs_++ >= skip_;
    for (size_t i = 0; i < program_.steps.size(); ++i) {
      const Step& s = program_.steps[i];
      const auto t0 =
          timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      slots_[static_cast<size_t>(s.out)] = libtorch_detail::execute(s, slots_);
      if (timed)
        step_ms_[i] +=
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
      for (int r : s.release) slots_[static_cast<size_t>(r)].reset();
    }
    at::Tensor result = program_.output_slot >= 0
                            ? std::move(slots_[static_cast<size_t>(program_.output_slot)])
                            : program_.output_constant;
    for (auto& t : slots_) t.reset();
    return result;
  }

  void check_input(const TensorView& input) const {
    if (input.data == nullptr) throw Error("libtorch: input has no data");
    bool match = input.shape.size() == 4 && in_.dims.size() == 4;
    for (size_t i = 0; match && i < 4; ++i)
      match = input.shape[i] > 0 && (in_.dims[i] < 0 || in_.dims[i] == input.shape[i]);
    if (!match) {
      throw Error("libtorch: input shape " + shape_string(input.shape) +
                  " does not match the model's input '" + in_.name + "' " +
                  model_shape_string(in_));
    }
  }

 private:
  static void copy_output(const at::Tensor& result, Tensor& output) {
    // bf16 under autocast: copy_ converts it into the caller's float32 output.
    if (result.scalar_type() != at::kFloat && result.scalar_type() != at::kBFloat16)
      throw Error("libtorch: the output is not float32");
    const std::vector<int64_t> shape = result.sizes().vec();
    if (output.shape != shape || output.data.size() != static_cast<size_t>(result.numel()))
      output.resize(shape);
    at::Tensor dst = at::from_blob(output.data.data(), shape, at::kFloat);
    dst.copy_(result);
  }

  Program program_;
  ValueInfo in_;
  int threads_;
  bool channels_last_;
  bool bf16_;
  nlohmann::json effect_;
  std::vector<at::Tensor> slots_;
  bool profiled_ = false;
  int64_t skip_ = 0, runs_ = 0;
  std::vector<double> step_ms_;  // per step, summed over the timed runs
};

// ---------------------------------------------------------------- backend

class LibTorchBackend : public Backend {
 public:
  // PyTorch's inter-op pool, sized once per process.
  void start() override { set_interop_threads_once(); }

  BackendInfo info() const override {
    BackendInfo b = cpu_backend_info(kName, library_version());
    b.available = true;
    // PyTorch's CPU autocast computes convolutions and matrix products in bf16 on any x86 CPU,
    // fast with AVX512_BF16 or AMX and emulated by oneDNN without: offered where it is fast.
    b.capabilities.precisions = {"fp32"};
    b.capabilities.kernel_profiler = "a timer around each ATen call of the ONNX route";
    if (cpu_has_bf16()) b.capabilities.precisions.push_back("bf16");
    b.settings = {
        int_setting("threads", "0", 0, 1024,
                    "at::set_num_threads: intra-op threads (OpenMP in Debian's build), "
                    "process-wide, so each run sets it again if another engine changed it; the "
                    "inter-op pool gets 1 thread (the steps run in order); 0 = the harness's "
                    "--threads, itself 0 = every core this process may use (sched_getaffinity), "
                    "the same count every framework gets"),
        bool_setting("channels_last", "false",
                     "convolution weights and the input in channels-last (NHWC) memory "
                     "(torch::MemoryFormat::ChannelsLast), the layout PyTorch's oneDNN "
                     "convolutions prefer; the input's conversion is a copy inside each run; "
                     "default false: PyTorch's default contiguous NCHW"),
        bool_setting("fold_batchnorm", "false",
                     "fold each BatchNormalization that directly follows a Conv (its only "
                     "reader) into the conv's weight and bias at load, as PyTorch's eval-mode "
                     "fuse_conv_bn_eval does; default false: the model's operators as they are, "
                     "so that the fusion can be measured as an ablation"),
    };
    tune_values(b.settings, "channels_last", {"false", "true"});
    tune_values(b.settings, "fold_batchnorm", {"false", "true"});
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    const std::string context = "libtorch: cannot load '" + request.model.string() + "': ";
    try {
      return load_impl(request);
    } catch (const Unsupported& e) {
      throw Unsupported(context + e.what());
    } catch (const Error& e) {
      throw Error(context + e.what());
    } catch (const c10::Error& e) {
      throw Error(context + torch_message(e));
    } catch (const std::bad_alloc&) {
      throw Error(context + "out of memory");
    } catch (const std::exception& e) {
      throw Error(context + one_line(e.what()));
    }
  }

 private:
  static std::unique_ptr<Engine> load_impl(const LoadRequest& request) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const Settings& s = request.settings;
    const bool channels_last = setting_bool(s, "channels_last");
    const bool fold_batchnorm = setting_bool(s, "fold_batchnorm");
    if (request.precision != "fp32" && request.precision != "bf16")
      throw Unsupported("precision " + request.precision + " is not offered (fp32, bf16)");
    const bool bf16 = request.precision == "bf16";

    const auto [threads, threads_from] =
        resolve_threads(setting_int(s, "threads"), request.threads);
    set_interop_threads_once();
    at::set_num_threads(threads);

    // ---- the file
    const onnx::ModelProto model = read_model(request.model);
    const onnx::GraphProto& g = model.graph();
    std::set<std::string> initializers;
    for (const auto& i : g.initializer()) initializers.insert(i.name());
    std::vector<ValueInfo> inputs;
    for (const auto& i : g.input())
      if (!initializers.count(i.name())) inputs.push_back(value_info(i));
    if (inputs.size() != 1 || g.output_size() != 1) {
      throw Unsupported("expected one input and one output, the model has " +
                        std::to_string(inputs.size()) + " and " + std::to_string(g.output_size()));
    }
    const ValueInfo in = inputs.front();
    const ValueInfo out = value_info(g.output(0));
    if (in.elem_type != onnx::TensorProto::FLOAT || !in.has_shape || in.dims.size() != 4) {
      throw Unsupported("input '" + in.name +
                        "' must be a float32 tensor of rank 4 (NCHW), it is " +
                        (in.elem_type == onnx::TensorProto::FLOAT ? "float32 " : "non-float32 ") +
                        model_shape_string(in));
    }
    if (out.elem_type != onnx::TensorProto::FLOAT)
      throw Unsupported("output '" + out.name + "' must be a float32 tensor");
    if (request.batch > 0 && in.dims[0] > 0 && in.dims[0] != request.batch) {
      throw Error("batch " + std::to_string(request.batch) +
                  " requested, the model's input is fixed to " + model_shape_string(in));
    }
    const int64_t opset = default_opset(model);
    const double read_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

    // ---- the steps, with PyTorch's tensors
    c10::InferenceMode guard;
    Program program = translate(g, opset, fold_batchnorm, in.name, out.name);
    if (channels_last)
      for (Step& st : program.steps)
        if (st.op == Op::kConv) st.weight = st.weight.contiguous(at::MemoryFormat::ChannelsLast);
    const double translate_ms =
        std::chrono::duration<double, std::milli>(clock::now() - t0).count() - read_ms;

    nlohmann::json operators = nlohmann::json::object();
    for (const auto& [op, count] : program.operators) operators[op] = count;
    const int folded = program.batchnorms_folded;
    const size_t steps = program.steps.size();

    nlohmann::json effect = {
        {"version", library_version()},
        {"torch_version", TORCH_VERSION},
        {"device", "cpu"},
        {"threads_requested", threads},
        {"threads_from", threads_from},
        {"channels_last", channels_last},
        {"fold_batchnorm", fold_batchnorm},
        {"batchnorms_folded", folded},
        {"mkldnn_available", at::hasMKLDNN()},
        {"openmp_available", at::hasOpenMP()},
        {"grad_mode", "inference_mode"},
        {"autocast", bf16 ? "cpu bf16 (at::autocast)" : "off"},
        {"route", "ONNX graph interpreted with PyTorch (ATen) operators"},
        {"opset", opset},
        {"steps", steps},
        {"operators", operators},
        {"cache", "none"},
        {"cache_note", "nothing is compiled: a warm load repeats the cold load"},
        {"input", {{"name", in.name}, {"shape", model_shape_string(in)}}},
        {"output", {{"name", out.name}, {"shape", model_shape_string(out)}}},
        {"read_ms", read_ms},
        {"translate_ms", translate_ms},
    };
    auto engine = std::make_unique<LibTorchEngine>(std::move(program), in, threads, channels_last,
                                                   bf16, effect);

    // ---- one forward on zeros at the load batch: oneDNN's primitives and weight reorders
    // (and any shape error) belong to loading.
    const int64_t setup_batch =
        request.batch > 0 ? request.batch : (in.dims[0] > 0 ? in.dims[0] : 1);
    double setup_ms = 0;
    if (in.dims[1] > 0 && in.dims[2] > 0 && in.dims[3] > 0) {
      const auto t1 = clock::now();
      const std::vector<int64_t> shape = {setup_batch, in.dims[1], in.dims[2], in.dims[3]};
      std::vector<float> zeros(
          static_cast<size_t>(setup_batch * in.dims[1] * in.dims[2] * in.dims[3]));
      try {
        // The type autocast leaves the logits in says what the last layer computed in.
        effect["precision_in_effect"] =
            engine->forward(zeros.data(), shape).scalar_type() == at::kBFloat16 ? "bf16" : "fp32";
      } catch (const c10::Error& e) {
        throw Error("a forward pass on zeros " + shape_string(shape) +
                    " fails: " + torch_message(e));
      }
      setup_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
      effect["setup_batch"] = setup_batch;
    } else {
      effect["setup_note"] = "left to the first run: the model's input " + model_shape_string(in) +
                             " has free image dimensions";
    }
    effect["setup_ms"] = setup_ms;
    effect["load_ms"] = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    engine->set_effect(std::move(effect));
    if (request.profile) engine->set_profiled(request.profile_skip_runs);  // after the setup run
    return engine;
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::LibTorchBackend)
