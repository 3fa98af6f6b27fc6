// Apache TVM (Relax, LLVM CPU code) as an infermark backend plugin.
//
// Compiling happens in Python: on a cache miss, load() runs tvm_compile.py with .venv-tvm's
// Python, which imports the ONNX model with the Relax frontend for the requested batch,
// builds it for this CPU and exports a shared library (its time is part of the load time).
// Running happens in C++: the library is loaded with TVM's runtime, a Relax VM is created
// on the CPU, and run() calls its "main" on our input, wrapped as a TVM tensor without a
// copy when its alignment allows. The library is kept in cache_dir, so a later load of the
// same model, batch and settings on the same CPU and TVM skips the compiler.

#include <dlpack/dlpack.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/error.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "backends/cache.h"
#include "backends/plugin.h"
#include "backends/tvm/vm_profile.h"

extern char** environ;

namespace infermark {
namespace {

namespace fs = std::filesystem;
namespace ffi = tvm::ffi;

constexpr const char* kName = "tvm";
constexpr const char* kVersion = INFERMARK_TVM_VERSION;
// Exit status of tvm_compile.py for a model or operator TVM cannot compile.
constexpr int kExitUnsupported = 2;
// TVM's generated kernels may assume 64-byte aligned tensors (its kAllocAlignment).
constexpr uintptr_t kTvmAlignment = 64;

// ---------------------------------------------------------------- small helpers

// The ids of the cores this process may run on: TVM's pool is told to share them all.
std::vector<int> usable_cpu_ids() {
  std::vector<int> ids;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) ids.push_back(i);
  }
  if (ids.empty())
    for (int i = 0; i < cores_available(); ++i) ids.push_back(i);
  return ids;
}

// The helper's reason for failing: its last line that says "error:" or "unsupported:",
// else the last non-empty line (a Python crash, a killed LLVM).
std::string compiler_message(const std::string& log) {
  std::istringstream in(log);
  std::string line, tagged, last;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    last = line;
    for (const char* tag : {"error: ", "unsupported: "})
      if (line.rfind(tag, 0) == 0) tagged = line.substr(std::strlen(tag));
  }
  return !tagged.empty() ? tagged : (!last.empty() ? last : "no message");
}

// Where a crashed compiler died: TVM's signal handler prints a backtrace whose first
// TVM frame names the function (" in tvm::ffi::ToJSONGraph"); nothing when there is none.
std::string crash_site(const std::string& log) {
  const size_t at = log.find(", in tvm::");
  if (at == std::string::npos) return "";
  const size_t start = at + 5, end = log.find_first_of("(\n", start);
  return " in " + log.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string tvm_message(const std::exception& e) {
  if (const auto* fe = dynamic_cast<const ffi::Error*>(&e))
    return fe->kind() + ": " + fe->message();
  return e.what();
}

// Wraps memory that infermark owns as a TVM tensor: nothing allocated, nothing freed.
struct BorrowedData {
  void* data;
  void AllocData(DLTensor* t) { t->data = data; }
  void FreeData(DLTensor* t) { t->data = nullptr; }
};

// 64-byte aligned memory that the engine owns, for inputs that cannot be borrowed.
struct AlignedData {
  void AllocData(DLTensor* t) {
    size_t bytes = ffi::GetDataSize(*t);
    bytes = (bytes + kTvmAlignment - 1) / kTvmAlignment * kTvmAlignment;
    t->data = std::aligned_alloc(kTvmAlignment, std::max<size_t>(bytes, kTvmAlignment));
    if (!t->data) throw std::bad_alloc();
  }
  void FreeData(DLTensor* t) { std::free(t->data); }
};

constexpr DLDataType kFloat32{kDLFloat, 32, 1};
constexpr DLDevice kCpu{kDLCPU, 0};

// TVM's thread pool belongs to the thread that runs a kernel (thread_local inside TVM), and
// its worker count is fixed when it is first used on that thread: the count below is what
// this thread's pool was last configured with by an engine.
thread_local int tls_configured_threads = -1;

// Sets the calling thread's TVM pool to `threads` workers sharing every usable core (no
// pinning of the caller's thread) and returns what TVM reports it uses.
int configure_thread_pool(int threads) {
  if (tls_configured_threads != threads) {
    static const ffi::Function config =
        ffi::Function::GetGlobalRequired("runtime.config_threadpool");
    // The first configuration on a thread creates its pool: the list of every usable core
    // makes it large enough for any later count (TVM caps it at that list's size).
    ffi::Array<ffi::String> cpus;
    for (int id : usable_cpu_ids()) cpus.push_back(std::to_string(id));
    constexpr int kSpecifyThreadShareAllCore = -3;
    config(kSpecifyThreadShareAllCore, threads, cpus);
    tls_configured_threads = threads;
  }
  static const ffi::Function num_threads = ffi::Function::GetGlobalRequired("runtime.NumThreads");
  return num_threads().cast<int>();
}

// ---------------------------------------------------------------- compiling

// Runs tvm_compile.py; throws Error/Unsupported with its reason when it fails.
void run_compiler(const std::vector<std::string>& args, const fs::path& log_file,
                  const fs::path& model) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Its output goes to a file, never to our stdout (which may carry JSON results).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  const std::string context = "tvm: cannot load '" + model.string() + "': ";
  if (rc != 0) throw Error(context + "cannot start " + args[0] + ": " + std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string log = read_file(log_file);
  if (WIFSIGNALED(status)) {
    throw Error(context + "the compiler was killed by signal " + std::to_string(WTERMSIG(status)) +
                crash_site(log));
  }
  const std::string reason = compiler_message(log);
  if (WEXITSTATUS(status) == kExitUnsupported) throw Unsupported(context + reason);
  throw Error(context + reason);
}

// ---------------------------------------------------------------- engine

class TvmEngine : public Engine {
 public:
  TvmEngine(ffi::Module library, ffi::Module vm, ffi::Function main, std::vector<int64_t> shape,
            std::string input_shape_text, int threads, nlohmann::json effect)
      : library_(std::move(library)),
        vm_(std::move(vm)),
        main_(std::move(main)),
        shape_(std::move(shape)),
        input_shape_text_(std::move(input_shape_text)),
        threads_(threads),
        effect_(std::move(effect)) {
    staging_ = ffi::Tensor::FromNDAlloc(AlignedData{}, ffi::ShapeView(shape_.data(), shape_.size()),
                                        kFloat32, kCpu);
  }

  void run(const TensorView& input, Tensor& output) override {
    const int64_t batch = shape_[0];
    const bool shape_ok = input.shape.size() == shape_.size() && input.shape[0] > 0 &&
                          input.shape[0] % batch == 0 &&
                          std::equal(shape_.begin() + 1, shape_.end(), input.shape.begin() + 1);
    if (!shape_ok) {
      throw Error("tvm: input shape " + shape_string(input.shape) +
                  " does not match the compiled model's input " + input_shape_text_);
    }
    if (input.data == nullptr) throw Error("tvm: input has no data");
    try {
      threads_in_effect_ = configure_thread_pool(threads_);
      if (profile_) profile_->run_started();
      const int64_t chunk_numel = Tensor{shape_, {}}.numel();
      // A library compiled for batch B runs a batch of k*B as k calls (the dynamic engine,
      // compiled for one image, runs each image of a batch in turn).
      for (int64_t first = 0; first < input.shape[0]; first += batch) {
        const float* src = input.data + first / batch * chunk_numel;
        ffi::Tensor out = main_(wrap(src, chunk_numel)).cast<ffi::Tensor>();
        copy_out(out, first, input.shape[0], output);
      }
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error("tvm: run failed: " + tvm_message(e));
    }
  }

  int64_t framework_calls_per_batch(int64_t batch) const override {
    return std::max<int64_t>(1, batch / shape_[0]);
  }

  void set_profiled(int64_t skip_runs) {
    profile_.emplace(skip_runs);
    vm_->GetFunction("set_instrument").value()(profile_->instrument());
  }
  KernelProfile kernel_profile() override {
    if (!profile_) throw Error("tvm: this engine was not loaded to profile");
    return profile_->take();
  }

  nlohmann::json settings_in_effect() const override {
    nlohmann::json e = effect_;
    // TVM's own count for the pool of the thread that ran last (null before a run).
    if (threads_in_effect_ > 0) e["threads"] = e["threads_in_effect"] = threads_in_effect_;
    e["input_copied"] = input_copied_;
    return e;
  }

 private:
  // Our input as a TVM tensor: borrowed when aligned as TVM's kernels expect, else copied
  // into the engine's aligned staging tensor.
  ffi::Tensor wrap(const float* src, int64_t numel) {
    if (reinterpret_cast<uintptr_t>(src) % kTvmAlignment == 0) {
      input_copied_ = false;
      if (!borrowed_.defined() || borrowed_.data_ptr() != src) {
        borrowed_ =
            ffi::Tensor::FromNDAlloc(BorrowedData{const_cast<float*>(src)},
                                     ffi::ShapeView(shape_.data(), shape_.size()), kFloat32, kCpu);
      }
      return borrowed_;
    }
    input_copied_ = true;
    std::memcpy(staging_.data_ptr(), src, static_cast<size_t>(numel) * sizeof(float));
    return staging_;
  }

  void copy_out(const ffi::Tensor& out, int64_t first, int64_t total, Tensor& output) {
    const DLDataType dtype = out.dtype();
    if (dtype.code != kDLFloat || dtype.bits != 32 || out.ndim() < 1 || !out.IsContiguous()) {
      throw Error("tvm: the model's output is not a contiguous float32 tensor");
    }
    std::vector<int64_t> shape(out.shape().begin(), out.shape().end());
    shape[0] = total;
    if (output.shape != shape) output.resize(shape);
    const size_t numel = static_cast<size_t>(out.numel());
    std::memcpy(output.data.data() + first / shape_[0] * numel,
                static_cast<const char*>(out.data_ptr()) + out.byte_offset(),
                numel * sizeof(float));
  }

  ffi::Module library_;  // owns the code that vm_ and main_ run
  ffi::Module vm_;
  ffi::Function main_;
  std::vector<int64_t> shape_;  // the compiled input shape
  std::string input_shape_text_;
  int threads_;
  nlohmann::json effect_;
  ffi::Tensor staging_, borrowed_;
  bool input_copied_ = false;
  std::optional<VmProfile> profile_;  // loaded with LoadRequest::profile
  int threads_in_effect_ = 0;
};

// ---------------------------------------------------------------- backend

class TvmBackend : public Backend {
 public:
  BackendInfo info() const override {
    BackendInfo b = cpu_backend_info(kName, kVersion);
    std::error_code ec;
    if (!fs::exists(INFERMARK_TVM_PYTHON, ec)) {
      b.reason = std::string("TVM's Python (") + INFERMARK_TVM_PYTHON +
                 ") is missing: run scripts/deps/tvm.sh";
    } else if (!fs::exists(INFERMARK_TVM_COMPILE_SCRIPT, ec)) {
      b.reason = std::string("the compile helper ") + INFERMARK_TVM_COMPILE_SCRIPT + " is missing";
    } else {
      b.available = true;
    }
    b.settings = {
        int_setting("opt_level", "3", 0, 3,
                    "TVM's optimization level for the Relax and TIR passes; default 3: TVM's "
                    "level for deployment builds"),
        // Free text, checked by check_features at load.
        text_setting("target_features", "host",
                     "CPU features the code may use: \"host\" (default): LLVM's name for this "
                     "CPU and the vector extensions it reports, as every framework here uses "
                     "this CPU fully; else an LLVM -mattr list such as \"+avx2,+fma\""),
        enum_setting("layout", "NHWC", {"NHWC", "NCHW"},
                     "convolutions' layout: NHWC (default): channels-last activations and HWIO "
                     "weights, batch norms folded into the convolutions, as the blocked "
                     "schedule needs; NCHW: the graph as imported"),
        enum_setting("schedule", "blocked", {"blocked", "simple", "none"},
                     "how kernels are scheduled without tuning: blocked (default): "
                     "channels-last convolutions register-blocked (pixels x channel vectors), "
                     "every other kernel by the simple rule; simple: parallel outer loops and "
                     "vector lanes only; none: TVM's plain loops"),
        int_setting("tuning_trials", "0", 0, 100000,
                    "MetaSchedule trials measured on this machine for the convolutions and "
                    "matrix products (time counted in the load, shown as tuning_s; database "
                    "kept in cache_dir and reused by later loads); default 0: no tuning, a "
                    "compile of a minute rather than an hour"),
        enum_setting("tuning_cost_model", "xgb", {"xgb", "random"},
                     "MetaSchedule's cost model when tuning: xgb (default, MetaSchedule's own "
                     "default: XGBoost ranks the candidates) or random"),
        bool_setting("weight_prepack", "true",
                     "when tuning, let tuned kernels read the weights in a layout of their "
                     "choice, packed once at compile time; default true"),
        int_setting("threads", "0", 0, 1024,
                    "workers of TVM's thread pool; default 0: the harness's thread count (all "
                    "usable cores when that is 0), the same for every framework"),
        path_setting("cache_dir", default_cache_dir(kName),
                     "where compiled libraries are kept, so that a second load skips the "
                     "compiler; \"off\" (or \"\") disables; default under $XDG_CACHE_HOME or "
                     "~/.cache"),
    };
    // The Relax build fixes the input shape: one compiled library per batch size.
    b.capabilities.dynamic_batch = false;
    // Untuned ResNet-50 at 224 px compiled in 18 to 20 s quiet (docs/backends.md), most of it
    // FoldConstant over the weights.
    b.capabilities.compile_s = 10;
    b.capabilities.compile_s_per_gflop = 5;
    b.capabilities.kernel_profiler = "TVM's Relax VM instrument, a timer around each call";
    b.capabilities.kernel_names_nodes = false;  // TVM's fused functions
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    return load_or_error(
        kName, request.model, [&] { return load_impl(request); },
        [](const std::exception& e, const std::string&) { return tvm_message(e); });
  }

 private:
  std::unique_ptr<Engine> load_impl(const LoadRequest& request) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    const fs::path& model = request.model;
    const Settings& s = request.settings;
    const std::string context = model_file_context(kName, model);
    std::error_code ec;
    const BackendInfo bi = info();
    if (!bi.available) throw Error(context + bi.reason);

    // ---- settings
    const int opt_level = static_cast<int>(setting_int(s, "opt_level"));
    const std::string features = setting(s, "target_features");
    check_features(features);
    const int trials = static_cast<int>(setting_int(s, "tuning_trials"));
    const std::string layout = setting(s, "layout"), schedule = setting(s, "schedule");
    const std::string cost_model = setting(s, "tuning_cost_model");
    const bool prepack = setting_bool(s, "weight_prepack");
    const auto [threads, threads_from] =
        resolve_threads(setting_int(s, "threads"), request.threads);
    // A dynamic engine (batch 0) is compiled for one image and runs a batch image by image.
    const int64_t batch = request.batch > 0 ? request.batch : 1;

    // ---- cache
    const fs::path abs_model = fs::weakly_canonical(fs::absolute(model));
    const std::string stamp = file_stamp(abs_model);
    if (stamp.empty()) throw Error(context + "cannot stat file");
    // Without tuning the code does not depend on the thread count (TVM's pool splits the
    // parallel loops at run time), so one library serves every count.
    const std::string settings_key =
        "batch=" + std::to_string(batch) + " opt_level=" + std::to_string(opt_level) +
        " target_features=" + features + " layout=" + layout + " schedule=" + schedule +
        " tuning_trials=" + std::to_string(trials) +
        (trials > 0 ? " threads=" + std::to_string(threads) + " tuning_cost_model=" + cost_model +
                          " weight_prepack=" + (prepack ? "true" : "false")
                    : "");
    const std::string key = stamp + "\n" + settings_key + "\n" + kVersion + "\n" + cpu_identity() +
                            "\n" +
                            hash_hex(read_file(INFERMARK_TVM_COMPILE_SCRIPT));  // new schedule
    // One library (and its .json) per model and settings.
    CacheEntry cache = find_cache_entry(
        setting(s, "cache_dir"), abs_model, settings_key, key, ".so", [](const fs::path& f) {
          return fs::is_regular_file(f) && fs::is_regular_file(f.string() + ".json");
        });
    if (cache.state == "error")
      std::fprintf(stderr, "tvm: cache not used: %s\n", cache.note.c_str());
    std::string& cache_state = cache.state;
    const std::string& cache_note = cache.note;
    const std::string& prefix = cache.prefix;
    fs::path library = cache.path, dir = library.parent_path();
    std::unique_ptr<fs::path, void (*)(fs::path*)> scratch(nullptr, [](fs::path* p) {
      std::error_code ignored;
      fs::remove_all(*p, ignored);
      delete p;
    });
    if (library.empty()) {
      // No cache: compile into a private folder, removed once the library is loaded.
      std::string tmpl = (fs::temp_directory_path() / "infermark-tvm-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw Error(context + "cannot create a temporary folder");
      scratch.reset(new fs::path(tmpl));
      dir = *scratch;
      library = dir / (prefix + "model.so");
    }

    std::optional<double> compile_s;
    if (cache_state != "hit") {
      const auto tc = clock::now();
      const fs::path log = library.string() + ".log." + std::to_string(::getpid());
      std::vector<std::string> args = {INFERMARK_TVM_PYTHON,
                                       INFERMARK_TVM_COMPILE_SCRIPT,
                                       "--model",
                                       abs_model.string(),
                                       "--batch",
                                       std::to_string(batch),
                                       "--out",
                                       library.string(),
                                       "--opt-level",
                                       std::to_string(opt_level),
                                       "--target-features",
                                       features,
                                       "--threads",
                                       std::to_string(trials > 0 ? threads : 0),
                                       "--tuning-trials",
                                       std::to_string(trials),
                                       "--layout",
                                       layout,
                                       "--schedule",
                                       schedule};
      if (trials > 0) {
        args.insert(args.end(),
                    {"--tuning-cost-model", cost_model, "--weight-prepack", prepack ? "1" : "0"});
        // One tuning database per model, kept for later loads with other batches, named by
        // the file's content: the same model under another path (a zoo file written again, a
        // copy) finds its tuning.
        args.push_back("--tuning-dir");
        args.push_back((dir / (abs_model.stem().string() + "-" +
                               hash_hex(read_file(abs_model)).substr(0, 8) + "-tuning"))
                           .string());
      }
      try {
        run_compiler(args, log, model);
      } catch (...) {
        fs::remove(log, ec);
        throw;
      }
      fs::remove(log, ec);
      compile_s = std::chrono::duration<double>(clock::now() - tc).count();
      if (cache_state == "miss") {  // the library and its description beside it
        remove_stale_entries(library, prefix, ".so");
        remove_stale_entries(library.string() + ".json", prefix, ".so.json");
      }
    }

    nlohmann::json meta;
    try {
      meta = nlohmann::json::parse(read_file(library.string() + ".json"));
    } catch (const std::exception& e) {
      throw Error(context + "unreadable " + library.string() + ".json: " + e.what());
    }
    const std::vector<int64_t> shape = meta.at("input").at("shape").get<std::vector<int64_t>>();
    const std::string shape_text =
        model_shape_string(meta.at("input").at("dims").get<std::vector<int64_t>>(),
                           meta.at("input").at("dim_names").get<std::vector<std::string>>());

    // ---- TVM's runtime: the library, a Relax VM on the CPU, its "main"
    ffi::Module lib = ffi::Module::LoadFromFile(library.string());
    ffi::Module vm = lib->GetFunction("vm_load_executable").value()().cast<ffi::Module>();
    constexpr int kPooledAllocator = 2;  // TVM's memory::AllocatorType::kPooled
    vm->GetFunction("vm_initialization").value()(static_cast<int>(kDLCPU), 0, kPooledAllocator);
    ffi::Function main = vm->GetFunction("main").value();
    const int pool_threads = configure_thread_pool(threads);

    const double load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    nlohmann::json effect = {
        {"version", kVersion},
        {"tvm_ffi_version", INFERMARK_TVM_FFI_VERSION},
        {"target", meta.at("target")},
        {"opt_level", meta.at("opt_level")},
        {"tuning_trials", meta.at("tuning_trials")},
        {"layout", meta.value("layout", layout)},
        {"schedule", meta.value("schedule", schedule)},
        {"threads", pool_threads},  // read back from TVM's pool
        {"threads_requested", threads},
        {"threads_from", threads_from},
        {"threads_in_effect", pool_threads},
        {"batch_compiled", batch},
        {"input", {{"name", meta.at("input").at("name")}, {"shape", shape_text}}},
        {"cache", cache_state},
        {"cache_file", cache_state == kCacheOff ? "" : library.string()},
        {"load_ms", load_ms},
    };
    if (compile_s) effect["compile_s"] = *compile_s;
    if (trials > 0) {
      // What tuning did for this library (recorded when it was compiled): "tuned" with its
      // time, or "reused" when the database already held a tuning with as many trials.
      const nlohmann::json tuned = meta.value("tuning", nlohmann::json::object());
      effect["tuning_cost_model"] = cost_model;
      effect["weight_prepack"] = prepack;
      // "cached" when the library came from the cache: neither tuning nor the database ran.
      effect["tuning"] = compile_s ? tuned.value("tuning", "") : "cached";
      if (compile_s && tuned.contains("tuning_s")) effect["tuning_s"] = tuned["tuning_s"];
      effect["tuning_database"] = tuned.value("database", "");
      effect["kernels"] = tuned.value("kernels", 0);
      effect["kernels_tuned"] = tuned.value("kernels_tuned", 0);
      effect["default_records"] = tuned.value("default_records", 0);
    }
    if (!cache_note.empty()) effect["cache_note"] = cache_note;
    auto engine = std::make_unique<TvmEngine>(std::move(lib), std::move(vm), std::move(main), shape,
                                              shape_text, threads, std::move(effect));
    if (request.profile) engine->set_profiled(request.profile_skip_runs);
    return engine;
  }

  // "host" or an LLVM -mattr list: "+avx2,+fma,-avx512f".
  static void check_features(const std::string& features) {
    if (features == "host") return;
    std::istringstream in(features);
    std::string f;
    bool any = false;
    while (std::getline(in, f, ',')) {
      const bool ok =
          f.size() > 1 && (f[0] == '+' || f[0] == '-') &&
          std::all_of(f.begin() + 1, f.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
          });
      if (!ok) {
        throw Error("tvm: setting target_features: '" + features +
                    "' is neither \"host\" nor an LLVM feature list such as \"+avx2,+fma\"");
      }
      any = true;
    }
    if (!any) throw Error("tvm: setting target_features is empty (use \"host\")");
  }
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::TvmBackend)
