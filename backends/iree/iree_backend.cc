// IREE (MLIR) as an infermark backend plugin: ONNX -> MLIR -> an llvm-cpu .vmfb, run by IREE's
// runtime on the local-task (multi-threaded CPU) device.
//
// Load, on a cache miss, runs three programs of .venv-iree (scripts/deps/iree.sh), each a
// subprocess whose time is load time:
//   1. prepare_onnx.py    checks the interface and fixes the input's batch dimension to the
//                         requested batch, so that IREE compiles static shapes;
//   2. iree-import-onnx   ONNX -> MLIR (torch-mlir's ONNX dialect);
//   3. iree-compile       MLIR -> .vmfb for llvm-cpu with the host's CPU features.
// The .vmfb and the model's interface (meta.json) are kept in cache_dir, keyed by the model
// file, batch, settings, IREE's version and compiler library, prepare_onnx.py, and the CPU; a
// hit runs none of the three. A step that fails gives its meaningful output lines as the Error
// message.
//
// Run: the iree-base-runtime wheel ships only a Python extension (no C headers or library), so
// the plugin embeds CPython (Debian's libpython, the interpreter .venv-iree is made from) and
// drives iree.runtime through backends/iree/iree_host.py. The timing loop stays in C++: run()
// takes the GIL, makes one Python call (one VM invocation on an input imported in place, not
// copied) and copies the logits out of the returned buffer. The embedded interpreter is in
// python_host.h/.cc, the compile steps' subprocesses in compile_tools.h/.cc.

#include <Python.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <regex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backends/cache.h"
#include "backends/iree/compile_tools.h"
#include "backends/iree/python_host.h"
#include "backends/plugin.h"

namespace infermark {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kName = "iree";

using namespace iree_detail;  // the plugin's own helpers, in the files beside it

constexpr const char* kVenv = INFERMARK_IREE_VENV;
constexpr const char* kSitePackages = INFERMARK_IREE_SITE_PACKAGES;
constexpr const char* kHelperDir = INFERMARK_IREE_HELPER_DIR;
constexpr const char* kVersion = INFERMARK_IREE_VERSION;
// IREE's bindings assume 64-byte aligned buffers (the compiler marks every binding so and may
// emit aligned vector loads); an input elsewhere is copied into an aligned buffer first.
constexpr size_t kInputAlignment = 64;

// ---------------------------------------------------------------- small helpers

fs::path venv_tool(const char* name) { return fs::path(kVenv) / "bin" / name; }

// Size and modification time: "12345@1700000000.123456789", or "" when missing.
// The compiler library itself: a reinstalled or rebuilt compiler of the same version number
// (IREE's wheels are nightly builds under one release number) makes new cache entries.
std::string compiler_stamp() {
  return file_stamp(fs::path(kSitePackages) / "iree/compiler/_mlir_libs/libIREECompiler.so");
}

// The route's own step: a changed prepare_onnx.py may prepare models differently.
std::string helper_hash() {
  const fs::path dir = kHelperDir;
  return hash_hex(read_file(dir / "prepare_onnx.py") +
                  read_file(dir.parent_path() / "onnx_shapes.py"));
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Step {
  const char* name;
  double seconds;
};

// ---------------------------------------------------------------- engine

struct Interface {
  std::string function, input_name, output_name;
  int opset = 0, opset_imported = 0;             // the model's, and after prepare_onnx.py's upgrade
  std::vector<int64_t> input_dims, output_dims;  // -1 where free
  std::vector<std::string> input_symbols, output_symbols;
};

Interface read_interface(const fs::path& meta_file) {
  std::ifstream in(meta_file);
  const nlohmann::json j = nlohmann::json::parse(in);  // throws on a bad file
  Interface i;
  i.function = j.at("function");
  i.opset = j.at("opset");
  i.opset_imported = j.at("opset_imported");
  i.input_name = j.at("input").at("name");
  i.input_dims = j.at("input").at("dims").get<std::vector<int64_t>>();
  i.input_symbols = j.at("input").at("symbols").get<std::vector<std::string>>();
  i.output_name = j.at("output").at("name");
  i.output_dims = j.at("output").at("dims").get<std::vector<int64_t>>();
  i.output_symbols = j.at("output").at("symbols").get<std::vector<std::string>>();
  return i;
}

struct AlignedFree {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(kInputAlignment)); }
};

class IreeEngine : public Engine {
 public:
  IreeEngine(PyRef module, Interface io, nlohmann::json effect)
      : module_(std::move(module)), io_(std::move(io)), effect_(std::move(effect)) {}

  ~IreeEngine() override {
    Gil gil;
    module_ = PyRef();
  }

  void run(const TensorView& input, Tensor& output) override {
    // A module compiled for batch B runs a batch of k * B as k calls, each on its slice of the
    // input, its result copied into the slice's rows of the output.
    const int64_t b = compiled_batch();
    if (b > 0 && input.shape.size() == 4 && input.shape[0] > b && input.shape[0] % b == 0 &&
        input.data != nullptr) {
      const int64_t per_image = input.numel() / input.shape[0];
      const int64_t calls = input.shape[0] / b;
      std::vector<int64_t> slice_shape = input.shape;
      slice_shape[0] = b;
      for (int64_t k = 0; k < calls; ++k) {
        run_one({input.data + k * b * per_image, slice_shape}, piece_);
        if (k == 0) {
          std::vector<int64_t> shape = piece_.shape;
          shape[0] = input.shape[0];
          if (output.shape != shape) output.resize(shape);
        }
        std::copy(piece_.data.begin(), piece_.data.end(),
                  output.data.begin() + static_cast<std::ptrdiff_t>(k * piece_.data.size()));
      }
      return;
    }
    run_one(input, output);
  }

  int64_t framework_calls_per_batch(int64_t batch) const override {
    const int64_t b = compiled_batch();
    return b > 0 && batch > b ? batch / b : 1;
  }

  // One invocation of the module on an input of its compiled shape.
  void run_one(const TensorView& input, Tensor& output) {
    check_shape(input);
    Gil gil;
    if (input.data != bound_data_ || input.shape != bound_shape_) bind(input);
    // An aligned input is IREE's own memory now; a copied one is refreshed every call, since
    // the caller may have changed its contents.
    if (staging_) std::memcpy(staging_.get(), input.data, staged_bytes_);
    PyRef result(PyObject_CallMethod(module_.p, "run", nullptr));
    if (!result) throw Error("iree: run failed: " + python_error());
    Py_buffer view;
    if (PyObject_GetBuffer(result.p, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND) != 0)
      throw Error("iree: run failed: the result is not a float32 buffer: " + python_error());
    std::vector<int64_t> shape(view.shape, view.shape + view.ndim);
    const std::string format = view.format ? view.format : "";
    const bool is_float = view.itemsize == 4 && (format == "f" || format == "<f" || format == "=f");
    if (is_float) {
      if (output.shape != shape) output.resize(shape);
      std::memcpy(output.data.data(), view.buf, static_cast<size_t>(view.len));
    }
    PyBuffer_Release(&view);
    if (!is_float) throw Error("iree: run failed: the model's result is not float32");
  }

  nlohmann::json settings_in_effect() const override {
    nlohmann::json e = effect_;
    if (!bound_shape_.empty())
      e["input_binding"] = staging_ ? "copied (input not 64-byte aligned)" : "imported, no copy";
    return e;
  }

 private:
  void check_shape(const TensorView& input) const {
    check_input(kName, input, io_.input_dims, io_.input_symbols, io_.input_name,
                "the compiled module's");
  }

  // Hands IREE the input's memory (GIL held).
  void bind(const TensorView& input) {
    const size_t bytes = static_cast<size_t>(input.numel()) * sizeof(float);
    float* memory = const_cast<float*>(input.data);  // IREE only reads its inputs
    staging_.reset();
    if (reinterpret_cast<uintptr_t>(input.data) % kInputAlignment != 0) {
      staging_.reset(
          static_cast<float*>(::operator new[](bytes, std::align_val_t(kInputAlignment))));
      staged_bytes_ = bytes;
      memory = staging_.get();
    }
    PyRef view(PyMemoryView_FromMemory(reinterpret_cast<char*>(memory),
                                       static_cast<Py_ssize_t>(bytes), PyBUF_WRITE));
    PyRef shape(PyTuple_New(static_cast<Py_ssize_t>(input.shape.size())));
    if (!view || !shape) throw Error("iree: cannot bind the input: " + python_error());
    for (size_t i = 0; i < input.shape.size(); ++i)
      PyTuple_SET_ITEM(shape.p, static_cast<Py_ssize_t>(i), PyLong_FromLongLong(input.shape[i]));
    PyRef ok(PyObject_CallMethod(module_.p, "bind", "OO", view.p, shape.p));
    if (!ok) {
      bound_data_ = nullptr;
      throw Error("iree: cannot bind the input: " + python_error());
    }
    bound_data_ = input.data;
    bound_shape_ = input.shape;
  }

  // The batch the module was compiled for, 0 when its batch is free.
  int64_t compiled_batch() const {
    return !io_.input_dims.empty() && io_.input_dims[0] > 0 ? io_.input_dims[0] : 0;
  }

  PyRef module_;  // iree_host.Module
  Tensor piece_;  // one call's result when a batch runs in several
  Interface io_;
  nlohmann::json effect_;
  const float* bound_data_ = nullptr;
  std::vector<int64_t> bound_shape_;
  std::unique_ptr<float[], AlignedFree> staging_;
  size_t staged_bytes_ = 0;
};

// ---------------------------------------------------------------- backend

// How convolutions are rewritten before IREE's own pipeline (the setting conv_preprocessing):
// the preprocessing pass that each value runs, "" for none.
std::string conv_preprocessing_pass(const std::string& value) {
  // im2col + matrix product: the product then takes data tiling's packed matmul path.
  if (value == "img2col") return "iree-global-opt-convert-conv2d-to-img2col";
  // NCHW convolutions rewritten to NHWC, which IREE's CPU code generation vectorizes.
  if (value == "channels_last") return "iree-preprocessing-convert-conv-to-channels-last";
  return "";
}

// What conv_preprocessing=auto tries, in order: im2col, the fastest where IREE compiles it,
// then channels-last where it does not (IREE 3.13 fails on the full EfficientNet-B0 after
// im2col: "One or more operations with large vector sizes (32768 bytes) were found", and with
// that check off, "exceeded stack allocation limit").
const std::vector<std::string> kAutoConvPreprocessing = {"img2col", "channels_last"};

struct CompileOptions {
  std::string opt_level, target_features, conv_preprocessing, ukernels;
  bool data_tiling = false;

  // The values of conv_preprocessing iree-compile is tried with, in order.
  std::vector<std::string> attempts() const {
    return conv_preprocessing == "auto" ? kAutoConvPreprocessing
                                        : std::vector<std::string>{conv_preprocessing};
  }

  // iree-compile's flags with the first attempt's conv_preprocessing.
  std::vector<std::string> flags() const { return flags_with(attempts().front()); }

  std::vector<std::string> flags_with(const std::string& preprocessing) const {
    std::vector<std::string> f = {
        "--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu",
        "--iree-opt-level=" + opt_level,
        std::string("--iree-opt-data-tiling=") + (data_tiling ? "true" : "false"),
        "--iree-llvmcpu-enable-ukernels=" + ukernels};
    if (const std::string pass = conv_preprocessing_pass(preprocessing); !pass.empty())
      f.push_back("--iree-preprocessing-pass-pipeline=builtin.module(util.func(" + pass + "))");
    if (target_features == "host") {
      f.push_back("--iree-llvmcpu-target-cpu=host");
    } else {
      f.push_back("--iree-llvmcpu-target-cpu-features=" + target_features);
    }
    return f;
  }
};

// "host", or LLVM features: "+avx2,+fma,-avx512f".
void check_target_features(const std::string& v) {
  static const std::regex features(R"([+-][a-z0-9_.-]+(,[+-][a-z0-9_.-]+)*)");
  if (v != "host" && !std::regex_match(v, features)) {
    throw Error("setting iree.target_features='" + v +
                "' is not \"host\" or a list of LLVM CPU features like \"+avx2,+fma\"");
  }
}

class IreeBackend : public Backend {
 public:
  // The embedded interpreter and IREE's Python runtime: started here, not in the first load.
  void start() override {
    start_python(venv_tool("python").string());
    Gil gil;
    PyRef host(import_iree_host(kSitePackages, kHelperDir));
  }

  BackendInfo info() const override {
    BackendInfo b = cpu_backend_info(kName, kVersion);
    std::error_code ec;
    for (const char* tool : {"python", "iree-import-onnx", "iree-compile"}) {
      if (!fs::exists(venv_tool(tool), ec)) {
        b.reason = venv_tool(tool).string() + " is missing (run scripts/deps/iree.sh)";
        break;
      }
    }
    b.available = b.reason.empty();
    // torch-mlir's ONNX lowering needs opset 17 for some operators (prepare_onnx.py).
    b.capabilities.min_opset = 17;
    b.capabilities.no_kernel_profile =
        "IREE's runtime gives per-dispatch times only through Tracy (the wheel's tracy runtime "
        "and a capture server), which the plugin does not drive";
    // A module compiled with a free batch runs about six times slower per image than one
    // compiled for its batch (full ResNet-50 here, docs/backends.md): the server's batcher
    // gets a module for one image, and its batches run image by image.
    b.capabilities.dynamic_batch = false;
    // Full ResNet-50 at batch 1 compiled in about 10 s with the defaults (docs/backends.md).
    b.capabilities.compile_s = 5;
    b.capabilities.compile_s_per_gflop = 2.5;
    b.settings = {
        enum_setting("opt_level", "O3", {"O0", "O1", "O2", "O3"},
                     "iree-compile --iree-opt-level for the whole flow; default O3: the most "
                     "optimized code, as for deployment (every framework here runs at its "
                     "highest level); O0 is iree-compile's own default"),
        text_setting("target_features", "host",
                     "CPU code is generated for: \"host\" (this CPU, its model and features) or "
                     "LLVM features like \"+avx2,+fma\"; default host: as fast as this CPU allows"),
        bool_setting("data_tiling", "true",
                     "--iree-opt-data-tiling: packs matmul and convolution operands into the "
                     "CPU's preferred tiles; default true: faster code on CPU (off is IREE "
                     "3.13's own default at every opt_level)"),
        enum_setting("conv_preprocessing", "auto", {"auto", "img2col", "channels_last", "none"},
                     "how NCHW convolutions are rewritten before IREE's pipeline "
                     "(--iree-preprocessing-pass-pipeline): img2col = im2col + matrix product, "
                     "which data tiling packs (iree-global-opt-convert-conv2d-to-img2col); "
                     "channels_last = NHWC convolutions "
                     "(iree-preprocessing-convert-conv-to-channels-last); none = as imported, "
                     "IREE's own default; default auto: img2col, the fastest here, or "
                     "channels_last where IREE cannot compile img2col's code (read back as "
                     "conv_preprocessing_in_effect; docs/backends.md)"),
        enum_setting("ukernels", "default", {"default", "none", "all"},
                     "--iree-llvmcpu-enable-ukernels: IREE's hand-written microkernels "
                     "(mmt4d, pack, unpack); default: IREE's own choice for this CPU"),
        int_setting("threads", "0", 0, 1024,
                    "task-executor worker threads (--task_topology_group_count); default 0: "
                    "the harness's thread count (all usable cores when that is 0); fixed per "
                    "process by IREE"),
        path_setting("cache_dir", default_cache_dir(kName),
                     "where each compiled .vmfb is kept so later loads skip import and compile; "
                     "\"off\" (or \"\") disables; default under $XDG_CACHE_HOME or ~/.cache"),
    };
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    return load_or_error(kName, request.model, [&] { return load_impl(request); });
  }

 private:
  std::unique_ptr<Engine> load_impl(const LoadRequest& request) {
    const auto t0 = Clock::now();
    const fs::path& model = request.model;
    const Settings& s = request.settings;
    const std::string where = model_file_context(kName, model);
    std::error_code ec;
    for (const char* tool : {"python", "iree-import-onnx", "iree-compile"}) {
      if (!fs::exists(venv_tool(tool), ec))
        throw Error(where + venv_tool(tool).string() + " is missing (run scripts/deps/iree.sh)");
    }
    if (request.batch < 0) throw Error(where + "negative batch " + std::to_string(request.batch));

    CompileOptions opt;
    opt.opt_level = setting(s, "opt_level");
    opt.target_features = setting(s, "target_features");
    check_target_features(opt.target_features);
    opt.data_tiling = setting_bool(s, "data_tiling");
    opt.conv_preprocessing = setting(s, "conv_preprocessing");
    opt.ukernels = setting(s, "ukernels");
    const auto [threads, threads_from] =
        resolve_threads(setting_int(s, "threads"), request.threads);
    const std::vector<std::string> flags = opt.flags();

    // ---- cache
    const fs::path abs_model = fs::weakly_canonical(fs::absolute(model));
    const std::string stamp = file_stamp(abs_model);
    if (stamp.empty()) throw Error(where + "cannot stat file");
    std::string settings_text = "batch " + std::to_string(request.batch);
    if (opt.conv_preprocessing == "auto") settings_text += " conv_preprocessing=auto";
    for (const auto& f : flags) settings_text += " " + f;
    const std::string key = stamp + "\n" + settings_text + "\n" + kVersion + "\n" +
                            compiler_stamp() + "\n" + helper_hash() + "\n" + cpu_identity();
    // One folder per model, batch and settings.
    CacheEntry cache = find_cache_entry(
        setting(s, "cache_dir"), abs_model, settings_text, key, "", [](const fs::path& e) {
          return fs::is_regular_file(e / "model.vmfb") && fs::is_regular_file(e / "meta.json");
        });
    std::string& cache_state = cache.state;
    std::string& cache_note = cache.note;
    const fs::path entry = cache.path;
    const std::string& entry_prefix = cache.prefix;
    fs::path work;

    nlohmann::json steps = nlohmann::json::object();
    double compile_s = 0;
    fs::path module_dir = entry;
    if (cache_state != "hit") {
      // Built in a private folder and renamed into place, so that a crash or a concurrent
      // load never leaves a half-written entry under the final name.
      if (cache_state == "miss") {
        work = entry.string() + ".tmp." + std::to_string(::getpid());
      } else {
        std::string tmpl = (fs::temp_directory_path() / "infermark-iree-XXXXXX").string();
        if (!::mkdtemp(tmpl.data())) throw Error(where + "cannot create a temporary folder");
        work = tmpl;
      }
      fs::remove_all(work, ec);
      fs::create_directories(work, ec);
      if (ec) throw Error(where + "cannot create " + work.string() + ": " + ec.message());
      try {
        compile_s = compile(abs_model, request.batch, opt, work, steps);
      } catch (...) {
        fs::remove_all(work, ec);
        throw;
      }
      module_dir = work;
      if (cache_state == "miss") {
        fs::rename(work, entry, ec);
        if (!ec) {
          module_dir = entry;
          remove_stale_entries(entry, entry_prefix);
        } else if (fs::is_regular_file(entry / "model.vmfb")) {
          module_dir = entry;  // a concurrent load put the same entry there first
          fs::remove_all(work, ec);
        } else {
          cache_state = "error";
          cache_note = "cannot write " + entry.string() + ": " + ec.message();
        }
      }
    }

    Interface io;
    try {
      io = read_interface(module_dir / "meta.json");
    } catch (const std::exception& e) {
      throw Error(where + "unreadable " + (module_dir / "meta.json").string() + ": " + e.what());
    }
    // How it was compiled (an entry from before compiled.json: as the settings say).
    nlohmann::json compiled = {{"conv_preprocessing", opt.attempts().front()}};
    try {
      std::ifstream in(module_dir / "compiled.json");
      if (in) compiled = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw Error(where + "unreadable " + (module_dir / "compiled.json").string() + ": " +
                  e.what());
    }

    // ---- runtime
    PyRef module;
    int workers = 0;
    start_python(venv_tool("python").string());
    {
      Gil gil;
      PyRef host(import_iree_host(kSitePackages, kHelperDir));
      PyRef cls(PyObject_GetAttrString(host.p, "Module"));
      if (cls) {
        const std::string vmfb = (module_dir / "model.vmfb").string();
        module =
            PyRef(PyObject_CallFunction(cls.p, "ssi", vmfb.c_str(), io.function.c_str(), threads));
      }
      if (!module) throw Error(where + python_error());
      PyRef w(PyObject_GetAttrString(module.p, "workers"));
      workers = w ? static_cast<int>(PyLong_AsLong(w.p)) : -1;
      if (!w) PyErr_Clear();
    }
    // Not kept (no cache, or it could not be written): the module is mapped, and on Linux
    // its file may go while the mapping stays.
    if (module_dir == work) fs::remove_all(work, ec);

    const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    nlohmann::json effect = {
        {"version", kVersion},
        {"driver", "local-task"},
        {"target_backend", "llvm-cpu"},
        {"opt_level", opt.opt_level},
        {"target_features", opt.target_features},
        {"data_tiling", opt.data_tiling},
        {"conv_preprocessing", opt.conv_preprocessing},
        {"conv_preprocessing_in_effect", compiled.value("conv_preprocessing", "")},
        {"ukernels", opt.ukernels},
        {"compile_flags", compiled.value("flags", nlohmann::json(flags))},
        {"batch_compiled",
         request.batch > 0 ? nlohmann::json(request.batch) : nlohmann::json("dynamic")},
        {"threads", workers > 0 ? workers : threads},  // read back from IREE's task executor
        {"threads_requested", threads},
        {"threads_from", threads_from},
        {"task_workers_started", workers},
        {"cache", cache_state},
        {"cache_entry", cache_state == kCacheOff ? "" : entry.string()},
        {"load_ms", load_ms},
        {"function", io.function},
        {"onnx_opset", {{"model", io.opset}, {"imported", io.opset_imported}}},
        {"input",
         {{"name", io.input_name}, {"shape", model_shape_string(io.input_dims, io.input_symbols)}}},
        {"output",
         {{"name", io.output_name},
          {"shape", model_shape_string(io.output_dims, io.output_symbols)}}},
    };
    if (compiled.contains("fallback")) effect["conv_preprocessing_note"] = compiled["fallback"];
    if (!steps.empty()) {
      effect["compile_s"] = compile_s;
      effect["compile_steps_s"] = steps;
    }
    if (!cache_note.empty()) effect["cache_note"] = cache_note;
    if (cache_state == "error")
      std::fprintf(stderr, "iree: cache not used: %s\n", cache_note.c_str());
    return std::make_unique<IreeEngine>(std::move(module), std::move(io), std::move(effect));
  }

  // Runs the three steps into `work` (model.vmfb, meta.json, and compiled.json: the
  // conv_preprocessing and flags iree-compile succeeded with, and why an earlier attempt
  // failed); returns their seconds.
  static double compile(const fs::path& model, int64_t batch, const CompileOptions& opt,
                        const fs::path& work, nlohmann::json& steps) {
    const std::string where = "iree: cannot load '" + model.string() + "': ";
    const fs::path prepared = work / "prepared.onnx", mlir = work / "model.mlir";
    const fs::path vmfb = work / "model.vmfb";
    double total = 0;
    auto step = [&](const char* name, const std::vector<std::string>& argv,
                    bool known_refusal_code) {
      const auto t = Clock::now();
      const ToolResult r = run_tool(argv);
      const double sec = seconds_since(t);
      steps[name] = sec;
      total += sec;
      if (r.exit_code == 0) return;
      const std::string msg = where + name + ": " + meaningful(r.output);
      // prepare_onnx.py exits with 2 for a valid model outside what the route runs.
      if ((known_refusal_code && r.exit_code == 2) || is_unsupported(msg)) throw Unsupported(msg);
      throw Error(msg);
    };
    step("prepare_onnx",
         {venv_tool("python").string(), (fs::path(kHelperDir) / "prepare_onnx.py").string(),
          model.string(), prepared.string(), std::to_string(batch), (work / "meta.json").string()},
         true);
    step("iree-import-onnx",
         {venv_tool("iree-import-onnx").string(), prepared.string(), "-o", mlir.string()}, false);
    std::error_code ec;
    fs::remove(prepared, ec);
    nlohmann::json compiled;
    const std::vector<std::string> attempts = opt.attempts();
    for (size_t i = 0; i < attempts.size(); ++i) {
      const std::vector<std::string> flags = opt.flags_with(attempts[i]);
      std::vector<std::string> argv = {venv_tool("iree-compile").string(), mlir.string()};
      argv.insert(argv.end(), flags.begin(), flags.end());
      argv.insert(argv.end(), {"-o", vmfb.string()});
      try {
        step("iree-compile", argv, false);
      } catch (const Error& e) {
        if (i + 1 == attempts.size()) throw;
        // conv_preprocessing=auto: the next way, saying why.
        compiled["fallback"] =
            attempts[i] + " did not compile, " + attempts[i + 1] + " used: " + e.what();
        steps["iree-compile " + attempts[i]] = steps["iree-compile"];
        continue;
      }
      compiled["conv_preprocessing"] = attempts[i];
      compiled["flags"] = flags;
      break;
    }
    fs::remove(mlir, ec);
    std::ofstream(work / "compiled.json") << compiled.dump();
    return total;
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::IreeBackend)
