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
  // Folders holding libinfermark_backend_<name>.so, searched in order (default: the build's,
  // then those of $INFERMARK_PLUGIN_PATH, colon-separated). A plugin found there whose name
  // is not one of the study's frameworks is listed after them (tests add fakes this way).
  explicit BackendRegistry(std::vector<std::filesystem::path> plugin_dirs = default_plugin_dirs());
  ~BackendRegistry();
  BackendRegistry(const BackendRegistry&) = delete;
  BackendRegistry& operator=(const BackendRegistry&) = delete;

  static std::vector<std::filesystem::path> default_plugin_dirs();

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
  std::vector<std::filesystem::path> dirs_;
  std::vector<std::string> extra_;  // plugins found in the folders beyond the known ones
  std::vector<std::unique_ptr<Plugin>> plugins_;
};

}  // namespace infermark
