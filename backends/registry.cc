#include "backends/registry.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>
#include <sstream>

#include "backends/plugin.h"
#include "backends/settings.h"
#include "core/error.h"
// kKnownFrameworks, every framework of the study in report order: the entries of
// backends/frameworks.cmake, the one list of frameworks, written here by CMake. A backend is its
// folder under backends/, its install step under scripts/deps/ and one entry in that list.
#include "infermark/frameworks.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

// While it lives, file descriptors 1 and 2 (C stdio, C++ streams and a framework's own
// logging alike) write to an unlinked temporary file; take() puts them back and returns what
// was written. Does nothing when `on` is false or the descriptors cannot be redirected.
class OutputCapture {
 public:
  explicit OutputCapture(bool on) {
    if (!on) return;
    std::string name = (fs::temp_directory_path() / "infermark-framework-XXXXXX").string();
    file_ = mkostemp(name.data(), O_CLOEXEC);
    if (file_ < 0) return;
    unlink(name.c_str());
    std::fflush(nullptr);  // what the program wrote before stays on its terminal
    saved_out_ = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    saved_err_ = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (saved_out_ < 0 || saved_err_ < 0 || dup2(file_, STDOUT_FILENO) < 0 ||
        dup2(file_, STDERR_FILENO) < 0) {
      restore();
      close(file_);
      file_ = -1;
    }
  }
  ~OutputCapture() { take(); }
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // Restores stdout and stderr and returns what was written meanwhile (its last 64 KiB).
  std::string take() {
    if (file_ < 0) return "";
    std::fflush(nullptr);  // lines the framework left in stdio's buffers are part of it
    restore();
    constexpr off_t kMaxBytes = 64 << 10;
    const off_t size = lseek(file_, 0, SEEK_END);
    const off_t from = size > kMaxBytes ? size - kMaxBytes : 0;
    std::string text(static_cast<size_t>(std::max<off_t>(size - from, 0)), '\0');
    if (pread(file_, text.data(), text.size(), from) < 0) text.clear();
    close(file_);
    file_ = -1;
    return text;
  }

 private:
  void restore() {
    if (saved_out_ >= 0) {
      dup2(saved_out_, STDOUT_FILENO);
      close(saved_out_);
    }
    if (saved_err_ >= 0) {
      dup2(saved_err_, STDERR_FILENO);
      close(saved_err_);
    }
    saved_out_ = saved_err_ = -1;
  }
  int file_ = -1, saved_out_ = -1, saved_err_ = -1;
};

}  // namespace

// What the registry hands out: the plugin's backend behind the checks that every load needs
// (check_capabilities: a precision the framework offers here, engines side by side), so that no
// caller can have a plugin silently run what it does not offer.
class CheckedBackend final : public Backend {
 public:
  CheckedBackend(Backend& inner, const BackendInfo& info) : inner_(inner), info_(info) {}
  BackendInfo info() const override { return inner_.info(); }
  void start() override { inner_.start(); }
  std::unique_ptr<Engine> load(const LoadRequest& request) override {
    check_capabilities(info_, request.precision, request.concurrency);
    return inner_.load(request);
  }

 private:
  Backend& inner_;
  const BackendInfo& info_;
};

struct BackendRegistry::Plugin {
  std::string name;
  void* handle = nullptr;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Backend> checked;  // `backend` behind CheckedBackend, once described
  std::string reason;                // why not loaded
  std::optional<BackendInfo> info;
  std::string output;  // what the framework printed while loaded and described, if captured

  ~Plugin() {
    checked.reset();
    backend.reset();  // its code lives in the library: destroy before unloading
    // The library stays mapped (RTLD_NODELETE): an exception thrown by the framework may
    // outlive the registry while it propagates, and its type lives in the library.
    if (handle) dlclose(handle);
  }
};

BackendRegistry::BackendRegistry(std::vector<fs::path> plugin_dirs,
                                 FrameworkOutput framework_output)
    : dirs_(std::move(plugin_dirs)), framework_output_(framework_output) {
  const std::string prefix = "libinfermark_backend_";
  for (const auto& dir : dirs_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind(prefix, 0) != 0 || entry.path().extension() != ".so") continue;
      const std::string name = file.substr(prefix.size(), file.size() - prefix.size() - 3);
      const bool known = std::any_of(std::begin(kKnownFrameworks), std::end(kKnownFrameworks),
                                     [&](const KnownFramework& k) { return name == k.name; });
      if (!known && std::find(extra_.begin(), extra_.end(), name) == extra_.end())
        extra_.push_back(name);
    }
  }
  std::sort(extra_.begin(), extra_.end());
}
BackendRegistry::~BackendRegistry() = default;

std::vector<fs::path> BackendRegistry::default_plugin_dirs() {
  // Next to the program (build/infermark and build/backends/), else the configured one.
  std::vector<fs::path> dirs;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::is_directory(exe.parent_path() / "backends")) {
    dirs.push_back(exe.parent_path() / "backends");
  } else {
    dirs.push_back(INFERMARK_DEFAULT_PLUGIN_DIR);
  }
  if (const char* env = std::getenv("INFERMARK_PLUGIN_PATH")) {
    std::stringstream in(env);
    std::string dir;
    while (std::getline(in, dir, ':'))
      if (!dir.empty()) dirs.push_back(dir);
  }
  return dirs;
}

std::vector<std::string> BackendRegistry::known() const {
  std::vector<std::string> names;
  names.reserve(std::size(kKnownFrameworks) + extra_.size());
  for (const auto& k : kKnownFrameworks) names.push_back(k.name);
  names.insert(names.end(), extra_.begin(), extra_.end());
  return names;
}

BackendRegistry::Plugin& BackendRegistry::plugin(const std::string& name) {
  for (auto& p : plugins_)
    if (p->name == name) return *p;
  const std::vector<std::string> names = known();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("unknown backend '" + name + "' (known: " + list + ")");
  }
  std::string not_built = "its plugin is missing";
  for (const auto& k : kKnownFrameworks)
    if (name == k.name) not_built = k.not_built;
  auto p = std::make_unique<Plugin>();
  p->name = name;
  fs::path file;
  for (const auto& dir : dirs_)
    if (file.empty() && fs::exists(dir / ("libinfermark_backend_" + name + ".so")))
      file = dir / ("libinfermark_backend_" + name + ".so");
  OutputCapture capture(framework_output_ == FrameworkOutput::kCapture && !file.empty());
  if (file.empty()) {
    p->reason = std::string("not built: ") + not_built;
  } else if (void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) {
    p->handle = h;
    auto abi = reinterpret_cast<infermark_plugin_abi_fn>(dlsym(h, "infermark_plugin_abi"));
    auto create =
        reinterpret_cast<infermark_create_backend_fn>(dlsym(h, "infermark_create_backend"));
    if (!abi || !create) {
      p->reason = "plugin " + file.string() + " has no infermark entry point";
    } else if (abi() != INFERMARK_PLUGIN_ABI) {
      p->reason = "plugin " + file.string() + " was built for another infermark version (rebuild)";
    } else {
      try {
        p->backend.reset(create());
      } catch (const std::exception& e) {
        p->reason = std::string("the framework failed to initialize: ") + e.what();
      }
    }
  } else {
    // Typically "libonnxruntime.so.1: cannot open shared object file".
    p->reason = std::string("library not found: ") + dlerror();
  }
  p->output = capture.take();
  plugins_.push_back(std::move(p));
  return *plugins_.back();
}

const BackendInfo& BackendRegistry::describe(Plugin& p) {
  if (p.info) return *p.info;
  BackendInfo info;
  if (p.backend) {
    OutputCapture capture(framework_output_ == FrameworkOutput::kCapture);
    try {
      info = p.backend->info();
    } catch (const std::exception& e) {
      info.available = false;
      info.reason = std::string("the framework failed to describe itself: ") + e.what();
    }
    p.output += capture.take();
  } else {
    info.available = false;
    info.reason = p.reason;
  }
  info.name = p.name;
  p.info = std::move(info);
  return *p.info;
}

std::vector<BackendInfo> BackendRegistry::list() {
  std::vector<BackendInfo> out;
  for (const auto& name : known()) out.push_back(describe(plugin(name)));
  return out;
}

Backend& BackendRegistry::get(const std::string& name) {
  Plugin& p = plugin(name);
  if (!p.backend) throw Error("backend '" + name + "' is not available: " + p.reason);
  const BackendInfo& info = describe(p);
  if (!info.available) throw Error("backend '" + name + "' is not available: " + info.reason);
  if (!p.checked) p.checked = std::make_unique<CheckedBackend>(*p.backend, info);
  return *p.checked;
}

const BackendInfo& BackendRegistry::info(const std::string& name) {
  get(name);
  return *plugin(name).info;
}

std::string BackendRegistry::output(const std::string& name) {
  for (const auto& p : plugins_)
    if (p->name == name) return p->output;
  return "";
}

}  // namespace infermark
