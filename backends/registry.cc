#include "backends/registry.h"

#include <dlfcn.h>
#include <unistd.h>

#include <array>

#include "backends/plugin.h"
#include "core/error.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

struct Known {
  const char* name;
  const char* framework;
  const char* not_built;  // why a build may lack it
};

// Every framework of the study, in report order. A backend is one folder under backends/
// and one line here.
constexpr std::array<Known, 2> kKnown = {{
    {"onnxruntime", "ONNX Runtime",
     "the onnxruntime SDK was not found when the build was configured (make build installs it)"},
    {"openvino", "OpenVINO",
     "the OpenVINO SDK was not found when the build was configured (make build installs it)"},
}};

}  // namespace

struct BackendRegistry::Plugin {
  std::string name;
  void* handle = nullptr;
  std::unique_ptr<Backend> backend;
  std::string reason;  // why not loaded
  bool tried = false;

  ~Plugin() {
    backend.reset();  // its code lives in the library: destroy before unloading
    if (handle) dlclose(handle);
  }
};

BackendRegistry::BackendRegistry(fs::path plugin_dir) : dir_(std::move(plugin_dir)) {}
BackendRegistry::~BackendRegistry() = default;

fs::path BackendRegistry::default_plugin_dir() {
  if (const char* env = std::getenv("INFERMARK_PLUGIN_DIR")) return env;
  // Next to the program (build/infermark and build/backends/), else the configured one.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::is_directory(exe.parent_path() / "backends")) return exe.parent_path() / "backends";
  return INFERMARK_DEFAULT_PLUGIN_DIR;
}

std::vector<std::string> BackendRegistry::known() const {
  std::vector<std::string> names;
  for (const auto& k : kKnown) names.push_back(k.name);
  return names;
}

BackendRegistry::Plugin& BackendRegistry::plugin(const std::string& name) {
  for (auto& p : plugins_)
    if (p->name == name) return *p;
  const Known* known = nullptr;
  for (const auto& k : kKnown)
    if (name == k.name) known = &k;
  if (!known) {
    std::string list;
    for (const auto& k : kKnown) list += (list.empty() ? "" : ", ") + std::string(k.name);
    throw Error("unknown backend '" + name + "' (known: " + list + ")");
  }
  auto p = std::make_unique<Plugin>();
  p->name = name;
  const fs::path file = dir_ / ("libinfermark_backend_" + name + ".so");
  if (!fs::exists(file)) {
    p->reason = std::string("not built: ") + known->not_built;
  } else if (void* h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL)) {
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
  plugins_.push_back(std::move(p));
  return *plugins_.back();
}

std::vector<BackendInfo> BackendRegistry::list() {
  std::vector<BackendInfo> out;
  for (const auto& k : kKnown) {
    Plugin& p = plugin(k.name);
    BackendInfo info;
    if (p.backend) {
      try {
        info = p.backend->info();
      } catch (const std::exception& e) {
        info.available = false;
        info.reason = std::string("the framework failed to describe itself: ") + e.what();
      }
    } else {
      info.available = false;
      info.reason = p.reason;
    }
    info.name = k.name;
    out.push_back(std::move(info));
  }
  return out;
}

Backend& BackendRegistry::get(const std::string& name) {
  Plugin& p = plugin(name);
  if (!p.backend) throw Error("backend '" + name + "' is not available: " + p.reason);
  const BackendInfo info = p.backend->info();
  if (!info.available) throw Error("backend '" + name + "' is not available: " + info.reason);
  return *p.backend;
}

}  // namespace infermark
