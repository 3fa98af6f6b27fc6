#include "verify/isolated.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <new>

#include "backends/registry.h"
#include "core/child_process.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/text.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

// SIGINT and SIGTERM stop the child (its own process group, so Ctrl-C reaches only us), then
// the command; the handlers in place before are back afterwards.
class InterruptWatch {
 public:
  InterruptWatch() {
    g_interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptWatch() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// A private folder for the job's files (0700, a name no one else can take).
class TempDir {
 public:
  TempDir() {
    std::string name = (fs::temp_directory_path() / "infermark-run-XXXXXX").string();
    if (!mkdtemp(name.data())) throw Error("cannot create a temporary folder in " + name);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const char* mode_name(IsolatedJob::Mode m) {
  switch (m) {
    case IsolatedJob::Mode::kTwice:
      return "twice";
    case IsolatedJob::Mode::kInBatches:
      return "in_batches";
    case IsolatedJob::Mode::kProfile:
      return "profile";
  }
  return "twice";
}

std::string read_text(const fs::path& file, size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  std::string s(max_bytes, '\0');
  in.read(s.data(), static_cast<std::streamsize>(max_bytes));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string during(const std::string& phase) {
  if (phase == "loading") return " while loading the model";
  if (phase == "running") return " while running the model";
  return phase.empty() ? "" : " while " + phase;
}

// The images through one engine in batches of `batch`.
Tensor run_in_batches(Engine& engine, const Tensor& images, int64_t batch) {
  const int64_t n = images.shape[0];
  const int64_t per_image = images.numel() / n;
  Tensor all, chunk, out;
  std::vector<int64_t> shape = images.shape;
  shape[0] = batch;
  chunk.resize(shape);
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t count = std::min(batch, n - first);
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t src = first + (i < count ? i : 0);
      std::copy_n(images.data.begin() + src * per_image, per_image,
                  chunk.data.begin() + i * per_image);
    }
    engine.run(view(chunk), out);
    const int64_t classes = out.numel() / batch;
    if (all.shape.empty()) all.resize({n, classes});
    std::copy_n(out.data.begin(), count * classes, all.data.begin() + first * classes);
  }
  return all;
}

// Explain's runs: the plain engine's, then the profiled one's, each after its warm-up. One
// after the other, the plain engine unloaded first: two engines of one framework in a process
// share its cores, and one's thread pool still spinning after its run (ONNX Runtime's, by
// default) slows the other's run down.
Tensor run_profiled(Backend& backend, const LoadRequest& plain_request,
                    std::unique_ptr<Engine> plain, const Tensor& input, int warmup, int runs,
                    json& outcome) {
  Tensor output, scratch;
  const auto timed_runs = [&](Engine& e, Tensor& out) {
    for (int i = 0; i < warmup; ++i) e.run(view(input), out);
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      e.run(view(input), out);
      ms.push_back(ms_since(t0));
    }
    return ms;
  };
  outcome["plain_ms"] = timed_runs(*plain, output);
  outcome["settings_in_effect"] = plain->settings_in_effect();
  plain.reset();
  LoadRequest request = plain_request;
  request.profile = true;
  request.profile_skip_runs = warmup;
  const std::unique_ptr<Engine> profiled = backend.load(request);
  outcome["profiled_ms"] = timed_runs(*profiled, scratch);
  outcome["profile"] = profiled->kernel_profile();
  return output;
}

}  // namespace

IsolatedOutcome run_isolated(const IsolatedJob& job, const Tensor& input) {
  const TempDir dir;
  const json spec = {{"backend", job.backend},
                     {"model", job.load.model.string()},
                     {"settings", job.load.settings},
                     {"threads", job.load.threads},
                     {"batch", job.load.batch},
                     {"concurrency", job.load.concurrency},
                     {"precision", job.load.precision},
                     {"mode", mode_name(job.mode)},
                     {"runs", job.runs},
                     {"warmup", job.warmup}};
  // CBOR, not JSON text: its strings carry any bytes, so that a path that is not UTF-8 (the
  // model's, a setting's) reaches the framework as it is; JSON's writer refuses such a string.
  const std::vector<std::uint8_t> job_bytes = json::to_cbor(spec);
  std::ofstream(dir.path() / "job.cbor", std::ios::binary)
      .write(reinterpret_cast<const char*>(job_bytes.data()),
             static_cast<std::streamsize>(job_bytes.size()));
  save_npy(input, dir.path() / "input.npy");
  const fs::path program = fs::read_symlink("/proc/self/exe");

  ChildOutcome child;
  {
    const InterruptWatch watch;
    child = run_child({program.string(), "_run", dir.path().string()}, job.timeout_s,
                      job.memory_limit_bytes, g_interrupted);
  }
  IsolatedOutcome o;
  o.peak_rss_bytes = child.peak_rss_bytes;
  o.wall_s = child.wall_s;
  o.phase = valid_utf8(read_text(dir.path() / "phase", 64));
  if (o.phase.empty()) o.phase = "starting";
  const json said = [&] {
    std::ifstream in(dir.path() / "outcome.json");
    return in ? json::parse(in, nullptr, false) : json();
  }();
  using K = ChildOutcome::Kind;
  if (child.kind == K::kExited && said.is_object() && said.contains("status")) {
    o.status = said.value("status", "error");
    o.reason = valid_utf8(said.value("reason", ""));
    o.load_ms = said.value("load_ms", 0.0);
    o.first_run_ms = said.value("first_run_ms", 0.0);
    o.second_run_ms = said.value("second_run_ms", 0.0);
    o.settings_in_effect = said.value("settings_in_effect", json::object());
    if (o.ok()) o.output = load_npy(dir.path() / "output.npy");
    if (o.ok() && job.mode == IsolatedJob::Mode::kProfile) {
      o.plain_ms = said.at("plain_ms").get<std::vector<double>>();
      o.profiled_ms = said.at("profiled_ms").get<std::vector<double>>();
      o.profile = said.at("profile").get<KernelProfile>();
      for (auto& k : o.profile.kernels) {  // the framework's names, as hostile as its output
        k.name = valid_utf8(k.name);
        k.kind = valid_utf8(k.kind);
        for (auto& n : k.nodes) n = valid_utf8(n);
      }
    }
  } else {
    switch (child.kind) {
      case K::kInterrupted:
        o.status = "interrupted";
        o.reason = "interrupted" + during(o.phase);
        break;
      case K::kTimedOut:
        o.status = "timeout";
        o.reason = "timed out after " + std::to_string(static_cast<int>(job.timeout_s)) + " s" +
                   during(o.phase);
        break;
      case K::kMemoryExceeded:
        o.status = "oom";
        o.reason = "resident memory passed the limit (" +
                   std::to_string(job.memory_limit_bytes >> 20) + " MiB)" + during(o.phase);
        break;
      case K::kSignaled:
        o.status = child.signal == SIGKILL ? "oom" : "crash";
        o.reason = child.signal == SIGKILL
                       ? "killed (SIGKILL, most likely the kernel's out-of-memory killer)" +
                             during(o.phase)
                       : "crashed (" + signal_name(child.signal) + during(o.phase) + ")";
        break;
      case K::kExited:
        o.status = "crash";
        o.reason = "crashed (exit code " + std::to_string(child.exit_code) + " without an answer" +
                   during(o.phase) + ")";
        break;
    }
  }
  if (!o.ok()) o.output_tail = child.output_tail;
  return o;
}

int run_isolated_child(const fs::path& dir) {
  const auto phase = [&](const char* what) { std::ofstream(dir / "phase") << what; };
  json outcome = {{"status", "ok"}};
  const auto write_outcome = [&] {
    // The outcome last and whole: the parent reads a missing file as a crash.
    std::ofstream(dir / "outcome.json.tmp")
        << outcome.dump(-1, ' ', false, json::error_handler_t::replace);
    fs::rename(dir / "outcome.json.tmp", dir / "outcome.json");
  };
  try {
    std::ifstream in(dir / "job.cbor", std::ios::binary);
    const json spec = json::from_cbor(in);
    const Tensor input = load_npy(dir / "input.npy");
    phase("loading");
    // The framework's chatter goes where this process's output goes: the parent's log of it.
    BackendRegistry registry(BackendRegistry::default_plugin_dirs(),
                             BackendRegistry::FrameworkOutput::kPassThrough);
    Backend& backend = registry.get(spec.at("backend").get<std::string>());
    LoadRequest request;
    request.model = spec.at("model").get<std::string>();
    request.settings = spec.at("settings").get<Settings>();
    request.threads = spec.at("threads").get<int>();
    request.batch = spec.at("batch").get<int64_t>();
    request.concurrency = spec.at("concurrency").get<int>();
    request.precision = spec.at("precision").get<std::string>();
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Engine> engine = backend.load(request);
    outcome["load_ms"] = ms_since(t0);
    phase("running");
    Tensor output;
    if (spec.at("mode") == "profile") {
      // The plain engine is unloaded there, its settings in effect recorded first.
      output = run_profiled(backend, request, std::move(engine), input,
                            spec.at("warmup").get<int>(), spec.at("runs").get<int>(), outcome);
    } else if (spec.at("mode") == "in_batches") {
      output = run_in_batches(*engine, input, std::max<int64_t>(1, request.batch));
    } else {
      t0 = std::chrono::steady_clock::now();
      engine->run(view(input), output);
      outcome["first_run_ms"] = ms_since(t0);
      t0 = std::chrono::steady_clock::now();
      engine->run(view(input), output);
      outcome["second_run_ms"] = ms_since(t0);
    }
    if (engine) outcome["settings_in_effect"] = engine->settings_in_effect();
    phase("writing");
    save_npy(output, dir / "output.npy");
  } catch (const Unsupported& e) {
    outcome = {{"status", "unsupported"}, {"reason", valid_utf8(e.what())}};
  } catch (const std::bad_alloc&) {
    outcome = {{"status", "oom"}, {"reason", "out of memory (an allocation failed)"}};
  } catch (const std::exception& e) {
    outcome = {{"status", "error"}, {"reason", valid_utf8(e.what())}};
  }
  write_outcome();
  return 0;
}

}  // namespace infermark
