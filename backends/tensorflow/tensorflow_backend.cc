// TensorFlow (CPU, with or without XLA) as an infermark backend plugin.
//
// The ONNX model is converted once into a TensorFlow SavedModel by onnx_to_savedmodel.py
// (onnx2tf, same weights), run as a subprocess with .venv-tensorflow's Python at load on a
// cache miss; its time is load time. The SavedModel has two signatures over one function:
// serving_default (TensorFlow's executor, op by op) and serving_xla (jit_compile=True: XLA
// compiles the whole graph); its weights are constants, the largest beyond 128 MiB variables
// (restored from its variables/ folder by TF_LoadSessionFromSavedModel). The plugin loads it
// through TensorFlow's C API with a session per engine; run() feeds the caller's input buffer
// and copies the output. No Python at run time.
//
// TensorFlow's libraries export their own copies of protobuf and abseil under the same names
// as the program's (Debian's libprotobuf.so.32, mapped globally for the zoo). Linked normally,
// TensorFlow's calls into its protobuf would bind to the program's copy and crash in its static
// initializers. So the plugin does not link TensorFlow: it opens libtensorflow_cc.so.2 with
// RTLD_DEEPBIND (TensorFlow and its libtensorflow_framework.so.2 resolve their own symbols
// first) and takes the C API functions it uses from it (tf_api.h/.cc).

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tensorflow/c/c_api.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "backends/cache.h"
#include "backends/plugin.h"
#include "backends/tensorflow/tf_api.h"

extern char** environ;

namespace infermark {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

constexpr const char* kName = "tensorflow";

using namespace tf_detail;  // the plugin's own helpers, in the files beside it

constexpr int kHelperUnsupported = 3;  // onnx_to_savedmodel.py: the model cannot be converted

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

// ---------------------------------------------------------------- cache helpers

// ---------------------------------------------------------------- conversion

struct HelperResult {
  int exit_status = -1;  // the helper's exit code; -1 when it died from a signal
  std::string reason;    // its one-line "infermark: ..." reason, or its log's last line
};

// Runs onnx_to_savedmodel.py, its output going to `log` (TensorFlow's import chatter stays
// out of our stderr; the reason of a failure is read back from it).
HelperResult run_helper(const fs::path& model, const fs::path& out_dir, const fs::path& log) {
  std::vector<std::string> args = {
      INFERMARK_TF_PYTHON, INFERMARK_TF_HELPER, "--onnx", model.string(), "--out",
      out_dir.string()};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw Error(std::string("tensorflow: cannot start the conversion helper ") +
                INFERMARK_TF_PYTHON + ": " + std::strerror(rc) +
                " (run scripts/deps/tensorflow.sh)");
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }

  HelperResult r;
  r.exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (r.exit_status == 0) return r;
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.rfind("infermark: ", 0) == 0) r.reason = line.substr(11);
    if (!line.empty()) last = line;
  }
  if (r.reason.empty()) {
    r.reason = WIFSIGNALED(wstatus) ? "killed by signal " + std::to_string(WTERMSIG(wstatus))
                                    : "exit status " + std::to_string(r.exit_status) + ": " + last;
  }
  return r;
}

// ---------------------------------------------------------------- the converted model

struct TensorMeta {
  std::string name;                  // the ONNX model's name
  std::vector<int64_t> dims;         // -1 where free
  std::vector<std::string> symbols;  // dim_param names ("" where none)
};

TensorMeta read_meta(const nlohmann::json& j) {
  return {j.at("name").get<std::string>(), j.at("dims").get<std::vector<int64_t>>(),
          j.at("symbols").get<std::vector<std::string>>()};
}

// "serving_xla_input:0" -> the graph's operation and output index.
TF_Output graph_output(TF_Graph* graph, const std::string& tensor_name) {
  const size_t colon = tensor_name.rfind(':');
  const std::string op = tensor_name.substr(0, colon);
  const int index = colon == std::string::npos ? 0 : std::stoi(tensor_name.substr(colon + 1));
  TF_Operation* oper = tf().TF_GraphOperationByName(graph, op.c_str());
  if (!oper) throw Error("tensorflow: the SavedModel has no tensor '" + tensor_name + "'");
  return {oper, index};
}

// ---------------------------------------------------------------- engine

class TensorFlowEngine : public Engine {
 public:
  TensorFlowEngine(GraphPtr graph, SessionPtr session, TF_Output in, TF_Output out,
                   TensorMeta in_meta, nlohmann::json effect)
      : graph_(std::move(graph)),
        session_(std::move(session)),
        in_(in),
        out_(out),
        in_meta_(std::move(in_meta)),
        effect_(std::move(effect)),
        status_(tf().TF_NewStatus()) {}

  void run(const TensorView& input, Tensor& output) override {
    if (input.data != bound_data_ || input.shape != bound_shape_) {
      bind(input);
    } else if (input_copied_) {
      // TensorFlow copied the buffer when it was wrapped: its values now may be others.
      std::memcpy(tf().TF_TensorData(input_.get()), input.data,
                  tf().TF_TensorByteSize(input_.get()));
    }
    TF_Tensor* result = nullptr;
    TF_Tensor* feed = input_.get();
    tf().TF_SessionRun(session_.get(), nullptr, &in_, &feed, 1, &out_, &result, 1, nullptr, 0,
                       nullptr, status_.get());
    TensorPtr owned(result);
    if (tf().TF_GetCode(status_.get()) != TF_OK) {
      throw Error("tensorflow: run failed: " + tf_message(status_.get()));
    }
    if (tf().TF_TensorType(result) != TF_FLOAT)
      throw Error("tensorflow: the output is not float32");
    const int rank = tf().TF_NumDims(result);
    out_shape_.resize(static_cast<size_t>(rank));
    for (int i = 0; i < rank; ++i) out_shape_[i] = tf().TF_Dim(result, i);
    if (output.shape != out_shape_) output.resize(out_shape_);
    // TensorFlow allocates each run's result itself (the C API cannot write into a caller's
    // buffer): one copy per run.
    std::memcpy(output.data.data(), tf().TF_TensorData(result), tf().TF_TensorByteSize(result));
  }

  nlohmann::json settings_in_effect() const override { return effect_; }
  // The backend adds what it learns after the session is open (cache state, load time).
  nlohmann::json& effect() { return effect_; }

 private:
  static void no_deallocation(void*, size_t, void*) {}

  void bind(const TensorView& input) {
    check_input(kName, input, in_meta_.dims, in_meta_.symbols, in_meta_.name, "the model's");
    // Wraps the caller's buffer. TensorFlow copies it instead when it is not aligned to
    // EIGEN_MAX_ALIGN_BYTES (64): settings_in_effect says which happened.
    const size_t bytes = static_cast<size_t>(input.numel()) * sizeof(float);
    input_.reset(
        tf().TF_NewTensor(TF_FLOAT, input.shape.data(), static_cast<int>(input.shape.size()),
                          const_cast<float*>(input.data), bytes, no_deallocation, nullptr));
    if (!input_) throw Error("tensorflow: cannot wrap the input " + shape_string(input.shape));
    input_copied_ = tf().TF_TensorData(input_.get()) != input.data;
    effect_["input_copied_by_tensorflow"] = input_copied_;
    bound_data_ = input.data;
    bound_shape_ = input.shape;
  }

  GraphPtr graph_;
  SessionPtr session_;  // declared after the graph: closed and deleted first
  TF_Output in_, out_;
  TensorMeta in_meta_;
  nlohmann::json effect_;
  StatusPtr status_;
  TensorPtr input_;
  const float* bound_data_ = nullptr;
  bool input_copied_ = false;  // TensorFlow holds a copy of the bound buffer
  std::vector<int64_t> bound_shape_;
  std::vector<int64_t> out_shape_;
};

// ---------------------------------------------------------------- backend

class TensorFlowBackend : public Backend {
 public:
  // The library, opened once per process (static registries, oneDNN's CPU detection).
  void start() override { tf(); }

  BackendInfo info() const override {
    BackendInfo b = cpu_backend_info(
        kName, INFERMARK_TF_VERSION);  // the wheel built against; the library's own below
    // bf16 through oneDNN's graph rewrite, which TensorFlow applies where oneDNN is on (its
    // default on CPUs with AVX512_BF16 or AMX) and the CPU computes bf16.
    const char* onednn = std::getenv("TF_ENABLE_ONEDNN_OPTS");
    if (cpu_has_bf16())
      if (onednn == nullptr || std::string(onednn) != "0")
        b.capabilities.precisions.push_back("bf16");
    // onnx2tf converts a free batch as well, into one SavedModel for every batch; given a fixed
    // batch of an NHWC image input it fetches sample images from the network to check itself.
    b.capabilities.fixed_batch_helps = false;
    // onnx2tf's conversion and the first session: cold loads of 6.8 s (ResNet-50), 8.1 s
    // (EfficientNet-B0), 15.1 s (VGG-19) on 2 cores (docs/backends.md).
    b.capabilities.compile_s = 6;
    b.capabilities.compile_s_per_gflop = 0.5;
    b.capabilities.no_kernel_profile =
        "TensorFlow's per-op step stats come back from TF_SessionRun as a serialized "
        "RunMetadata protobuf, which the plugin, linked to the C API alone, does not decode";
    std::error_code ec;
    try {
      b.version = tf().TF_Version();
      if (!fs::exists(INFERMARK_TF_PYTHON, ec) || !fs::exists(INFERMARK_TF_HELPER, ec)) {
        b.reason = std::string("conversion helper or its Python missing (") + INFERMARK_TF_PYTHON +
                   ", " + INFERMARK_TF_HELPER + "): run scripts/deps/tensorflow.sh";
      } else {
        b.available = true;
      }
    } catch (const Error& e) {
      b.reason = e.what();
    }
    b.settings = {
        bool_setting("xla", "false",
                     "compile the whole graph with XLA (jit_compile) at the first run of each "
                     "input shape; default false: TensorFlow's own default, and on CPU XLA "
                     "brought no speed in the paper while making loads about six times longer"),
        path_setting("cache_dir", default_cache_dir(kName),
                     "where the SavedModel converted from each ONNX model is kept so later "
                     "loads skip the conversion; \"off\" (or \"\") disables; default under "
                     "$XDG_CACHE_HOME or ~/.cache"),
    };
    add_two_pool_thread_settings(
        b.settings, "threads inside one operator (and XLA's compiled code)",
        "threads running independent operators (0 is TensorFlow's own default)");
    tune_values(b.settings, "xla", {"false", "true"});
    return b;
  }

  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    return load_or_error(kName, request.model, [&] { return load_impl(request); });
  }

 private:
  struct Converted {
    fs::path dir;
    nlohmann::json info;  // the helper's infermark.json
    double convert_ms = 0;
  };

  std::unique_ptr<Engine> load_impl(const LoadRequest& request) {
    const auto t0 = clock_type::now();
    const fs::path& model = request.model;
    const Settings& s = request.settings;
    const std::string where = model_file_context(kName, model);
    std::error_code ec;

    const bool xla = setting_bool(s, "xla");
    if (request.precision != "fp32" && request.precision != "bf16")
      throw Unsupported(where + "precision " + request.precision + " is not offered (fp32, bf16)");
    if (request.precision == "bf16" && xla)
      throw Unsupported(where +
                        "bf16 is oneDNN's graph rewrite (auto_mixed_precision_onednn_bfloat16), "
                        "which XLA's compiled function does not go through: bf16 runs with "
                        "xla=false");
    const auto [intra, threads_from] =
        resolve_threads(setting_int(s, "intra_op_threads"), request.threads);
    int inter = static_cast<int>(setting_int(s, "inter_op_threads"));
    if (inter == 0) inter = cores_available();

    // ---- the SavedModel: from the cache, or converted now
    const fs::path abs_model = fs::weakly_canonical(fs::absolute(model));
    const std::string stamp = file_stamp(abs_model);
    if (stamp.empty()) throw Error(where + "cannot stat file");
    // The conversion does not depend on xla, threads or batch (the SavedModel keeps the
    // model's free batch dimension and has both signatures): one entry per model file serves
    // them all. The helper's own text is in the key, so a changed conversion never reuses old
    // entries, and so is the helper's one environment variable (how many bytes of weights stay
    // constants; the tests change it).
    const char* budget = std::getenv("INFERMARK_TF_CONSTANT_BUDGET");
    const std::string key =
        stamp + "\n" + tf().TF_Version() + "\n" + INFERMARK_ONNX2TF_VERSION + "\n" +
        hash_hex(read_file(INFERMARK_TF_HELPER) +
                 read_file(fs::path(INFERMARK_TF_HELPER).parent_path().parent_path() /
                           "onnx_shapes.py")) +
        "\n" + cpu_identity() + (budget ? std::string("\nconstant budget ") + budget : "");
    CacheEntry cache = find_cache_entry(
        setting(s, "cache_dir"), abs_model, "", key, "",
        [](const fs::path& e) { return fs::is_regular_file(e / "infermark.json"); });
    std::string& cache_state = cache.state;
    std::string& cache_note = cache.note;
    fs::path entry = cache.path, private_dir;
    const std::string& entry_prefix = cache.prefix;

    std::unique_ptr<TensorFlowEngine> engine;
    if (cache_state == "hit") {
      try {
        engine = open(request, {entry, read_json(entry), 0}, xla, intra, inter);
      } catch (const Error& e) {
        // A damaged entry: convert again. A model that cannot be run fails again below.
        fs::remove_all(entry, ec);
        cache_state = "miss";
        cache_note = std::string("cached SavedModel was unusable, converted again: ") + e.what();
        std::fprintf(stderr, "tensorflow: %s\n", cache_note.c_str());
      }
    }
    if (!engine) {
      // Converted into a temporary folder (unique to this process and load) and renamed: an
      // interrupted conversion or a concurrent load never leaves a half-written entry under
      // the final name.
      const fs::path parent =
          cache_state == "miss" ? entry.parent_path() : fs::temp_directory_path();
      const fs::path tmp =
          parent / ((entry.empty() ? "infermark-tensorflow-" + hash_hex(model.string())
                                   : entry.filename().string()) +
                    ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++tmp_count_));
      fs::remove_all(tmp, ec);
      Converted c = convert(model, tmp, where);
      if (cache_state == "miss") {
        fs::rename(tmp, entry, ec);
        if (ec && fs::is_regular_file(entry / "infermark.json")) {
          fs::remove_all(tmp, ec);  // another process stored the same entry first
        } else if (ec) {
          cache_state = "error";
          cache_note = "cannot store " + entry.string() + ": " + ec.message();
          std::fprintf(stderr, "tensorflow: cache not used: %s\n", cache_note.c_str());
          entry = tmp;
          private_dir = tmp;
        } else {
          remove_stale_entries(entry, entry_prefix);
        }
      } else {
        entry = tmp;
        private_dir = tmp;  // no cache: the session holds the weights once loaded
      }
      c.dir = entry;
      try {
        engine = open(request, c, xla, intra, inter);
      } catch (...) {
        fs::remove_all(entry, ec);  // a model we cannot run leaves nothing in the cache
        throw;
      }
    }
    if (!private_dir.empty()) fs::remove_all(private_dir, ec);

    nlohmann::json& effect = engine->effect();
    effect["threads"] = intra;  // the intra-op pool, as set in the session's ConfigProto
    effect["threads_from"] = threads_from;
    effect["cache"] = cache_state;
    effect["cache_entry"] = private_dir.empty() ? entry.string() : "";
    if (!cache_note.empty()) effect["cache_note"] = cache_note;
    effect["load_ms"] = ms_since(t0);
    return engine;
  }

  static nlohmann::json read_json(const fs::path& dir) {
    try {
      return nlohmann::json::parse(read_file(dir / "infermark.json"));
    } catch (const nlohmann::json::exception& e) {
      throw Error("tensorflow: cannot read " + (dir / "infermark.json").string() + ": " + e.what());
    }
  }

  static Converted convert(const fs::path& model, const fs::path& out, const std::string& where) {
    const auto t0 = clock_type::now();
    const fs::path log = out.string() + ".log";
    const HelperResult r = run_helper(fs::absolute(model), out, log);
    std::error_code ec;
    fs::remove(log, ec);
    if (r.exit_status != 0) {
      fs::remove_all(out, ec);
      if (r.exit_status == kHelperUnsupported) throw Unsupported(where + r.reason);
      throw Error(where + "conversion to a SavedModel failed: " + r.reason);
    }
    return {out, read_json(out), ms_since(t0)};
  }

  // Loads the SavedModel into a new session, checks the interface and, for a fixed batch,
  // runs one batch of zeros so that what TensorFlow does at a first run (graph optimization,
  // XLA's compilation) is part of the load, as every other framework's compilation is.
  std::unique_ptr<TensorFlowEngine> open(const LoadRequest& request, const Converted& c, bool xla,
                                         int intra, int inter) {
    const std::string where = "tensorflow: cannot load '" + request.model.string() + "': ";
    const nlohmann::json& info = c.info;
    TensorMeta in = read_meta(info.at("input"));
    TensorMeta out = read_meta(info.at("output"));
    if (request.batch > 0 && in.dims.at(0) > 0 && in.dims[0] != request.batch) {
      throw Error(where + "batch " + std::to_string(request.batch) +
                  " requested, the model's input is fixed to " +
                  model_shape_string(in.dims, in.symbols));
    }
    const std::string signature = xla ? "serving_xla" : "serving_default";
    const nlohmann::json& names = info.at("signatures").at(signature);

    const auto t_session = clock_type::now();
    StatusPtr status(tf().TF_NewStatus());
    OptionsPtr options(tf().TF_NewSessionOptions());
    const bool bf16 = request.precision == "bf16";
    const std::string config = session_config(intra, inter, bf16);
    tf().TF_SetConfig(options.get(), config.data(), config.size(), status.get());
    if (tf().TF_GetCode(status.get()) != TF_OK) {
      throw Error(where + "session options refused: " + tf_message(status.get()));
    }
    GraphPtr graph(tf().TF_NewGraph());
    const char* tags[] = {"serve"};
    SessionPtr session(tf().TF_LoadSessionFromSavedModel(
        options.get(), nullptr, c.dir.c_str(), tags, 1, graph.get(), nullptr, status.get()));
    if (tf().TF_GetCode(status.get()) != TF_OK || !session) {
      throw Error(where + "cannot load the SavedModel " + c.dir.string() + ": " +
                  tf_message(status.get()));
    }
    const TF_Output feed = graph_output(graph.get(), names.at("input"));
    const TF_Output fetch = graph_output(graph.get(), names.at("output"));
    const double session_ms = ms_since(t_session);

    nlohmann::json effect = {
        {"version", tf().TF_Version()},
        {"onnx2tf", info.value("onnx2tf", "")},
        {"device", "cpu"},
        {"xla", xla},
        {"signature", signature},
        {"intra_op_threads", intra},
        {"inter_op_threads", inter},
        {"per_session_thread_pools", true},
        {"convert_ms", c.convert_ms},
        {"session_load_ms", session_ms},
        {"input",
         {{"name", in.name},
          {"shape", model_shape_string(in.dims, in.symbols)},
          {"tensor", names.at("input")}}},
        {"output",
         {{"name", out.name},
          {"shape", model_shape_string(out.dims, out.symbols)},
          {"tensor", names.at("output")}}},
    };

    if (request.batch > 0) {
      std::vector<int64_t> shape = in.dims;
      shape[0] = request.batch;
      const int64_t numel = Tensor{shape, {}}.numel();
      TensorPtr zeros(tf().TF_AllocateTensor(TF_FLOAT, shape.data(), static_cast<int>(shape.size()),
                                             static_cast<size_t>(numel) * sizeof(float)));
      std::memset(tf().TF_TensorData(zeros.get()), 0, tf().TF_TensorByteSize(zeros.get()));
      BufferPtr run_options(tf().TF_CreateRunOptions(1));  // full trace: which kernels ran
      BufferPtr metadata(tf().TF_NewBuffer());
      TF_Tensor* feed_tensor = zeros.get();
      TF_Tensor* result = nullptr;
      const auto t_first = clock_type::now();
      tf().TF_SessionRun(session.get(), run_options.get(), &feed, &feed_tensor, 1, &fetch, &result,
                         1, nullptr, 0, metadata.get(), status.get());
      TensorPtr owned(result);
      if (tf().TF_GetCode(status.get()) != TF_OK) {
        throw Error(where + "first run failed: " + tf_message(status.get()));
      }
      effect["first_run_ms"] = ms_since(t_first);
      // Verified, not assumed: with XLA the executor ran the compiled call and no convolution
      // of its own (every model of the zoo has convolutions).
      const ExecutorTrace trace = read_trace(metadata.get());
      effect["executor_conv_kernels"] = trace.conv_kernels;
      effect["executor_conv_ops"] = trace.conv_ops;
      effect["executor_onednn_kernels"] = trace.onednn_kernels;
      effect["executor_function_calls"] = trace.function_calls;
      effect["executor_casts"] = trace.casts;
      // bf16 verified, not assumed: the rewrite casts into and out of the bf16 regions.
      if (bf16 && trace.casts == 0)
        throw Error(where +
                    "bf16 asked, but TensorFlow's graph rewrite ran no bfloat16 cast (is oneDNN "
                    "off, TF_ENABLE_ONEDNN_OPTS=0?)");
      effect["precision_in_effect"] = bf16 ? "bf16" : "fp32";
      effect["xla_compiled"] = xla && trace.conv_kernels == 0 && trace.function_calls > 0;
      if (xla && trace.conv_kernels > 0) {
        throw Error(where + "xla=true but TensorFlow's executor ran " +
                    std::to_string(trace.conv_kernels) + " convolutions outside XLA");
      }
      if (xla && trace.function_calls == 0) {
        throw Error(where +
                    "xla=true but TensorFlow's executor ran no call of the compiled "
                    "function (the traced first run shows no XLA launch)");
      }
    } else {
      effect["first_run_ms"] = nullptr;  // dynamic batch: the first run() pays it
    }
    return std::make_unique<TensorFlowEngine>(std::move(graph), std::move(session), feed, fetch,
                                              std::move(in), std::move(effect));
  }

  std::atomic<int> tmp_count_{0};  // loads of this backend object that converted
};

}  // namespace
}  // namespace infermark

INFERMARK_BACKEND_PLUGIN(infermark::TensorFlowBackend)
