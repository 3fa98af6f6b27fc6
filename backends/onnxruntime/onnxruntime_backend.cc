// ONNX Runtime (CPU execution provider) as an infermark backend plugin.
//
// One Ort::Env per backend object, one Ort::Session per engine. run() binds the caller's
// input and output buffers as Ort::Value views (no copies) and, once the output has its
// size, allocates nothing of ours per call. An optional on-disk cache keeps the optimized
// graph ORT writes at the first load, so later loads skip graph optimization.

#include <onnxruntime_cxx_api.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "backends/cache.h"
#include "backends/onnxruntime/ort_support.h"
#include "backends/onnxruntime/profile_reader.h"
#include "backends/plugin.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;

constexpr const char* kName = "onnxruntime";

using ort_detail::count_int8_kernels;
using ort_detail::is_unsupported;
using ort_detail::level_of;
using ort_detail::log_to_stderr;
using ort_detail::ort_message;
using ort_detail::rethrow_load_error;

// ---------------------------------------------------------------- small helpers

std::string ort_version() { return OrtGetApiBase()->GetVersionString(); }

// Null when the loaded library does not serve the API version of our headers.
const OrtApi* ort_api() {
  static const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  return api;
}

void init_api_or_throw() {
  const OrtApi* api = ort_api();
  if (!api) {
    throw Error(std::string("onnxruntime: library ") + ort_version() +
                " does not serve C API version " + std::to_string(ORT_API_VERSION) +
                " (the plugin's headers)");
  }
  Ort::InitApi(api);
}

struct TensorMeta {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;         // -1 where free
  std::vector<std::string> symbols;  // dim_param names ("" where none)
};

TensorMeta read_meta(const Ort::TypeInfo& info, std::string name) {
  TensorMeta m;
  m.name = std::move(name);
  if (info.GetONNXType() != ONNX_TYPE_TENSOR) return m;
  auto t = info.GetTensorTypeAndShapeInfo();
  m.type = t.GetElementType();
  m.dims = t.GetShape();
  for (const char* s : t.GetSymbolicDimensions()) m.symbols.emplace_back(s ? s : "");
  return m;
}

// ---------------------------------------------------------------- engine

class OnnxRuntimeEngine : public Engine {
 public:
  OnnxRuntimeEngine(std::shared_ptr<Ort::Env> env, std::shared_ptr<Ort::Session> session,
                    TensorMeta in, TensorMeta out, nlohmann::json effect)
      : env_(std::move(env)),
        session_(std::move(session)),
        in_(std::move(in)),
        out_(std::move(out)),
        effect_(std::move(effect)),
        memory_(Ort::MemoryInfo::CreateCpu(OrtDeviceAllocator, OrtMemTypeDefault)) {
    in_name_ = in_.name.c_str();
    out_name_ = out_.name.c_str();
  }

  void run(const TensorView& input, Tensor& output) override {
    try {
      if (input.data != bound_in_data_ || input.shape != bound_in_shape_) {
        bind_input(input);
      }
      if (!out_known_) {
        run_learning_output_shape(output);
        return;
      }
      if (output.shape != out_shape_ || output.data.size() != out_numel_) output.resize(out_shape_);
      if (output.data.data() != bound_out_data_) {
        out_value_ = Ort::Value::CreateTensor<float>(
            memory_, output.data.data(), output.data.size(), out_shape_.data(), out_shape_.size());
        bound_out_data_ = output.data.data();
      }
      session_->Run(run_options_, &in_name_, &in_value_, 1, &out_name_, &out_value_, 1);
    } catch (const Error&) {
      throw;
    } catch (const Ort::Exception& e) {
      throw Error("onnxruntime: run failed: " + ort_message(e.what()));
    } catch (const std::exception& e) {
      throw Error(std::string("onnxruntime: run failed: ") + e.what());
    }
  }

  nlohmann::json settings_in_effect() const override { return effect_; }

  // The session was made with profiling on: ending it writes the trace file, read and removed.
  KernelProfile kernel_profile() override {
    if (!profiled_) throw Error("onnxruntime: this engine was not loaded to profile, or was read");
    Ort::AllocatorWithDefaultOptions alloc;
    const fs::path file = session_->EndProfilingAllocated(alloc).get();
    profiled_ = false;
    KernelProfile p = read_ort_profile(file, skip_);
    std::error_code ec;
    fs::remove(file, ec);
    return p;
  }
  void set_profiled(int64_t skip_runs) {
    profiled_ = true;
    skip_ = skip_runs;
  }

  // ORT's CPU arena keeps every region it grew (a burst of batches of 8 added 60 MB to a
  // server serving EfficientNetB0) until a run asks it to shrink: one run of a single blank
  // image with the run option that frees the arena's regions no tensor uses. The run's own
  // bindings are local, so a request running at the same time is not disturbed.
  void release_cached_memory() override {
    if (!effect_.value("memory_arena", false)) return;  // no arena: nothing is kept
    // The model's dims for one image: a free batch dim set to 1; false where another dim is
    // free (no blank image to run).
    const auto one_image = [](std::vector<int64_t>& dims) {
      for (size_t i = 0; i < dims.size(); ++i)
        if (dims[i] < 0) {
          if (i != 0) return false;
          dims[i] = 1;
        }
      return true;
    };
    // The output in memory of its own too: one the arena allocated would still be in use when
    // the arena shrinks, at the end of the run, and keep its region (tens of MB) from going.
    std::vector<int64_t> shape = in_.dims, out_shape = out_.dims;
    if (!one_image(shape) || !one_image(out_shape)) return;
    std::vector<float> blank(static_cast<size_t>(Tensor{shape, {}}.numel()), 0.0f);
    std::vector<float> scores(static_cast<size_t>(Tensor{out_shape, {}}.numel()));
    try {
      Ort::RunOptions shrink;
      shrink.AddConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
      Ort::Value x = Ort::Value::CreateTensor<float>(memory_, blank.data(), blank.size(),
                                                     shape.data(), shape.size());
      Ort::Value y = Ort::Value::CreateTensor<float>(memory_, scores.data(), scores.size(),
                                                     out_shape.data(), out_shape.size());
      session_->Run(shrink, &in_name_, &x, 1, &out_name_, &y, 1);
    } catch (const Ort::Exception& e) {
      throw Error("onnxruntime: releasing the arena failed: " + ort_message(e.what()));
    }
  }

  // ORT's Run is thread-safe on one session: another request shares the session (its weights,
  // optimized graph and thread pool) with its own bindings and output buffers.
  std::unique_ptr<Engine> new_request() override {
    nlohmann::json effect = effect_;
    effect["requests_share_session"] = true;
    return std::make_unique<OnnxRuntimeEngine>(env_, session_, in_, out_, std::move(effect));
  }

 private:
  void bind_input(const TensorView& input) {
    const bool rank_ok = input.shape.size() == in_.dims.size();
    bool match = rank_ok;
    for (size_t i = 0; match && i < in_.dims.size(); ++i)
      match = input.shape[i] > 0 && (in_.dims[i] < 0 || in_.dims[i] == input.shape[i]);
    if (!match) {
      throw Error("onnxruntime: input shape " + shape_string(input.shape) +
                  " does not match the model's input '" + in_.name + "' " +
                  model_shape_string(in_.dims, in_.symbols));
    }
    if (input.data == nullptr) throw Error("onnxruntime: input has no data");
    in_value_ = Ort::Value::CreateTensor<float>(memory_, const_cast<float*>(input.data),
                                                static_cast<size_t>(input.numel()),
                                                input.shape.data(), input.shape.size());
    bound_in_shape_ = input.shape;
    bound_in_data_ = input.data;

    // The output shape: the model's, with a free batch dim taken from the input.
    out_shape_ = out_.dims;
    out_known_ = true;
    for (size_t i = 0; i < out_shape_.size(); ++i) {
      if (out_shape_[i] >= 0) continue;
      if (i == 0) {
        out_shape_[i] = input.shape[0];
      } else {
        out_known_ = false;  // learnt from a first run
      }
    }
    out_numel_ = out_known_ ? static_cast<size_t>(Tensor{out_shape_, {}}.numel()) : 0;
    bound_out_data_ = nullptr;
  }

  // A free non-batch output dim: let ORT allocate once, then keep the learnt shape.
  void run_learning_output_shape(Tensor& output) {
    auto values = session_->Run(run_options_, &in_name_, &in_value_, 1, &out_name_, 1);
    auto info = values.at(0).GetTensorTypeAndShapeInfo();
    out_shape_ = info.GetShape();
    out_known_ = true;
    out_numel_ = info.GetElementCount();
    output.resize(out_shape_);
    const float* src = values[0].GetTensorData<float>();
    std::copy(src, src + output.data.size(), output.data.begin());
    bound_out_data_ = nullptr;
  }

  std::shared_ptr<Ort::Env> env_;          // outlives the session
  std::shared_ptr<Ort::Session> session_;  // shared by the requests of one load
  TensorMeta in_, out_;
  nlohmann::json effect_;
  Ort::MemoryInfo memory_;
  Ort::RunOptions run_options_;
  const char* in_name_ = nullptr;
  const char* out_name_ = nullptr;

  Ort::Value in_value_{nullptr};
  Ort::Value out_value_{nullptr};
  std::vector<int64_t> bound_in_shape_;
  const float* bound_in_data_ = nullptr;
  const float* bound_out_data_ = nullptr;
  std::vector<int64_t> out_shape_;
  size_t out_numel_ = 0;
  bool out_known_ = false;
  bool profiled_ = false;  // loaded with profiling on, and the profile not yet taken
  int64_t skip_ = 0;       // warm-up runs the profile leaves out
};

// ---------------------------------------------------------------- backend

class OnnxRuntimeBackend : public Backend {
 public:
  BackendInfo info() const override {
    BackendInfo b = cpu_backend_info(kName, ort_version());
    if (!ort_api()) {
      b.available = false;
      b.reason = "library " + b.version + " does not serve C API version " +
                 std::to_string(ORT_API_VERSION) + " that the plugin was built for";
    } else {
      b.available = true;
    }
    b.capabilities.shared_requests = true;  // Run is thread-safe on one session
    // int8: the QDQ model the harness's preparation quantizes, run by ORT's int8 kernels
    // (verified at load in the optimized graph).
    b.capabilities.precisions = {"fp32", "int8"};
    b.capabilities.kernel_profiler = "ONNX Runtime's session profiler";
    b.settings = {
        enum_setting("graph_optimization_level", "all", {"disabled", "basic", "extended", "all"},
                     "graph rewrites before running (constant folding, fusions, NCHWc layout); "
                     "default all: the highest level, as in production use"),
        path_setting("cache_dir", default_cache_dir(kName),
                     "where the optimized graph of each model is kept so later loads skip "
                     "optimization; \"off\" (or \"\") disables; default under $XDG_CACHE_HOME "
                     "or ~/.cache"),
        enum_setting("execution_mode", "sequential", {"sequential", "parallel"},
                     "run operators one after another or independent ones concurrently; default "
                     "sequential: ORT's default, best for chain-shaped CNNs"),
        bool_setting("memory_arena", "true",
                     "reuse CPU memory through ORT's arena allocator; default true: ORT's "
                     "default, avoids malloc per run"),
        bool_setting("memory_pattern", "true",
                     "plan intermediate buffers from the first run's shapes; default true: ORT's "
                     "default, fewer allocations when shapes stay the same"),
        bool_setting("allow_spinning", "true",
                     "pool threads spin waiting for the next piece of work "
                     "(session.intra_op/inter_op.allow_spinning); default true: ORT's default, "
                     "lowest latency for runs back to back; false frees the cores between runs"),
    };
    add_two_pool_thread_settings(
        b.settings, "threads inside one operator",
        "threads running independent operators (parallel execution mode only)");
    tune_values(b.settings, "allow_spinning", {"true", "false"});
    tune_values(b.settings, "execution_mode", {"sequential", "parallel"});
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    return load_or_error(
        kName, request.model, [&] { return load_impl(request); },
        [&](const std::exception& e, const std::string&) -> std::string {
          if (const auto* ort = dynamic_cast<const Ort::Exception*>(&e))
            rethrow_load_error(request.model, *ort);
          return e.what();
        });
  }

 public:
  // ONNX Runtime's environment (its logging and global thread state), shared by the engines.
  void start() override { env(); }

 private:
  std::shared_ptr<Ort::Env> env() {
    std::lock_guard<std::mutex> lock(env_mutex_);
    if (!env_) {
      init_api_or_throw();
      env_ = std::make_shared<Ort::Env>(ORT_LOGGING_LEVEL_WARNING, "infermark", log_to_stderr,
                                        nullptr);
    }
    return env_;
  }

  std::unique_ptr<Engine> load_impl(const LoadRequest& request) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const fs::path& model = request.model;
    const Settings& s = request.settings;

    model_file_context(kName, model);
    std::error_code ec;
    auto env_ptr = env();

    // ---- options
    const std::string level_name = setting(s, "graph_optimization_level");
    const GraphOptimizationLevel level = level_of(level_name);
    const ThreadChoice intra_choice =
        resolve_threads(setting_int(s, "intra_op_threads"), request.threads);
    // Named variables, not a structured binding: make_options captures intra, and clang 14
    // cannot capture a structured binding in a lambda.
    const int intra = intra_choice.threads;
    const char* const threads_from = intra_choice.from;
    int inter = static_cast<int>(setting_int(s, "inter_op_threads"));
    if (inter == 0) inter = cores_available();
    const bool parallel = setting(s, "execution_mode") == "parallel";
    const bool arena = setting_bool(s, "memory_arena");
    const bool pattern = setting_bool(s, "memory_pattern");
    const char* const spinning = setting_bool(s, "allow_spinning") ? "1" : "0";

    auto make_options = [&](GraphOptimizationLevel lvl) {
      Ort::SessionOptions o;
      o.SetGraphOptimizationLevel(lvl);
      o.SetIntraOpNumThreads(intra);
      o.SetInterOpNumThreads(inter);
      o.SetExecutionMode(parallel ? ORT_PARALLEL : ORT_SEQUENTIAL);
      if (arena)
        o.EnableCpuMemArena();
      else
        o.DisableCpuMemArena();
      if (pattern)
        o.EnableMemPattern();
      else
        o.DisableMemPattern();
      o.AddConfigEntry("session.intra_op.allow_spinning", spinning);
      o.AddConfigEntry("session.inter_op.allow_spinning", spinning);
      o.SetLogId("infermark");
      if (request.profile) {
        const std::string prefix =
            (fs::temp_directory_path() / ("infermark-ort-profile-" + std::to_string(::getpid())))
                .string();
        o.EnableProfiling(prefix.c_str());
      }
      return o;
    };

    // ---- cache
    const fs::path abs_model = fs::weakly_canonical(fs::absolute(model));
    const std::string stamp = file_stamp(abs_model);
    if (stamp.empty()) {
      throw Error("onnxruntime: cannot load '" + model.string() + "': cannot stat file");
    }
    const std::string key =
        stamp + "\n" + level_name + "\n" + ort_version() + "\n" + cpu_identity();
    // One optimized .onnx file per model and level; nothing to cache without optimization.
    CacheEntry cache = find_cache_entry(
        level == ORT_DISABLE_ALL ? kCacheOff : setting(s, "cache_dir"), abs_model, level_name, key,
        ".onnx", [](const fs::path& f) { return fs::is_regular_file(f); });
    if (level == ORT_DISABLE_ALL && setting(s, "cache_dir") != kCacheOff &&
        !setting(s, "cache_dir").empty()) {
      cache.note = "nothing to cache at graph_optimization_level=disabled";
    }
    std::string& cache_state = cache.state;
    std::string& cache_note = cache.note;
    const fs::path cache_file = cache.path;
    const std::string& cache_prefix = cache.prefix;

    std::optional<Ort::Session> session;
    std::string level_at_load = level_name;
    if (cache_state == "hit") {
      // Every rewrite of the requested level is already in the file: do not run them again.
      try {
        session.emplace(*env_ptr, cache_file.c_str(), make_options(ORT_DISABLE_ALL));
        level_at_load = "disabled";
      } catch (const Ort::Exception& e) {
        fs::remove(cache_file, ec);
        cache_state = "miss";
        cache_note = "cached file was unusable, rebuilt: " + ort_message(e.what());
      }
    }
    if (cache_state == "miss") {
      // Written under a temporary name and renamed, so that a crash or a concurrent load
      // never leaves a half-written file under the final name.
      const fs::path tmp = cache_file.string() + ".tmp." + std::to_string(::getpid());
      try {
        auto o = make_options(level);
        o.SetOptimizedModelFilePath(tmp.c_str());
        session.emplace(*env_ptr, model.c_str(), o);
        fs::rename(tmp, cache_file, ec);
        if (ec) {
          cache_state = "error";
          cache_note = "cannot write " + cache_file.string() + ": " + ec.message();
        } else {
          remove_stale_entries(cache_file, cache_prefix, ".onnx");
        }
      } catch (const Ort::Exception& e) {
        // Maybe only saving failed (e.g. a graph over protobuf's 2 GB): load without it; if
        // the model itself is the problem, the plain load below reports that.
        cache_state = "error";
        cache_note = "cannot save the optimized graph: " + ort_message(e.what());
      }
      fs::remove(tmp, ec);
    }
    // int8 is verified in the optimized graph: without a cache file, one is written aside.
    const bool int8 = request.precision == "int8";
    fs::path graph_file = cache_state == "hit" || cache_state == "miss" ? cache_file : fs::path();
    if (!session) {
      auto o = make_options(level);
      if (int8 && level != ORT_DISABLE_ALL) {
        graph_file = fs::temp_directory_path() /
                     ("infermark-ort-int8-" + std::to_string(::getpid()) + ".onnx");
        o.SetOptimizedModelFilePath(graph_file.c_str());
      }
      session.emplace(*env_ptr, model.c_str(), o);
    }
    std::map<std::string, int64_t> int8_kernels;
    if (int8) {
      if (!graph_file.empty()) int8_kernels = count_int8_kernels(graph_file);
      if (graph_file != cache_file) fs::remove(graph_file, ec);
      if (int8_kernels.empty())
        throw Unsupported("onnxruntime: int8 asked, but the optimized graph of '" + model.string() +
                          "' has no int8 kernel (QLinearConv, QGemm, MatMulInteger...): its "
                          "QuantizeLinear/DequantizeLinear pairs would run in float" +
                          (level == ORT_DISABLE_ALL ? " (graph_optimization_level=disabled)" : ""));
    }
    if (cache_state == "error") {
      std::fprintf(stderr, "onnxruntime: cache not used: %s\n", cache_note.c_str());
    }

    // ---- the model's interface (a model we cannot run leaves no file in the cache)
    try {
      check_interface(*session, request);
    } catch (...) {
      if (cache_state == "miss") fs::remove(cache_file, ec);
      throw;
    }
    Ort::AllocatorWithDefaultOptions alloc;
    TensorMeta in =
        read_meta(session->GetInputTypeInfo(0), session->GetInputNameAllocated(0, alloc).get());
    TensorMeta out =
        read_meta(session->GetOutputTypeInfo(0), session->GetOutputNameAllocated(0, alloc).get());

    const double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();

    // ORT has no getters for these session options; every value below was set explicitly
    // (no 0 = "ORT decides"), so they are what the session runs with.
    nlohmann::json effect = {
        {"version", ort_version()},
        {"api_version", ORT_API_VERSION},
        {"providers", {"CPUExecutionProvider"}},
        {"providers_available", Ort::GetAvailableProviders()},
        {"graph_optimization_level", level_name},
        {"graph_optimization_level_at_load", level_at_load},
        {"threads", intra},  // the intra-op pool, as set (ORT has no getter)
        {"threads_from", threads_from},
        {"intra_op_threads", intra},
        {"inter_op_threads", inter},
        {"inter_op_threads_used", parallel},
        {"execution_mode", parallel ? "parallel" : "sequential"},
        {"memory_arena", arena},
        {"memory_pattern", pattern},
        // Read back from the session options the session was made with (ORT has no getter
        // on the session itself); "1" is ORT's default when the entry is absent.
        {"intra_op_allow_spinning", make_options(level).GetConfigEntryOrDefault(
                                        "session.intra_op.allow_spinning", "1") == "1"},
        {"inter_op_allow_spinning", make_options(level).GetConfigEntryOrDefault(
                                        "session.inter_op.allow_spinning", "1") == "1"},
        {"cache", cache_state},
        {"cache_file", cache_file.string()},
        {"load_ms", load_ms},
        {"input", {{"name", in.name}, {"shape", model_shape_string(in.dims, in.symbols)}}},
        {"output", {{"name", out.name}, {"shape", model_shape_string(out.dims, out.symbols)}}},
    };
    if (!cache_note.empty()) effect["cache_note"] = cache_note;
    effect["precision_in_effect"] = int8 ? "int8" : "fp32";
    if (int8) effect["int8_kernels"] = int8_kernels;

    auto engine = std::make_unique<OnnxRuntimeEngine>(
        std::move(env_ptr), std::make_shared<Ort::Session>(std::move(*session)), std::move(in),
        std::move(out), std::move(effect));
    if (request.profile) engine->set_profiled(request.profile_skip_runs);
    return engine;
  }

  static void check_interface(const Ort::Session& session, const LoadRequest& request) {
    const fs::path& model = request.model;
    Ort::AllocatorWithDefaultOptions alloc;
    const size_t n_in = session.GetInputCount(), n_out = session.GetOutputCount();
    if (n_in != 1 || n_out != 1) {
      throw Unsupported("onnxruntime: cannot load '" + model.string() +
                        "': expected one input "
                        "and one output, the model has " +
                        std::to_string(n_in) + " and " + std::to_string(n_out));
    }
    TensorMeta in =
        read_meta(session.GetInputTypeInfo(0), session.GetInputNameAllocated(0, alloc).get());
    TensorMeta out =
        read_meta(session.GetOutputTypeInfo(0), session.GetOutputNameAllocated(0, alloc).get());
    if (in.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || in.dims.size() != 4) {
      throw Unsupported(
          "onnxruntime: cannot load '" + model.string() + "': input '" + in.name +
          "' must be a float32 tensor of rank 4 (NCHW), it is " +
          (in.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT ? "float32 " : "non-float32 ") +
          model_shape_string(in.dims, in.symbols));
    }
    if (out.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      throw Unsupported("onnxruntime: cannot load '" + model.string() + "': output '" + out.name +
                        "' must be a float32 tensor");
    }
    if (request.batch > 0 && in.dims[0] > 0 && in.dims[0] != request.batch) {
      throw Error("onnxruntime: cannot load '" + model.string() + "': batch " +
                  std::to_string(request.batch) + " requested, the model's input is fixed to " +
                  model_shape_string(in.dims, in.symbols));
    }
  }

  std::mutex env_mutex_;
  std::shared_ptr<Ort::Env> env_;  // one per backend object, shared with its engines
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::OnnxRuntimeBackend)
