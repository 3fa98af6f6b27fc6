#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"

namespace infermark {

// Every framework this program knows, loaded as plugins on demand. Owns the loaded
// plugins; not a global, so that tests and several sweeps can each have their own.
class BackendRegistry {
 public:
  // plugin_dir: where libinfermark_backend_<name>.so live (default: the build's).
  explicit BackendRegistry(std::filesystem::path plugin_dir = default_plugin_dir());
  ~BackendRegistry();
  BackendRegistry(const BackendRegistry&) = delete;
  BackendRegistry& operator=(const BackendRegistry&) = delete;

  static std::filesystem::path default_plugin_dir();

  // Names of every known backend, in a fixed order.
  std::vector<std::string> known() const;

  // Info of every known backend, loading each plugin to ask it; a plugin that cannot be
  // loaded is listed as not available with the reason (never throws for that).
  std::vector<BackendInfo> list();

  // The backend, loaded and available. Throws Error: unknown name (lists the known ones),
  // or not available (says why).
  Backend& get(const std::string& name);

 private:
  struct Plugin;
  Plugin& plugin(const std::string& name);
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace infermark
